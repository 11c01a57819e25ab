"""The compiled CHS-DRG standards kept on disk between processes, keyed by the tables' content hash.

Reading, validating and compiling a standards directory (about 30 000 codes in 16 tables) takes about a second;
``yibao group drg`` on a file pays it in every process. The loaded :class:`~yibao.drg.standards.Standards`, its
compiled lookup tables included, is pickled once into the user's cache directory under a key made of

- the SHA-256 of every standards file's name, size and bytes (the ``version`` the standards report),
- the directory they were read from (messages and results name it), and
- the SHA-256 of the source of the modules that build it (``standards``, ``compile``, ``conditions``), so a new
  yibao never reads an entry an older one wrote.

A changed table (any byte) gives a new key: the old entry is never read again (the oldest beyond
:data:`MAX_ENTRIES` are removed). The files are read
and hashed on every call (milliseconds); only the parsing, validation and compilation are saved.

Where: ``$YIBAO_CACHE_DIR`` or ``$XDG_CACHE_HOME/yibao`` or ``~/.cache/yibao``, subdirectory ``drg-standards``,
created ``0700``. ``YIBAO_CACHE_DIR=off`` disables the cache. An entry is read only if it is a regular file owned
by this user and not writable by anyone else (a pickle runs code when read: nobody else may have put it there);
a cache that cannot be written or read is skipped silently: the standards are then built as without it.
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import stat
import tempfile
from pathlib import Path

CACHE_ENV = "YIBAO_CACHE_DIR"
_SUBDIR = "drg-standards"
_BUILDERS = ("standards.py", "compile.py", "conditions.py")


def cache_dir() -> Path | None:
    """The directory of cached standards, or None when the cache is off."""
    base = os.environ.get(CACHE_ENV)
    if base is not None and base.strip().lower() in ("", "0", "off", "no", "false"):
        return None
    if base:
        root = Path(base)
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "yibao"
    return root / _SUBDIR


_CODE_HASH: list[str] = []


def _code_hash() -> str:
    if not _CODE_HASH:
        h = hashlib.sha256()
        here = Path(__file__).parent
        for name in _BUILDERS:
            h.update(name.encode() + b"\n" + (here / name).read_bytes())
        _CODE_HASH.append(h.hexdigest())
    return _CODE_HASH[0]


def cache_key(version: str, source: str) -> str:
    """The entry's name for standards whose content hash is ``version``, read from ``source``."""
    return hashlib.sha256(f"{version}\n{source}\n{_code_hash()}".encode()).hexdigest()[:32]


def _safe(path: Path) -> bool:
    try:
        st = path.lstat()
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022


def get(version: str, source: str):
    """The cached standards of content ``version`` read from ``source``, or None."""
    d = cache_dir()
    if d is None:
        return None
    path = d / f"{cache_key(version, source)}.pickle"
    if not _safe(path) or not _safe_dir(d):
        return None
    collecting = gc.isenabled()
    gc.disable()  # (hundreds of thousands of objects: the cyclic collector would run over them again and again)
    try:
        with path.open("rb") as f:
            std = pickle.load(f)
    except Exception:  # noqa: BLE001 - a damaged entry is rebuilt, never an error
        return None
    finally:
        if collecting:
            gc.enable()
    return std if getattr(std, "version", None) == version and getattr(std, "source", None) == source else None


def _safe_dir(d: Path) -> bool:
    try:
        st = d.lstat()
    except OSError:
        return False
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def put(std) -> Path | None:
    """Write ``std`` (compiled tables included) as the entry of its version; the entries of other versions of
    the same builder code are kept (several standards directories in use), at most :data:`MAX_ENTRIES`."""
    d = cache_dir()
    if d is None:
        return None
    try:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not _safe_dir(d):
            return None
        std.tables()  # compiled now, so the entry saves that step too
        path = d / f"{cache_key(std.version, std.source)}.pickle"
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=".pickle")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(std, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _prune(d, keep=path)
        return path
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        return None


MAX_ENTRIES = 8


def _prune(d: Path, keep: Path) -> None:
    entries = sorted((p for p in d.glob("*.pickle") if p != keep), key=lambda p: p.stat().st_mtime, reverse=True)
    for p in entries[MAX_ENTRIES - 1:]:
        p.unlink(missing_ok=True)
