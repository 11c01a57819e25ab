"""The CLI's one error handler: one line on stderr and an honest exit code (2 refused, 1 a bug with its log,
130 Ctrl-C), never a traceback; -h, --version and the help texts."""

from __future__ import annotations

from decimal import Decimal

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


# --------------------------------------------------------------------------- the one handler (issue 13 §1, §5)

import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

from conftest import run_cli


def _one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.endswith("\n") and "Traceback" not in err, err
    return err.rstrip("\n")


def test_a_bug_is_one_line_naming_a_private_log_with_the_traceback(monkeypatch, capsys, tmp_path):
    """An exception that is not a YibaoError: exit 1, one line with the log's path, the traceback only in the log."""
    import yibao.profile.report as report

    def boom(*_a, **_kw):
        raise RuntimeError("boom in print_summary")

    monkeypatch.setattr(report, "print_summary", boom)
    monkeypatch.setenv("YIBAO_LOG_DIR", str(tmp_path / "logs"))
    assert common.run(["summary", "-w", str(tmp_path)]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("错误：yibao 内部错误（RuntimeError）")
    logs = list((tmp_path / "logs").glob("yibao-*.log"))
    assert len(logs) == 1 and str(logs[0]) in line
    assert stat.S_IMODE(logs[0].stat().st_mode) == 0o600
    text = logs[0].read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "RuntimeError: boom in print_summary" in text
    assert f"command: yibao summary -w {tmp_path}" in text


def test_the_log_directory_follows_xdg_state_home(monkeypatch, tmp_path):
    monkeypatch.delenv("YIBAO_LOG_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert common.log_dir() == tmp_path / "yibao" / "logs"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert common.log_dir() == Path.home() / ".local" / "state" / "yibao" / "logs"


def test_ctrl_c_inside_a_command_is_130_and_one_line(monkeypatch, capsys, tmp_path):
    import yibao.profile.report as report

    def interrupted(*_a, **_kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "print_summary", interrupted)
    assert common.run(["summary", "-w", str(tmp_path)]) == 130
    assert _one_line(capsys.readouterr().err) == "错误：已中断（Ctrl-C），命令未完成"


def test_a_real_sigint_is_130_and_one_line(tmp_path):
    """SIGINT to a running yibao process (as Ctrl-C in a terminal sends it)."""
    code = ("import sys, time\nimport yibao.cli._common as c\n"
            "def slow(**kw):\n    print('ready', flush=True)\n    time.sleep(60)\n"
            "c.app = slow\nc.main()\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(common.__file__).parents[2])]
                                                      + os.environ.get("PYTHONPATH", "").split(os.pathsep))}
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=env)
    assert p.stdout.readline().strip() == "ready"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130
    assert _one_line(err) == "错误：已中断（Ctrl-C），命令未完成"


def test_fail_returns_its_code(monkeypatch, capsys):
    """``_fail`` used to raise typer.Exit, whose code standalone_mode=False dropped (exit 0 after 错误)."""
    def failing(**_kw):
        common._fail("测试：无法继续", 3)

    monkeypatch.setattr(common, "app", failing)
    assert common.run([]) == 3
    assert _one_line(capsys.readouterr().err) == "错误：测试：无法继续"


def test_version():
    from yibao import __version__

    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout == f"yibao {__version__}\n" and r.stderr == ""


def test_short_help_option_and_chinese_frames():
    r = run_cli("-h")
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.startswith("用法：yibao [选项] 命令 [参数]...")
    for word in ("选项：", "命令：", "-h, --help", "显示本帮助并退出", "--version", "budget", "dip", "review"):
        assert word in r.stdout, word
    for english in ("Usage:", "Options", "Commands", "Show this message"):
        assert english not in r.stdout, english
    r = run_cli("budget", "-h")
    assert r.returncode == 0 and r.stdout.startswith("用法：yibao budget [选项]")
    assert "[必填]" in r.stdout and "[默认：duckdb]" in r.stdout and "[required]" not in r.stdout
    bare = run_cli("dip")  # a group without a command shows its help
    assert bare.returncode == 0 and bare.stdout.startswith("用法：yibao dip [选项] 命令 [参数]...")
    assert "settle" in bare.stdout and "…" in bare.stdout and "DIP..." not in bare.stdout


def _commands(group, path=()):
    for name, cmd in sorted(group.commands.items()):
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, path + (name,))
        else:
            yield path + (name,), cmd


def test_every_help_shows_its_bracketed_names(capsys):
    """Rich markup used to eat ``[clearing]`` in help texts (``DIP 政策文件（TOML）：`` followed by nothing)."""
    import typer

    root = typer.main.get_command(common.app)
    seen = 0
    for path, cmd in _commands(root):
        names = set()
        for text in [cmd.help or ""] + [getattr(p, "help", None) or "" for p in cmd.params]:
            names.update(re.findall(r"\[[A-Za-z_.*]+\]", text))
        if not names:
            continue
        assert common.run([*path, "-h"]) == 0
        shown = capsys.readouterr().out
        for name in names:
            assert name in shown, (path, name)
        seen += len(names)
    assert seen >= 15  # [clearing], [settlement], [bed_day], [per_capita], [indicators], [staff], [budget] …


def test_side_files_saved_by_excel_in_gb18030_are_read(tmp_path):
    """--review and --deductions saved as GB18030 (Excel's "CSV" in China) are read like the loader reads data
    (they used to stop with a UnicodeDecodeError)."""
    import csv

    import pyarrow.parquet as pq
    from regions import generated_workspace

    ws = generated_workspace(tmp_path, seed=7, cases=1200)
    r = run_cli("dip", "build", "-w", ws, "--out", tmp_path / "cat")
    assert r.returncode == 0, r.stderr
    r = run_cli("dip", "score", "-w", ws, "--catalogue", tmp_path / "cat", "--out", tmp_path / "s")
    assert r.returncode == 0, r.stderr
    scored = pq.read_table(tmp_path / "s" / "scored_cases.parquet").to_pylist()
    case = next(c for c in scored if c["settle_year"] == 2025)
    review = tmp_path / "review.csv"  # a reviewer's note in Chinese, no decision yet: the scores stay as they are
    review.write_text(f"case_id,final_score,专家意见\n{case['case_id']},,待专家组评议\n", encoding="gb18030")
    r = run_cli("dip", "score", "-w", ws, "--catalogue", tmp_path / "cat", "--out", tmp_path / "s2", "--review", review)
    assert r.returncode == 0, r.stderr
    assert pq.read_table(tmp_path / "s2" / "scored_cases.parquet").to_pylist() == scored

    inst = case["institution_id"]
    ded = tmp_path / "deductions.csv"
    ded.write_text(f"institution_id,year,setting,source,amount,findings\n{inst},2025,inpatient,智能审核（药品）,12.34,2\n",
                   encoding="gb18030")
    policy = tmp_path / "region" / "budget_policy.toml"
    for out, extra in (("plain", ()), ("ded", ("--deductions", ded))):
        r = run_cli("dip", "settle", "-w", ws, "--scored", tmp_path / "s", "--budget-policy", policy,
                    "--out", tmp_path / out, "--no-statements", *extra)
        assert r.returncode == 0, r.stderr

    def deducted(out: str) -> Decimal:
        rows = csv.DictReader((tmp_path / out / "clearing.csv").open(encoding="utf-8-sig"))
        return sum((Decimal(r["审核扣款"]) for r in rows if r["机构编码"] == inst), Decimal("0"))

    assert deducted("plain") == 0 and deducted("ded") == Decimal("12.34")
