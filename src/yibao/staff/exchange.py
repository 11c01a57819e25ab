"""Nationwide linkage (全国联网联动): status changes exchanged between regions as signed JSON Lines.

File format ``yibao-staff-exchange``, version 1, UTF-8, one JSON object per line, ``\\n`` endings:

1. header   ``{"format": "yibao-staff-exchange", "version": 1, "origin": "<region code>",
              "created_at": "<UTC ISO time>", "records": <n>}``
2. n records, one per status change of a person in the origin region::

       {"record_id": "<origin>:<status>:<staff_id>:<start>", "staff_id": …, "status": "suspended" | "terminated",
        "start": "YYYY-MM-DD", "until": "YYYY-MM-DD",       # suspension: first day active again;
                                                            # termination: first day it may register again
        "reregistered_on": "YYYY-MM-DD" | null,             # termination ended by re-registration there
        "at_once": true | false | null, "source_id": …}

   A period that changes later (extended, shortened, ended) is exported again under the same
   ``record_id`` in a newer file; the newest ``created_at`` wins.
3. trailer  ``{"checksum": {"alg": "HMAC-SHA256", "value": "<hex>"}}`` over the exact bytes of
   every line before it. The key is the exchange network's shared secret, read from the
   environment variable named by ``exchange.key_env`` (``YIBAO_EXCHANGE_KEY``), or
   ``<key_env>_<ORIGIN>`` for one origin's own key. Without a key the trailer carries
   ``"alg": "SHA-256"`` (integrity against accidental damage only), accepted on import only
   when ``exchange.allow_unsigned = true`` **and no key is configured**: once a key is set, an
   unsigned file is refused whatever ``allow_unsigned`` says (anyone can replace an HMAC trailer
   by the plain SHA-256 of a tampered body).

Import is all or nothing: a file that is not UTF-8 JSON Lines, has a wrong header, count or
record, or whose checksum does not verify is refused whole with one line naming the file and
the problem. Accepted records become ledger events ``ext_suspension`` / ``ext_termination``
(plus a ``registration`` for a re-registration there): a suspension elsewhere applies here.
The same file twice, or a record already known with the same content, adds nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path

from yibao.contract.errors import BadFile, BadOption
from yibao.engine.workspace import Workspace, actor, now
from yibao.staff.ledger import Entry, append, ledger_events
from yibao.staff.policy import StaffPolicy
from yibao.staff.rules import derive

FORMAT = "yibao-staff-exchange"
VERSION = 1
RECORD_KEYS = ("record_id", "staff_id", "status", "start", "until", "reregistered_on", "at_once", "source_id")


class ExchangeError(BadFile):
    """An exchange file refused whole (a :class:`BadFile`): one line naming the file and the problem."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")


def _key(pol: StaffPolicy, origin: str) -> bytes | None:
    k = os.environ.get(f"{pol.key_env}_{origin}") or os.environ.get(pol.key_env)
    return k.encode("utf-8") if k else None


def _checksum(body: bytes, key: bytes | None) -> dict:
    if key is None:
        return {"alg": "SHA-256", "value": hashlib.sha256(body).hexdigest()}
    return {"alg": "HMAC-SHA256", "value": hmac.new(key, body, hashlib.sha256).hexdigest()}


def _line(obj: dict) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")


def region_code(ws: Workspace, pol: StaffPolicy, given: str | None) -> str:
    code = (given or pol.region_code or "").strip()
    if not code:
        rows = ws.con.execute("SELECT DISTINCT region_code FROM institutions WHERE region_code IS NOT NULL").fetchall()
        if len(rows) == 1:
            code = rows[0][0]
    if not code:
        raise BadOption("--region: 无法确定本地区代码：请用 --region 或政策文件 exchange.region_code 给出")
    return code


@dataclass
class ExportResult:
    path: Path
    records: int
    signed: bool


def export(ws: Workspace, pol: StaffPolicy, out: Path, origin: str, created_at: dt.datetime | None = None) -> ExportResult:
    """Write every local period (imported ones are not re-exported) as a signed exchange file."""
    events = ledger_events(ws.con)
    local = events.filter(events.column("origin").is_null())
    periods = derive(local, pol).periods.to_pylist()
    records = []
    for p in periods:
        until = p["end_date"] if p["status"] == "suspended" else p["barred_until"]
        records.append({
            "record_id": f"{origin}:{p['status']}:{p['staff_id']}:{p['start_date'].isoformat()}",
            "staff_id": p["staff_id"], "status": p["status"], "start": p["start_date"].isoformat(),
            "until": until.isoformat(),
            "reregistered_on": p["end_date"].isoformat() if p["status"] == "terminated" and p["end_date"] else None,
            "at_once": p["at_once"], "source_id": p["source_id"],
        })
    created = (created_at or now()).astimezone(dt.timezone.utc).isoformat(timespec="seconds")
    body = _line({"format": FORMAT, "version": VERSION, "origin": origin, "created_at": created,
                  "records": len(records)})
    body += b"".join(_line(r) for r in records)
    key = _key(pol, origin)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(body + _line({"checksum": _checksum(body, key)}))
    tmp.replace(out)
    return ExportResult(out, len(records), key is not None)


def _date(path: str, n: int, key: str, value: object, optional: bool = False) -> dt.date | None:
    if value is None and optional:
        return None
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ExchangeError(path, f"第 {n} 行：{key} 不是有效日期：{value!r}") from None


def read_exchange(path: Path, pol: StaffPolicy) -> tuple[dict, list[dict], str]:
    """Parse and verify a file: (header, records, sha256 of the file). Refuses the whole file on any problem."""
    p = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ExchangeError(p, f"无法读取：{exc.strerror or exc}") from None
    sha = hashlib.sha256(raw).hexdigest()
    if not raw.endswith(b"\n"):
        raise ExchangeError(p, "文件不完整（末行没有换行，可能被截断）")
    lines = raw.split(b"\n")[:-1]
    if len(lines) < 2:
        raise ExchangeError(p, "不是交换文件：缺少文件头或校验行")
    objs = []
    for n, ln in enumerate(lines, 1):
        try:
            obj = json.loads(ln.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ExchangeError(p, f"第 {n} 行不是有效的 UTF-8 JSON：{' '.join(str(exc).split())[:120]}") from None
        if not isinstance(obj, dict):
            raise ExchangeError(p, f"第 {n} 行应为 JSON 对象")
        objs.append(obj)
    head, recs, tail = objs[0], objs[1:-1], objs[-1]
    if head.get("format") != FORMAT:
        raise ExchangeError(p, f"不是 {FORMAT} 文件（文件头 format = {head.get('format')!r}）")
    if head.get("version") != VERSION:
        raise ExchangeError(p, f"不支持的版本 {head.get('version')!r}（支持 {VERSION}）")
    origin = head.get("origin")
    if not isinstance(origin, str) or not origin.strip():
        raise ExchangeError(p, "文件头缺少来源地区代码 origin")
    if head.get("records") != len(recs):
        raise ExchangeError(p, f"记录数不符：文件头为 {head.get('records')!r}，实际 {len(recs)} 条")
    cs = tail.get("checksum")
    if not isinstance(cs, dict) or set(tail) != {"checksum"}:
        raise ExchangeError(p, "缺少末行校验值 checksum")
    body = raw[: len(raw) - len(lines[-1]) - 1]
    key = _key(pol, origin)
    if cs.get("alg") == "HMAC-SHA256":
        if key is None:
            raise ExchangeError(p, f"文件已签名（HMAC-SHA256），但没有交换密钥：请设置环境变量 {pol.key_env}")
    elif cs.get("alg") == "SHA-256":
        if key is not None:  # a key is configured: an unsigned file could be anyone's (a tampered file re-hashed)
            raise ExchangeError(p, f"文件未签名（仅 SHA-256），但已配置交换密钥（{pol.key_env}）：有密钥时只接受"
                                   "HMAC-SHA256 签名的文件，未签名文件可能被篡改后重新计算了校验值，整个文件拒绝导入")
        if not pol.allow_unsigned:
            raise ExchangeError(p, "文件未签名（仅 SHA-256），政策不接受未签名文件（exchange.allow_unsigned = false）")
        key = None
    else:
        raise ExchangeError(p, f"未知的校验算法 {cs.get('alg')!r}")
    want = _checksum(body, key)["value"]
    if not isinstance(cs.get("value"), str) or not hmac.compare_digest(want, cs["value"]):
        raise ExchangeError(p, "校验值不符：文件被篡改、损坏或密钥不同，整个文件拒绝导入")
    out = []
    for n, r in enumerate(recs, 2):
        if set(r) != set(RECORD_KEYS):
            raise ExchangeError(p, f"第 {n} 行：字段应为 {', '.join(RECORD_KEYS)}")
        if r["status"] not in ("suspended", "terminated"):
            raise ExchangeError(p, f"第 {n} 行：status 应为 suspended 或 terminated：{r['status']!r}")
        if not isinstance(r["staff_id"], str) or not r["staff_id"]:
            raise ExchangeError(p, f"第 {n} 行：staff_id 为空")
        start = _date(p, n, "start", r["start"])
        until = _date(p, n, "until", r["until"])
        rereg = _date(p, n, "reregistered_on", r["reregistered_on"], optional=True)
        if until <= start:
            raise ExchangeError(p, f"第 {n} 行：until {until} 不晚于 start {start}")
        out.append({**r, "start": start, "until": until, "reregistered_on": rereg})
    return head, out, sha


@dataclass
class ImportResult:
    path: Path
    origin: str
    records: int
    new_events: int
    already: bool


def import_file(ws: Workspace, pol: StaffPolicy, path: Path, own_region: str | None = None) -> ImportResult:
    head, recs, sha = read_exchange(path, pol)
    origin = head["origin"]
    if own_region and origin == own_region:
        raise ExchangeError(str(path), f"这是本地区（{origin}）导出的文件，不需要导入")
    with ws.transaction() as con:
        if con.execute("SELECT count(*) FROM staff_exchange_files WHERE sha256 = ?", [sha]).fetchall()[0][0]:
            return ImportResult(Path(path), origin, len(recs), 0, True)
        known = {}
        for ref, kind, day, until, det in con.execute(
                "SELECT ref_id, kind, day, until, detail FROM staff_events WHERE origin = ? ORDER BY event_id",
                [origin]).fetchall():
            known[(kind, ref)] = (day, until, json.loads(det or "{}"))
        entries = []
        created = head.get("created_at") or ""
        for r in recs:
            kind = "ext_suspension" if r["status"] == "suspended" else "ext_termination"
            detail = {"created_at": created, "source_id": r["source_id"], "at_once": r["at_once"],
                      "reregistered_on": r["reregistered_on"] and r["reregistered_on"].isoformat(), "file": sha}
            prev = known.get((kind, r["record_id"]))
            if prev is not None:
                same = prev[0] == r["start"] and prev[1] == r["until"] and \
                    prev[2].get("reregistered_on") == detail["reregistered_on"]
                if same or (prev[2].get("created_at") or "") > created:
                    continue  # known, or a newer version is already here
            entries.append(Entry(r["staff_id"], kind, r["start"], r["record_id"], until=r["until"], origin=origin,
                                 detail=detail, source=f"import:{Path(path).name}"))
            if r["reregistered_on"] is not None:
                entries.append(Entry(r["staff_id"], "registration", r["reregistered_on"], r["record_id"] + ":rereg",
                                     origin=origin, detail={"created_at": created}, source=f"import:{Path(path).name}"))
        n = append(con, entries)
        con.execute("INSERT INTO staff_exchange_files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [sha, origin, head["version"], len(recs), n, now(), actor(), Path(path).name])
        ws.log_event("staff_import", {"file": str(path), "origin": origin, "records": len(recs), "new_events": n})
    return ImportResult(Path(path), origin, len(recs), n, False)
