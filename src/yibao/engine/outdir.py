"""Output directories (输出目录) that appear whole or not at all, and output file names that stay inside them.

A command with ``--out DIR`` writes everything into a fresh temporary directory beside ``DIR``
(``.DIR.yibao-new-<pid>-<token>``), adds ``manifest.json`` (every file with its size and sha256,
the inputs with their sha256, the workspace and its last load, the options, the yibao version, the
command) and only then puts the directory in place:

- no ``DIR`` yet: one ``rename``;
- an earlier output in ``DIR``: on Linux one ``renameat2(RENAME_EXCHANGE)`` swaps the two
  directories atomically and the old one (now at the temporary name) is removed; where the
  exchange is not available the old one is renamed to ``.DIR.yibao-old-<pid>-<token>``, the new
  one to ``DIR``, and the backup removed — between those two renames (microseconds) ``DIR`` does
  not exist; a crash exactly there leaves the complete old output in the backup, which the next
  run puts back before it starts.

So a crash, ``kill -9`` or Ctrl-C at any moment leaves either the complete old output (its
manifest matches its files) or no ``DIR`` or the complete new one — never a mix, never a
cut-short file; on any exception the temporary directory is removed and the old output stays.
Re-running replaces the directory whole: no file of an earlier run survives. Leftovers of a run
that was killed (temporary or backup directories whose process is gone) are removed when the next
run into the same ``DIR`` starts.

Only a directory that is empty or holds a yibao ``manifest.json`` is ever replaced; any other
non-empty directory (``--out ~``, a data directory, a workspace) is refused with one line
(:class:`~yibao.contract.errors.BadOption`, exit 2) before anything is written.

A command whose output is one file writes it with :func:`atomic_file`: a temporary file in the
same directory renamed over the target at the end.

:func:`safe_name` builds a file name from a value that comes from data (an institution code, a
name) and :func:`inside` asserts that the resolved path stays in the output directory, so a code
such as ``../../../x`` or ``/etc/x`` can never place a file outside ``--out``.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import unicodedata
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

import duckdb

from yibao import __version__
from yibao.contract.errors import BadOption
from yibao.engine.wslock import pid_alive

MANIFEST = "manifest.json"
FORMAT = "yibao-output/1"  # the manifest's ``format``: what marks a directory as a yibao output
_NEW, _OLD = "yibao-new", "yibao-old"
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?P<kind>yibao-new|yibao-old)-(?P<pid>\d+)-[0-9a-f]+(?P<file>\.tmp)?$")


# --- file names from data ---------------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^\w\-.（）]", re.UNICODE)  # \w: letters (Chinese included), digits and _
MAX_NAME = 120


def safe_name(value: object) -> str:
    """A file name made from ``value``: keeps Chinese and other letters, digits, ``-_.`` and ``（）``, replaces anything
    else (``/``, ``\\``, spaces, control characters …) with ``_``; never empty, never ``.`` or ``..``, never
    starting with a dot (no hidden files), at most 120 characters."""
    text = unicodedata.normalize("NFC", "" if value is None else str(value))
    text = _UNSAFE.sub("_", text)
    text = text.lstrip(".")  # "..", ".x" and "../" (now ".._") lose their leading dots
    text = text[:MAX_NAME]
    return text if text.strip("._") else "_"


def safe_id(value: object) -> str:
    """:func:`safe_name` of a code that names one file among many (an institution's statement): when the code had to
    be changed, 8 hex digits of its sha256 are appended, so two codes never share a file (``a/b`` and ``a_b``)."""
    text = "" if value is None else str(value)
    name = safe_name(text)
    if name == text:
        return name
    return f"{name[:MAX_NAME - 9]}_{hashlib.sha256(text.encode('utf-8')).hexdigest()[:8]}"


def inside(directory: Path, path: Path) -> Path:
    """``path`` if, resolved, it lies inside ``directory``; otherwise an error (a bug: names come from
    :func:`safe_name`)."""
    d = Path(directory).resolve()
    p = Path(path).resolve()
    if p != d and d not in p.parents:
        raise BadOption(f"{path}: 输出文件不在输出目录 {directory} 内，已拒绝写入")
    return Path(path)


def safe_path(directory: Path, *names: object, suffix: str = "") -> Path:
    """``directory / safe_name(n1) / … `` (``suffix`` added to the last part), checked to be inside."""
    parts = [safe_name(n) for n in names]
    if parts:
        parts[-1] += suffix
    return inside(directory, Path(directory).joinpath(*parts))


# --- hashing ----------------------------------------------------------------------------------------------------

def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(directory: Path) -> list[Path]:
    return sorted((p for p in Path(directory).rglob("*") if p.is_file() and not p.is_symlink()),
                  key=lambda p: p.relative_to(directory).as_posix())


def file_list(directory: Path, skip: tuple[str, ...] = (MANIFEST,), limit: int | None = None) -> list[dict]:
    """Every file under ``directory`` (relative POSIX path, size, sha256), sorted, without ``skip`` (the first
    ``limit`` files when given)."""
    out = []
    for p in _files(directory)[:limit]:
        rel = p.relative_to(directory).as_posix()
        if rel in skip:
            continue
        out.append({"path": rel, "size": p.stat().st_size, "sha256": sha256_file(p)})
    return out


def describe_input(path: Path) -> dict:
    """An input path for the manifest: a file with its size and sha256; a directory by its yibao manifest's sha256
    (which covers its files) or else by its files; a path that does not exist as such."""
    path = Path(path)
    d: dict[str, Any] = {"path": str(path.resolve()) if path.exists() else str(path)}
    if path.is_file():
        d.update(kind="file", size=path.stat().st_size, sha256=sha256_file(path))
    elif path.is_dir():
        d["kind"] = "directory"
        mf = path / MANIFEST
        if mf.is_file():
            d["manifest_sha256"] = sha256_file(mf)
        else:
            d["files"] = file_list(path, skip=(), limit=1000)
    else:
        d["kind"] = "missing"
    return d


def describe_workspace(path: Path) -> dict:
    """The workspace for the manifest: its path and its last load (``load_id``, when, by which yibao), read from
    its ``loads`` table; only the path when the database cannot be opened (absent, locked)."""
    path = Path(path)
    d: dict[str, Any] = {"path": str(path.resolve()) if path.exists() else str(path)}
    db = path / "yibao.duckdb"
    if not db.is_file():
        return d
    try:
        con = duckdb.connect(str(db), read_only=True)
        try:
            n, last = con.execute("SELECT count(*), max(load_id) FROM loads").fetchall()[0]
            d.update(loads=n, last_load_id=last)
            if last is not None:
                src, fin = con.execute("SELECT source_dir, CAST(finished_at AS VARCHAR) FROM loads WHERE load_id = ?",
                                       [last]).fetchall()[0]
                d.update(last_load_source=src, last_load_finished_at=fin)
        finally:
            con.close()
    except Exception as exc:  # locked by another process, an old layout: the path alone still identifies it
        d["unreadable"] = type(exc).__name__
    return d


def _jsonable(v: object) -> object:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return str(v)


# --- the target and its leftovers ---------------------------------------------------------------------------------

def _alive(pid: int) -> bool:
    return pid == os.getpid() or pid_alive(pid)


def is_yibao_output(directory: Path) -> bool:
    """True when ``directory`` holds a ``manifest.json`` written by yibao (an output of this module, or a DIP
    catalogue's manifest of an earlier version)."""
    mf = Path(directory) / MANIFEST
    if not mf.is_file():
        return False
    try:
        m = json.loads(mf.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(m, dict):
        return False
    return m.get("format") == FORMAT or str(m.get("version", "")).startswith("DIP-")


def clean_leftovers(target: Path) -> None:
    """Remove what a killed run into ``target`` left beside it; put back a backup when ``target`` is missing."""
    parent = target.parent
    if not parent.is_dir():
        return
    backups = []
    for p in parent.iterdir():
        m = _LEFTOVER.match(p.name)
        if not m or m["name"] != target.name or _alive(int(m["pid"])):
            continue
        if m["kind"] == _OLD and p.is_dir() and not m["file"]:
            backups.append(p)
        elif p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    for b in sorted(backups, key=lambda p: p.stat().st_mtime, reverse=True):
        if not target.exists() and not target.is_symlink():
            os.rename(b, target)  # the run died between its two renames: the complete old output comes back
        else:
            shutil.rmtree(b, ignore_errors=True)


def check_target(target: Path) -> Path:
    """The absolute target directory if yibao may (re)place it: absent, empty or a yibao output. Refuses
    anything else with one line (exit 2)."""
    target = Path(os.path.abspath(Path(target).expanduser()))
    if target.is_symlink():
        target = target.resolve()
    if target.parent == target:
        raise BadOption(f"{target}: 不能把根目录用作输出目录")
    try:
        cwd = Path.cwd().resolve()
    except OSError:  # (the current directory was removed)
        cwd = None
    if cwd is not None and (target.resolve() == cwd or target.resolve() in cwd.parents):
        raise BadOption(f"{target}: 不能把当前目录或其上级目录用作输出目录（整个目录会被替换）")
    clean_leftovers(target)
    if target.exists():
        if not target.is_dir():
            raise BadOption(f"{target}: 已存在且不是目录，不能用作输出目录")
        if any(target.iterdir()) and not is_yibao_output(target):
            raise BadOption(f"{target}: 目录非空且不是 yibao 的输出（没有 yibao 的 manifest.json），为免误删不会覆盖；"
                            "请指定新的或空的输出目录")
    return target


# --- the swap ------------------------------------------------------------------------------------------------------

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux ``renameat2``); False where not available."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_in(new: Path, target: Path, token: str) -> None:
    if not target.exists():
        os.rename(new, target)
        return
    if _exchange(new, target):
        shutil.rmtree(new, ignore_errors=True)  # (``new`` now holds the old output)
        return
    backup = target.with_name(f".{target.name}.{_OLD}-{os.getpid()}-{token}")
    os.rename(target, backup)
    os.rename(new, target)  # the window: between these two renames ``target`` does not exist
    shutil.rmtree(backup, ignore_errors=True)


def write_manifest(directory: Path, *, command: str, options: Mapping | None = None,
                   inputs: Mapping[str, Path] | None = None, workspace: Path | dict | None = None) -> dict:
    """Add ``manifest.json`` to ``directory``: keys of a manifest the command wrote itself (the DIP catalogue's)
    are kept, these are added — ``format``, ``yibao_version``, ``command``, ``options``, ``inputs``,
    ``workspace``, ``outputs`` (every other file: path, size, sha256)."""
    mf = directory / MANIFEST
    own: dict = {}
    if mf.is_file():
        own = json.loads(mf.read_text(encoding="utf-8"))
    manifest = {**own, "format": FORMAT, "yibao_version": __version__, "command": command,
                "options": _jsonable(dict(options or {})),
                "inputs": {k: describe_input(Path(p)) for k, p in sorted((inputs or {}).items()) if p is not None},
                "workspace": workspace if isinstance(workspace, (dict, type(None))) else describe_workspace(workspace),
                "outputs": file_list(directory)}
    tmp = directory / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, mf)
    return manifest


class OutputDir:
    """``with OutputDir(target, command=…) as tmp:`` — write everything into ``tmp``; at the end the manifest is
    added and ``tmp`` replaces ``target`` whole. The target is checked (and a killed run's leftovers cleaned)
    when the object is made, so a command can refuse a bad ``--out`` before it starts its work."""

    def __init__(self, target: Path, *, command: str, options: Mapping | None = None,
                 inputs: Mapping[str, Path] | None = None, workspace: Path | None = None) -> None:
        self.given = Path(target)
        self.target = check_target(target)
        real = self.target.resolve()
        for what, d in ([("工作区", workspace)] if workspace is not None else []) + \
                [("输入目录", p) for p in (inputs or {}).values() if p is not None and Path(p).is_dir()]:
            # (a file inside is fine: it is read before the swap, e.g. dip score --review OUT/review_queue.csv)
            d = Path(os.path.abspath(Path(d).expanduser())).resolve()
            if d == real or real in d.parents:
                raise BadOption(f"{target}: {what} {d} 在输出目录内，而输出目录会被整个替换；请另选输出目录")
        self.command, self.options, self.inputs = command, options, inputs
        # (read before the command opens the workspace itself: DuckDB allows one configuration per file and process)
        self.workspace = None if workspace is None else describe_workspace(Path(workspace))
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.token = secrets.token_hex(4)
        self.tmp = self.target.with_name(f".{self.target.name}.{_NEW}-{os.getpid()}-{self.token}")
        self.tmp.mkdir()
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self.tmp is not None
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        try:
            for p in self.tmp.rglob("*"):  # nothing a command wrote may point outside (a symlink would)
                if p.is_symlink():
                    raise BadOption(f"{p.name}: 输出中不应有符号链接")
            self.manifest = write_manifest(self.tmp, command=self.command, options=self.options, inputs=self.inputs,
                                           workspace=self.workspace)
            _swap_in(self.tmp, self.target, self.token)
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise


@contextmanager
def output_dir(target: Path, **kw) -> Iterator[Path]:
    """Function form of :class:`OutputDir`."""
    with OutputDir(target, **kw) as tmp:
        yield tmp


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed over ``path`` (atomic), on any exception it
    is removed and ``path`` keeps its old content."""
    path = Path(os.path.abspath(Path(path).expanduser()))
    if path.is_dir():
        raise BadOption(f"{path}: 是目录，应给出文件名")
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(path)
    tmp = path.with_name(f".{path.name}.{_NEW}-{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
