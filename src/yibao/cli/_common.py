"""Shared pieces of the ``yibao`` command: the Typer app, consoles, option checks and ``main``.

One handler (:func:`run`) decides what the shell sees:

* a :class:`~yibao.contract.errors.YibaoError` (anything a user can cause) → one line
  ``错误：…`` on stderr and the error's exit code (``2`` refused input, ``3`` a problem to see);
* a usage error (missing or unknown option, a bad value, no such command) → one Chinese line, ``2``;
* Ctrl-C → one line, ``130``;
* anything else is a bug → one line naming a log file that holds the traceback, ``1``
  (never the traceback on screen). The log directory is ``$YIBAO_LOG_DIR``, else
  ``$XDG_STATE_HOME/yibao/logs``, else ``~/.local/state/yibao/logs``; files are created ``0600``.

Help texts are plain text (no Rich markup, so ``[clearing]`` in a help text stays as written)
and framed in Chinese (用法、选项、参数、命令).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import sys
import tempfile
import time
import traceback
import unicodedata
from pathlib import Path
from typing import Any, NoReturn, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from typer.core import TyperCommand, TyperGroup

from yibao import __version__
from yibao.contract.errors import EXIT_BUG, EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUSED, BadOption, YibaoError

PROG = "yibao"
EXIT_BAD_INPUT = EXIT_REFUSED
ENGINES = ("duckdb", "spark")


# --------------------------------------------------------------------------- Chinese help frames

_HEADINGS = {"Options": "选项", "Arguments": "参数", "Commands": "命令"}


class _HelpFormatter(typer.Context.formatter_class):
    """Click's plain help formatter with the frame words in Chinese."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, "用法：" if prefix is None else prefix)

    def write_heading(self, heading: str) -> None:
        self.write(f"{'':>{self.current_indent}}{_HEADINGS.get(heading, heading)}：\n")

    def write_dl(self, rows, col_max: int = 30, col_spacing: int = 2) -> None:
        super().write_dl([(term, _extras_zh(text)) for term, text in rows], col_max, col_spacing)


def _extras_zh(text: str) -> str:
    """The bracketed extras Typer appends to an option's help (``[default: x; required]``) in Chinese.

    (Metavars such as ``<path>`` stay: Click aligns the columns by characters, and Chinese ones are
    twice as wide.)"""
    m = re.search(r"\[([^\[\]]*)\]$", text)
    if not m:
        return text
    parts, known = [], False
    for part in m.group(1).split("; "):
        for en, zh in (("required", "必填"), ("default: ", "默认："), ("env var: ", "环境变量：")):
            if part == en or (en.endswith(" ") and part.startswith(en)):
                parts.append(zh + part[len(en):] if en.endswith(" ") else zh)
                known = True
                break
        else:
            parts.append(part)
    return text[:m.start()] + "[" + "；".join(parts) + "]" if known else text


class _Context(typer.Context):
    formatter_class = _HelpFormatter


class _HelpInChinese:
    """Mixin for Typer's command and group classes: Chinese help option and frames."""

    context_class = _Context

    def get_help_option(self, ctx):  # type: ignore[no-untyped-def]
        opt = super().get_help_option(ctx)  # type: ignore[misc]
        if opt is not None:
            opt.help = "显示本帮助并退出"
        return opt


    def parse_args(self, ctx, args):  # type: ignore[no-untyped-def]
        """Click's parser raises some usage errors without their command: attach it (for the hint)."""
        try:
            return super().parse_args(ctx, args)  # type: ignore[misc]
        except typer.TyperException as exc:
            if getattr(exc, "ctx", False) is None:
                exc.ctx = ctx  # type: ignore[attr-defined]
            raise

    def get_short_help_str(self, limit: int = 45) -> str:
        """The first sentence of the help, cut by display width (Click's cut at spaces leaves "DIP...")."""
        text = (getattr(self, "short_help", None) or (getattr(self, "help", None) or "").strip().split("\n\n")[0])
        text = " ".join(text.split())
        if _width(text) <= limit:
            return text
        cut = ""
        for ch in text:
            if _width(cut + ch) > limit - 1:
                break
            cut += ch
        return cut.rstrip("，、；：,;: ") + "…"


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


class YibaoCommand(_HelpInChinese, TyperCommand):
    pass


class YibaoGroup(_HelpInChinese, TyperGroup):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("subcommand_metavar") is None:
            kwargs["subcommand_metavar"] = "命令 [参数]..."
        super().__init__(*args, **kwargs)


class YibaoTyper(typer.Typer):
    """A Typer app whose commands and groups print their help in Chinese, as plain text."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", YibaoGroup)
        kwargs.setdefault("no_args_is_help", True)
        kwargs.setdefault("rich_markup_mode", None)
        kwargs.setdefault("options_metavar", "[选项]")
        super().__init__(**kwargs)

    def command(self, *args: Any, cls: Any = None, **kwargs: Any):  # type: ignore[override]
        return super().command(*args, cls=cls or YibaoCommand, **kwargs)


def sub_app(name: str, help: str) -> YibaoTyper:
    """A command group ``yibao NAME …`` registered on the main app."""
    sub = YibaoTyper(help=help)
    app.add_typer(sub, name=name)
    return sub


app = YibaoTyper(add_completion=False, pretty_exceptions_enable=False, help="yibao 医保基金经办与监管引擎",
                 context_settings={"help_option_names": ["-h", "--help"]})
contract_app = sub_app("contract", help="数据合同（contract）")


def _show_version(value: bool) -> None:
    if value:
        print(f"{PROG} {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", help="显示版本并退出", is_eager=True,
                                       callback=_show_version)) -> None:
    """yibao 医保基金经办与监管引擎：总额控制、DIP/DRG 付费、智能审核、医保支付资格。"""


err = Console(stderr=True, highlight=False, markup=False)  # no Rich markup: "[clearing]" stays as written
out = Console(highlight=False, markup=False, width=None if sys.stdout.isatty() else 160)


class UserError(BadOption):
    """A problem with the user's input: printed as one line, no traceback (exit 2)."""


# --------------------------------------------------------------------------- option checks

def _param_name(param: Any) -> str:
    opts = getattr(param, "opts", None)
    if getattr(param, "param_type_name", "") == "option" and opts:
        return "/".join(opts)
    return (getattr(param, "name", None) or "参数").upper()


def _check_file(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
    """Refuse a directory where a file is expected (one line, exit 2, before anything runs)."""
    if value is None:
        return value
    for p in value if isinstance(value, (list, tuple)) else [value]:
        if str(p) != "-" and Path(p).is_dir():
            raise BadOption(f"{_param_name(param)}：{p} 是目录，这里应给出一个文件")
    return value


def _check_dir(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
    """Refuse a file where a directory is expected."""
    if value is not None and Path(value).exists() and not Path(value).is_dir():
        raise BadOption(f"{_param_name(param)}：{value} 是文件，这里应给出一个目录")
    return value


def _check_engine(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
    if value is not None and value not in ENGINES:
        raise BadOption(f"{_param_name(param)}：未知的引擎 {value!r}（可选：{'、'.join(ENGINES)}）")
    return value


def choice_option(default: str, *decls: str, choices: tuple[str, ...], help: str) -> Any:
    """An option taking one of ``choices``, otherwise one line listing them (exit 2)."""
    def check(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
        if value is not None and value not in choices:
            raise BadOption(f"{_param_name(param)}：{value!r} 不是可选值（可选：{'、'.join(choices)}）")
        return value
    return typer.Option(default, *decls, help=help, callback=check)


def file_option(default: Any, *decls: str, help: str) -> Any:
    """An option naming a file to read: a directory is refused in one line (exit 2)."""
    return typer.Option(default, *decls, help=help, callback=_check_file)


def file_argument(default: Any, help: str) -> Any:
    return typer.Argument(default, help=help, callback=_check_file)


def dir_argument(default: Any, help: str) -> Any:
    """An argument naming a directory to read: a file is refused in one line (exit 2)."""
    return typer.Argument(default, help=help, callback=_check_dir)


def dir_option(default: Any, *decls: str, help: str) -> Any:
    """An option naming a directory to read: a file is refused in one line (exit 2)."""
    return typer.Option(default, *decls, help=help, callback=_check_dir)


def engine_option(help: str = "duckdb 或 spark") -> Any:
    """``--engine``: one of :data:`ENGINES`, otherwise one line listing them (exit 2)."""
    return typer.Option("duckdb", "--engine", help=help, callback=_check_engine)


# --------------------------------------------------------------------------- progress

class RateProgress:
    """A rich progress bar per table with rows and rows/s (on stderr; quiet when not a terminal)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.progress = Progress(
            TextColumn("[bold]{task.description:<14}"), BarColumn(), TaskProgressColumn(),
            TextColumn("{task.fields[rows]:>12,} 行"), TextColumn("{task.fields[rate]:>12} 行/秒"),
            TimeElapsedColumn(), console=err, transient=False, disable=not err.is_terminal,
        )
        self.tasks: dict[str, tuple[int, float]] = {}

    def __enter__(self) -> "RateProgress":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def update(self, name: str, rows: int, done: bool = False) -> None:
        if name not in self.tasks:
            self.tasks[name] = (self.progress.add_task(name, total=None, rows=0, rate="-"), time.perf_counter())
        task, t0 = self.tasks[name]
        dt_ = max(time.perf_counter() - t0, 1e-9)
        self.progress.update(task, rows=rows, rate=f"{rows / dt_:,.0f}" if rows else "-",
                             total=1 if done else None, completed=1 if done else 0)


# --------------------------------------------------------------------------- the one handler

def _fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Stop the command with one line and ``code`` (the handler in :func:`run` prints it)."""
    raise UserError(message, exit_code=code)


def main() -> None:
    sys.exit(run())


def run(argv: Optional[list[str]] = None) -> int:
    """Run ``yibao`` with ``argv`` (default ``sys.argv[1:]``) and return the exit code for the shell."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        rc = app(args=args, prog_name=PROG, standalone_mode=False)
    except YibaoError as exc:
        _print_error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        return _interrupted()
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return _interrupted()
    except typer.TyperException as exc:  # Click's usage errors and the help shown for no arguments
        return _usage_error(exc)
    except Exception as exc:
        return _other(exc, args)
    if rc == EXIT_INTERRUPTED:  # Typer turns a KeyboardInterrupt inside a command into Exit(130)
        return _interrupted()
    return rc if isinstance(rc, int) and not isinstance(rc, bool) else EXIT_OK


def _interrupted() -> int:
    _print_error("已中断（Ctrl-C），命令未完成")
    return EXIT_INTERRUPTED


def _other(exc: Exception, args: list[str]) -> int:
    """An exception that is not a YibaoError: a few known outside causes, otherwise a bug."""
    kind, module, text = type(exc).__name__, type(exc).__module__.lstrip("_"), str(exc)
    if isinstance(exc, OSError) and exc.filename:
        what = {FileNotFoundError: "文件或目录不存在", IsADirectoryError: "是目录，这里应为文件",
                NotADirectoryError: "不是目录", PermissionError: "没有访问权限"}.get(type(exc))
        if what:
            _print_error(f"{exc.filename}：{what}")
            return EXIT_BAD_INPUT
    if type(exc) is FileNotFoundError and not exc.filename and text:  # raised with its own Chinese message
        _print_error(text)
        return EXIT_BAD_INPUT
    if module.startswith("duckdb"):
        if "Could not set lock" in text or "Conflicting lock" in text:  # a connection not opened by Workspace
            f = re.search(r'lock on file "([^"]+)"', text)
            pid = re.search(r"\(PID (\d+)\)", text)
            _print_error((f"{Path(f.group(1)).parent}: " if f else "") + "工作区正被另一个进程使用"
                         + (f"（进程号 {pid.group(1)}）" if pid else "") + "，请等它结束后再试")
            return EXIT_BAD_INPUT
        if kind == "InterruptException":
            return _interrupted()
        if kind == "OutOfRangeException":  # DuckDB refuses an integer overflow rather than wrap
            first = text.splitlines()[0] if text else kind
            _print_error(f"计算溢出：输入中有超出计算范围的数值（如异常巨大的金额），请检查数据（{first}）")
            return EXIT_BAD_INPUT
    log = _write_bug_log(exc, args)
    where = f"详细信息已写入 {log}" if log else "无法写入日志文件"
    _print_error(f"yibao 内部错误（{kind}）：{where}，报告问题时请附上该文件")
    return EXIT_BUG


def log_dir() -> Path:
    """Where bug logs go: ``$YIBAO_LOG_DIR``, else ``$XDG_STATE_HOME/yibao/logs``, else ``~/.local/state/yibao/logs``."""
    if os.environ.get("YIBAO_LOG_DIR"):
        return Path(os.environ["YIBAO_LOG_DIR"])
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "yibao" / "logs"


def _write_bug_log(exc: BaseException, args: list[str]) -> Path | None:
    """The traceback in a new file (0600) in :func:`log_dir` (or the temp directory); its path, or None."""
    stamp = dt.datetime.now(dt.timezone.utc)
    name = f"yibao-{stamp:%Y%m%dT%H%M%SZ}-{os.getpid()}.log"
    text = (f"yibao {__version__} 内部错误 / internal error\n"
            f"time: {stamp.isoformat(timespec='seconds')}\n"
            f"command: {PROG} {' '.join(args)}\n"
            f"python: {platform.python_version()} on {platform.platform()}\n\n"
            + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    for d in (log_dir(), Path(tempfile.gettempdir()) / f"yibao-logs-{os.getuid() if hasattr(os, 'getuid') else 0}"):
        try:
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = d / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            return path
        except OSError:
            continue
    return None


def _usage_error(exc: Exception) -> int:
    """Click's usage errors as one Chinese line (exit 2); no arguments at all shows the help (exit 0)."""
    ctx = getattr(exc, "ctx", None)
    names = {c.__name__ for c in type(exc).__mro__}
    if "NoArgsIsHelpError" in names:
        print(exc.format_message())  # the help of the command group, on stdout
        return EXIT_OK
    if "UsageError" not in names:  # another ClickException (e.g. a file Click could not open)
        _print_error(getattr(exc, "format_message", lambda: str(exc))())
        return getattr(exc, "exit_code", EXIT_BAD_INPUT) or EXIT_BAD_INPUT
    path = ctx.command_path if ctx is not None else PROG
    hint = f"（用法见 {path} -h）"
    param = getattr(exc, "param", None)
    message = str(getattr(exc, "message", "") or "")
    if "MissingParameter" in names:
        kind = "选项" if getattr(param, "param_type_name", "") == "option" else "参数"
        line = f"缺少必填{kind} {_param_name(param) if param is not None else ''}".rstrip()
    elif "NoSuchOption" in names:
        line = f"{path} 没有选项 {exc.option_name}"  # type: ignore[attr-defined]
        if getattr(exc, "possibilities", None):
            line += f"；是否想用 {'、'.join(sorted(exc.possibilities))}"  # type: ignore[attr-defined]
    elif "BadParameter" in names:
        value = _bad_input(exc)
        line = (f"{_param_name(param) if param is not None else '参数'} 的值"
                + (f" {value!r}" if value is not None else "") + f" 无效：{_value_problem_zh(message)}")
    elif m := re.match(r"Option '([^']+)' requires (an argument|\d+ arguments)", message):
        line = f"选项 {m.group(1)} 需要给出值"
    elif m := re.match(r"Option '([^']+)' does not take a value", message):
        line = f"选项 {m.group(1)} 不带值"
    elif m := re.match(r"Got unexpected extra argument(?:\(s\)|s)? \((.*)\)", message):
        line = f"多余的参数：{m.group(1)}"
    elif m := re.match(r"No such command '([^']*)'\.?(?: Did you mean (.*)\?)?", message):
        line = f"没有命令 {m.group(1)}"
        if m.group(2):
            line += f"；是否想用 {m.group(2).replace(chr(39), '')}"
        hint = f"（{path} -h 列出全部命令）"
    elif message.startswith("Missing command"):
        line = "缺少子命令"
        hint = f"（{path} -h 列出全部命令）"
    else:
        line = f"用法错误：{message}"
    _print_error(line + hint)
    return EXIT_BAD_INPUT


def _bad_input(exc: BaseException) -> Any:
    """The value a user gave that Typer's conversion refused (from the validation error behind it)."""
    cause = exc.__cause__
    errors = getattr(cause, "errors", None)
    if callable(errors):
        try:
            first = errors()[0]
            return first.get("input")
        except Exception:  # noqa: BLE001  (a best-effort detail of an error message)
            return None
    return None


_VALUE_PROBLEMS = (
    ("valid integer", "应为整数"),
    ("valid number", "应为数字"),
    ("valid decimal", "应为数字"),
    ("valid boolean", "应为 true 或 false"),
    ("valid date", "应为日期 YYYY-MM-DD"),
    ("greater than or equal to", "小于允许的最小值"),
    ("less than or equal to", "大于允许的最大值"),
    ("not in the range", "超出允许的范围"),
    ("is not one of", "不是可选值之一"),
)


def _value_problem_zh(message: str) -> str:
    low = message.lower()
    for needle, zh in _VALUE_PROBLEMS:
        if needle in low:
            extra = re.search(r"(-?\d+(?:\.\d+)?)(?!.*\d)", message) if "than or equal" in low else None
            return zh + (f"（{extra.group(1)}）" if extra else "")
    return f"取值不符合要求（{message}）"


def _print_error(message: str) -> None:
    print("错误：" + " ".join(message.split()), file=sys.stderr)


def scores_option() -> Any:
    """``--scores``: the assessment's score totals (``yibao assess``'s score_totals.csv) for a year-end clearing."""
    return file_option(None, "--scores", help="考核得分（yibao assess 输出的 score_totals.csv），代替手填的 "
                                               "[clearing.scores] 返还质量保证金")


def score_reason_option() -> Any:
    """``--score-reason ID=理由``: why a hand-typed score overrides the assessed one (repeatable)."""
    return typer.Option(None, "--score-reason", help="手工得分覆盖考核得分的理由：机构编码=理由（可重复）")
