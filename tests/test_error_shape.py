"""One error shape for every command (issue 13 §1): one line 错误：…, an honest exit code, nothing changed.

Each row is a command line a user could type, with what it must do: the exit code (2: refused
input), a part of the one line the user needs, and — checked by :func:`errorshape.check_case` for
every row — no traceback, the workspace's files unchanged (bytes and mtimes), no ``--out`` written.
"""

from __future__ import annotations

import pytest
from errorshape import ErrorCase, check_case, existing_out, gb18030_file, hold_workspace, shape_env  # noqa: F401  (a fixture)


def _needs_standards(env: dict):
    if not env["standards"]:
        pytest.skip("CHS-DRG standards directory absent")


DIP_SETTLE = ("dip", "settle", "-w", "{ws}", "--scored", "{scored}", "--budget-policy", "{policy}", "--out", "{out}")
DIP_SIMULATE = ("dip", "simulate", "-w", "{ws}", "--catalogue", "{cat}", "--budget-policy", "{policy}",
                "--scenario", "{scenario}", "--out", "{out}")
DRG_SETTLE = ("drg", "settle", "-w", "{ws}", "--standards", "{standards}", "--budget-policy", "{policy}",
              "--out", "{out}")


def _with(args: tuple[str, ...], option: str, value: str) -> tuple[str, ...]:
    """``args`` with ``option``'s value replaced (or the option added)."""
    if option in args:
        i = args.index(option)
        return args[:i + 1] + (value,) + args[i + 2:]
    return args + (option, value)


CASES = [
    # --- an error helper that printed 错误 and exited 0
    ErrorCase("budget-year-cannot-split", ("budget", "--policy", "{policy2035}", "-w", "{ws}", "--out", "{out}"),
              2, "无法分解"),
    ErrorCase("budget-year-cannot-split-into-earlier-out",
              ("budget", "--policy", "{policy2035}", "-w", "{ws}", "--out", "{out}"), 2, "无法分解", existing_out),
    ErrorCase("quarantine-unknown-table", ("quarantine", "-w", "{ws}", "--table", "case"), 2, "case: 不是数据合同中的表"),
    ErrorCase("synth-not-standards", ("synth", "--standards", "{dir}", "--out", "{out}", "--cases", "10"),
              2, "不是 CHS-DRG 标准目录"),
    # --- a directory where a file is expected
    ErrorCase("budget-policy-dir", ("budget", "--policy", "{dir}", "--out", "{out}"), 2, "--policy：{dir} 是目录"),
    ErrorCase("dip-score-review-dir", ("dip", "score", "-w", "{ws}", "--catalogue", "{cat}", "--out", "{out}",
                                       "--review", "{dir}"), 2, "--review：{dir} 是目录"),
    ErrorCase("dip-settle-budget-policy-dir", _with(DIP_SETTLE, "--budget-policy", "{dir}"), 2, "--budget-policy：{dir} 是目录"),
    ErrorCase("dip-settle-deductions-dir", _with(DIP_SETTLE, "--deductions", "{dir}"), 2, "--deductions：{dir} 是目录"),
    ErrorCase("dip-simulate-scenario-dir", _with(DIP_SIMULATE, "--scenario", "{dir}"), 2, "--scenario：{dir} 是目录"),
    ErrorCase("dip-build-policy-dir", ("dip", "build", "-w", "{ws}", "--out", "{out}", "--policy", "{dir}"),
              2, "--policy：{dir} 是目录"),
    ErrorCase("review-rules-dir", ("review", "-w", "{ws}", "--out", "{out}", "--rules", "{dir}"), 2, "--rules：{dir} 是目录"),
    ErrorCase("check-file-dir", ("check", "{dir}", "-w", "{ws}"), 2, "FILE：{dir} 是目录"),
    ErrorCase("drg-settle-budget-policy-dir", _with(DRG_SETTLE, "--budget-policy", "{dir}"), 2,
              "--budget-policy：{dir} 是目录"),
    ErrorCase("standards-file-for-dir", _with(DRG_SETTLE, "--standards", "{policy}"), 2, "--standards：{policy} 是文件"),
    # --- an unknown --engine
    ErrorCase("summary-engine", ("summary", "-w", "{ws}", "--engine", "duck"), 2, "未知的引擎 'duck'（可选：duckdb、spark）"),
    ErrorCase("budget-engine", ("budget", "--policy", "{policy}", "-w", "{ws}", "--out", "{out}", "--engine", "duck"),
              2, "可选：duckdb、spark"),
    ErrorCase("dip-build-engine", ("dip", "build", "-w", "{ws}", "--out", "{out}", "--engine", "duck"), 2, "duckdb、spark"),
    ErrorCase("dip-score-engine", ("dip", "score", "-w", "{ws}", "--catalogue", "{cat}", "--out", "{out}",
                                   "--engine", "duck"), 2, "duckdb、spark"),
    ErrorCase("dip-settle-engine", _with(DIP_SETTLE, "--engine", "duck"), 2, "duckdb、spark"),
    ErrorCase("dip-simulate-engine", _with(DIP_SIMULATE, "--engine", "duck"), 2, "duckdb、spark"),
    ErrorCase("review-engine", ("review", "-w", "{ws}", "--out", "{out}", "--engine", "duck"), 2, "duckdb、spark"),
    # --- a workspace held by another process
    ErrorCase("summary-busy", ("summary", "-w", "{ws}"), 2, "{ws}: 工作区正被另一个进程使用", hold_workspace),
    ErrorCase("budget-busy", ("budget", "--policy", "{policy}", "-w", "{ws}", "--out", "{out}"), 2,
              "工作区正被另一个进程使用", hold_workspace),
    ErrorCase("dip-build-busy", ("dip", "build", "-w", "{ws}", "--out", "{out}"), 2, "工作区正被另一个进程使用",
              hold_workspace),
    ErrorCase("review-busy", ("review", "-w", "{ws}", "--out", "{out}"), 2, "{ws}: 工作区正被另一个进程使用",
              hold_workspace),
    ErrorCase("load-busy", ("load", "{region}", "-w", "{ws}"), 2, "工作区正被另一个进程使用", hold_workspace),
    ErrorCase("summary-no-workspace", ("summary", "-w", "{tmp}/nowhere"), 2, "工作区不存在"),
    # --- a settlement year without a single case
    ErrorCase("dip-settle-year-without-cases", _with(DIP_SETTLE, "--budget-policy", "{policy2035}"), 2,
              "没有 2035 年度"),
    ErrorCase("dip-settle-year-without-cases-into-earlier-out", _with(DIP_SETTLE, "--budget-policy", "{policy2035}"),
              2, "没有 2035 年度", existing_out),
    ErrorCase("drg-settle-year-without-cases", _with(DRG_SETTLE, "--budget-policy", "{policy2035}"), 2,
              "没有 2035 年度"),
    # --- side files saved by Excel in GB18030: read, and a bad row named in one line
    ErrorCase("dip-settle-gbk-deductions-bad-row", _with(DIP_SETTLE, "--deductions", "{deductions}"), 2,
              "第 2 行：扣款金额应为 ≥ 0",
              gb18030_file("deductions.csv", [["institution_id", "year", "source", "amount", "findings"],
                                      ["H0001", "2025", "智能审核（药品）", "-1.00", "1"]])),
    ErrorCase("dip-score-gbk-review-bad-row", ("dip", "score", "-w", "{ws}", "--catalogue", "{cat}", "--out", "{out}",
                                               "--review", "{review}"), 2, "第 2 行 final_score 不是数字",
              gb18030_file("review.csv", [["case_id", "final_score", "专家意见"], ["C1", "一百", "同意"]])),
    # --- usage errors, in Chinese
    ErrorCase("synth-unknown-format", ("synth", "--out", "{out}", "--cases", "10", "--format", "xml"), 2,
              "--format：'xml' 不是可选值（可选：csv、parquet）"),
    ErrorCase("usage-missing-option", ("budget", "--out", "{out}"), 2, "缺少必填选项 --policy"),
    ErrorCase("usage-missing-argument", ("check",), 2, "缺少必填参数 FILE"),
    ErrorCase("usage-bad-value", ("synth", "--out", "{out}", "--cases", "many"), 2, "--cases 的值 'many' 无效：应为整数"),
    ErrorCase("usage-no-such-command", ("budgte",), 2, "没有命令 budgte；是否想用 budget"),
    ErrorCase("usage-no-such-subcommand", ("dip", "settel"), 2, "没有命令 settel"),
    ErrorCase("usage-no-such-option", ("summary", "-w", "{ws}", "--year", "2025"), 2, "yibao summary 没有选项 --year"),
    ErrorCase("usage-option-needs-value", ("summary", "-w", "{ws}", "--engine"), 2, "选项 --engine 需要给出值"),
    ErrorCase("usage-extra-argument", ("summary", "-w", "{ws}", "extra"), 2, "多余的参数：extra"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_error_shape(case: ErrorCase, shape_env: dict) -> None:  # noqa: F811  (the fixture imported above)
    if "{standards}" in case.args:
        _needs_standards(shape_env)
    check_case(case, shape_env)


def test_every_case_has_its_own_id() -> None:
    assert len({c.id for c in CASES}) == len(CASES)


# §2 of the issue: the ways a load is refused or stops with a problem (exit 2 or 3, the workspace unchanged), as
# one table with the rest — the cases are declared beside the load's own tests (tests/test_load_honest.py)
from test_load_honest import LOAD_ERROR_CASES, LoadErrorCase, check_load_error  # noqa: E402


@pytest.mark.parametrize("case", LOAD_ERROR_CASES, ids=[c.name for c in LOAD_ERROR_CASES])
def test_load_error_shape(tmp_path, case: LoadErrorCase) -> None:
    check_load_error(tmp_path, case)
