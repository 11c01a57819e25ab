"""The CLI's fatal errors: one line on stderr, exit code 2, no traceback."""

from __future__ import annotations

import duckdb
import pytest

import yibao.cli._common as common


def test_integer_overflow_is_one_line(monkeypatch, capsys):
    """A number beyond 64 bits (DuckDB refuses to wrap it) stops the command with one Chinese line."""
    def overflow(**_kw):
        duckdb.sql("SELECT CAST(9000000000000000000 AS BIGINT) * 2").fetchall()

    monkeypatch.setattr(common, "app", overflow)
    with pytest.raises(SystemExit) as stop:
        common.main()
    assert stop.value.code == common.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("错误：计算溢出") and err.count("\n") == 1 and "Traceback" not in err
