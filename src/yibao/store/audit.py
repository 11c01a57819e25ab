"""The audit log (审计日志): append-only, every entry chained to the one before by its hash.

Entry ``n`` carries ``prev_hash`` = the ``hash`` of entry ``n − 1`` (``GENESIS`` for the first) and
``hash`` = SHA-256 of its own fields with ``prev_hash`` (canonical JSON). Editing, deleting or
reordering any entry breaks the chain from that entry on; :func:`verify` finds the first break.
The store refuses ``UPDATE`` and ``DELETE`` on the table by triggers (created by the migration).

Entries never hold an id number or a name in clear: ``object`` names a case or a finding by its id.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import Connection, select

from yibao.store.db import Store, now_iso
from yibao.store.schema import audit_log

GENESIS = "0" * 64
HASHED = ("seq", "at", "actor", "role", "action", "object", "client", "detail", "prev_hash")


def entry_hash(entry: dict) -> str:
    canon = json.dumps({k: entry[k] for k in HASHED}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def append(con: Connection, *, actor: str, role: str, action: str, object: str, client: str = "",
           detail: dict | None = None) -> dict:
    """Append one entry inside the caller's transaction (so a state change and its entry commit together)."""
    if con.dialect.name == "postgresql":
        con.exec_driver_sql("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE")  # appenders queue
    last = con.execute(select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)).first()
    entry = {
        "seq": (last[0] + 1) if last else 1, "at": now_iso(), "actor": actor or "", "role": role or "",
        "action": action, "object": object, "client": client or "",
        "detail": json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
        "prev_hash": last[1] if last else GENESIS,
    }
    entry["hash"] = entry_hash(entry)
    con.execute(audit_log.insert().values(**entry))
    return entry


def append_many(con: Connection, entries: list[dict]) -> None:
    """Append several entries (each a dict of :func:`append`'s keywords) in one statement, chained in order."""
    if not entries:
        return
    if con.dialect.name == "postgresql":
        con.exec_driver_sql("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE")
    last = con.execute(select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)).first()
    seq, prev = (last[0], last[1]) if last else (0, GENESIS)
    rows = []
    for e in entries:
        seq += 1
        row = {"seq": seq, "at": now_iso(), "actor": e.get("actor") or "", "role": e.get("role") or "",
               "action": e["action"], "object": e["object"], "client": e.get("client") or "",
               "detail": json.dumps(e.get("detail") or {}, ensure_ascii=False, sort_keys=True), "prev_hash": prev}
        row["hash"] = prev = entry_hash(row)
        rows.append(row)
    for i in range(0, len(rows), 5000):
        con.execute(audit_log.insert(), rows[i:i + 5000])


def record(store: Store, **kw) -> dict:
    """Append one entry in its own transaction."""
    with store.begin() as con:
        return append(con, **kw)


def events(store: Store, limit: int = 100) -> list[dict]:
    """The newest ``limit`` entries, newest first."""
    with store.begin() as con:
        rows = con.execute(select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)).mappings().all()
    return [dict(r) for r in rows]


@dataclass
class Verification:
    entries: int
    broken_seq: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


def verify(store: Store) -> Verification:
    """Walk the chain in ``seq`` order; the first entry that does not match is reported."""
    prev, expected, n = GENESIS, 1, 0
    with store.engine.connect() as con:
        result = con.execution_options(stream_results=True, yield_per=10_000).execute(
            select(audit_log).order_by(audit_log.c.seq))
        for row in result.mappings():
            n += 1
            e = dict(row)
            if e["seq"] != expected:
                return Verification(n, expected, f"缺少第 {expected} 条（下一条是第 {e['seq']} 条）：记录被删除")
            if e["prev_hash"] != prev:
                return Verification(n, e["seq"], "前一条的哈希不符：前面的记录被改动或删除")
            if entry_hash(e) != e["hash"]:
                return Verification(n, e["seq"], "内容与其哈希不符：该条记录被改动")
            prev, expected = e["hash"], expected + 1
    return Verification(n)
