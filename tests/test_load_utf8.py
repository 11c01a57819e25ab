"""The UTF-8 check of a CSV file (Arrow's validator, Python's strict decoder only to locate an error) refuses
exactly what Python's strict decoder refuses, with the same byte offset."""
from __future__ import annotations

from pathlib import Path

import pytest

import yibao.contract.readers as readers

BAD = {
    "surrogate": b"\xed\xa0\x80",
    "overlong": b"\xc0\xaf",
    "above_max": b"\xf4\x90\x80\x80",
    "lone_continuation": b"\x80",
    "truncated": b"\xe4\xb8",
}


def python_first_bad(data: bytes) -> int | None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return None


@pytest.mark.parametrize("name", sorted(BAD))
def test_invalid_utf8_found_at_the_same_offset(name: str, tmp_path: Path) -> None:
    data = "case_id,名称\nA1,一般诊疗费\n".encode() + b"A2," + BAD[name] + b"\nA3,x\n"
    p = tmp_path / "t.csv"
    p.write_bytes(data)
    assert readers._utf8_valid(p) is False
    assert readers._first_undecodable(p, "utf-8") == (python_first_bad(data), data[python_first_bad(data)])


def test_valid_utf8_across_pieces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pieces of 7 bytes: every multi-byte character still lies in one piece (cut after a line end)."""
    monkeypatch.setattr(readers, "_CHUNK", 7)
    data = "".join(f"费用{i},𠀀项目\n" for i in range(50)).encode() + "末行无换行：诊疗".encode()
    p = tmp_path / "t.csv"
    p.write_bytes(data)
    assert readers._utf8_valid(p) is True and readers._first_undecodable(p, "utf-8") is None
    p.write_bytes(data[:-1])  # the last character cut short
    assert readers._first_undecodable(p, "utf-8") == (len(data) - 3, data[len(data) - 3])
