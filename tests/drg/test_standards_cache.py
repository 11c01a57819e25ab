"""The compiled standards cached on disk (yibao.drg.stdcache): reused across processes, keyed by content."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import yibao.drg.standards as standards
from yibao.drg import stdcache
from yibao.drg.standards import load_standards

from .helpers import write_mini


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv(stdcache.CACHE_ENV, str(d))
    monkeypatch.setattr(standards, "_CACHE", {})  # the in-process cache would hide the disk
    return d / "drg-standards"


def _fresh_process(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Forget the in-process cache and count the builds from files from now on."""
    standards._CACHE.clear()
    built: list[int] = []
    real = standards.standards_from_files

    def counting(files, source=""):
        built.append(1)
        return real(files, source=source)

    monkeypatch.setattr(standards, "standards_from_files", counting)
    return built


def test_second_process_reads_the_compiled_entry(tmp_path: Path, cache: Path, monkeypatch) -> None:
    d = write_mini(tmp_path / "std")
    first = load_standards(d)
    entries = list(cache.glob("*.pickle"))
    assert len(entries) == 1 and entries[0].stat().st_mode & 0o777 == 0o600
    built = _fresh_process(monkeypatch)
    second = load_standards(d)
    assert built == []  # not rebuilt: read from disk
    assert second is not first and second.version == first.version
    assert second.drg_names == first.drg_names and second.drg_names["AA19"] == "心脏移植"
    assert set(second.tables()) == set(first.tables())
    for name, t in first.tables().items():
        assert second.tables()[name].equals(t), name


def test_changed_table_is_not_served_from_the_cache(tmp_path: Path, cache: Path, monkeypatch) -> None:
    from yibao.drg.mini import FILES

    d = write_mini(tmp_path / "std")
    before = load_standards(d)
    assert before.drg_names["AA19"] == "心脏移植"
    write_mini(d, drgs_csv=FILES["drgs.csv"].replace("AA19,心脏移植", "AA19,心脏移植（改）"))
    built = _fresh_process(monkeypatch)
    after = load_standards(d)
    assert built == [1]  # the content changed: built again from the files
    assert after.drg_names["AA19"] == "心脏移植（改）" and after.version != before.version
    assert len(list(cache.glob("*.pickle"))) == 2
    # and the unchanged content is still a hit after switching back
    write_mini(d)
    built2 = _fresh_process(monkeypatch)
    assert load_standards(d).drg_names["AA19"] == "心脏移植" and built2 == []


def test_entry_writable_by_others_is_not_read(tmp_path: Path, cache: Path, monkeypatch) -> None:
    d = write_mini(tmp_path / "std")
    load_standards(d)
    (entry,) = cache.glob("*.pickle")
    os.chmod(entry, 0o666)
    built = _fresh_process(monkeypatch)
    load_standards(d)
    assert built == [1]


def test_damaged_entry_is_rebuilt(tmp_path: Path, cache: Path, monkeypatch) -> None:
    d = write_mini(tmp_path / "std")
    load_standards(d)
    (entry,) = cache.glob("*.pickle")
    entry.write_bytes(b"not a pickle")
    built = _fresh_process(monkeypatch)
    assert load_standards(d).drg_names["AA19"] == "心脏移植" and built == [1]


def test_cache_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(stdcache.CACHE_ENV, "off")
    monkeypatch.setattr(standards, "_CACHE", {})
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    load_standards(write_mini(tmp_path / "std"))
    assert stdcache.cache_dir() is None and not (tmp_path / "home").exists()
