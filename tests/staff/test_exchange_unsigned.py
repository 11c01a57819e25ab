"""Staff exchange (issue 13 §5): with a key configured, an unsigned file is refused even when
``exchange.allow_unsigned = true`` — otherwise a tampered file whose HMAC trailer is replaced by the plain
SHA-256 of the tampered body would be accepted."""

from __future__ import annotations

import hashlib
import json

import pytest

from staff.helpers import sanction, write_staff_region
from yibao.engine.loading import load_region
from yibao.staff.exchange import ExchangeError, export, import_file
from yibao.staff.ledger import open_ledger, sync_from_workspace
from yibao.staff.policy import load_policy


def _ws(tmp_path, sanctions, name):
    region = write_staff_region(tmp_path / f"{name}-region", sanctions)
    load_region(region, tmp_path / name)
    return tmp_path / name


def _retrailered(signed: bytes) -> bytes:
    """The file with one record's date moved and the HMAC trailer replaced by the plain SHA-256 of the new body."""
    lines = signed.decode("utf-8").splitlines(keepends=True)
    body = "".join(lines[:-1]).replace('"start":"2025-03-01"', '"start":"2025-03-02"')
    assert body != "".join(lines[:-1])  # the tamper did change something
    trailer = json.dumps({"checksum": {"alg": "SHA-256", "value": hashlib.sha256(body.encode("utf-8")).hexdigest()}},
                         separators=(",", ":"))
    return (body + trailer + "\n").encode("utf-8")


def test_a_key_set_refuses_an_unsigned_file_even_when_unsigned_files_are_allowed(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("YIBAO_EXCHANGE_KEY", "network-secret")
    a, b = _ws(tmp_path, [sanction("A", "2025-03-01", 9)], "a"), _ws(tmp_path, [], "b")
    ws = open_ledger(a)
    try:
        sync_from_workspace(ws)
        assert export(ws, load_policy(), tmp_path / "s.jsonl", "440200").signed
    finally:
        ws.close()
    tampered = tmp_path / "t.jsonl"
    tampered.write_bytes(_retrailered((tmp_path / "s.jsonl").read_bytes()))
    allow = tmp_path / "allow.toml"
    allow.write_text("[exchange]\nallow_unsigned = true\n", encoding="utf-8")
    ws = open_ledger(b)
    try:
        with pytest.raises(ExchangeError, match="已配置交换密钥"):
            import_file(ws, load_policy(allow), tampered)
        assert ws.con.execute("SELECT count(*) FROM staff_events WHERE origin = '440200'").fetchall()[0][0] == 0
        # the genuine signed file is accepted with the same policy
        import_file(ws, load_policy(allow), tmp_path / "s.jsonl")
        assert ws.con.execute("SELECT count(*) FROM staff_events WHERE origin = '440200'").fetchall()[0][0] == 1
    finally:
        ws.close()


def test_without_a_key_an_unsigned_file_is_still_accepted_when_allowed(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("YIBAO_EXCHANGE_KEY", raising=False)
    a, b = _ws(tmp_path, [sanction("A", "2025-03-01", 9)], "a"), _ws(tmp_path, [], "b")
    ws = open_ledger(a)
    try:
        sync_from_workspace(ws)
        assert not export(ws, load_policy(), tmp_path / "u.jsonl", "440200").signed
    finally:
        ws.close()
    allow = tmp_path / "allow.toml"
    allow.write_text("[exchange]\nallow_unsigned = true\n", encoding="utf-8")
    ws = open_ledger(b)
    try:
        import_file(ws, load_policy(allow), tmp_path / "u.jsonl")
        assert ws.con.execute("SELECT count(*) FROM staff_events WHERE origin = '440200'").fetchall()[0][0] == 1
    finally:
        ws.close()
