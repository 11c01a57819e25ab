"""Shared pieces of the ``yibao`` command: the Typer app, consoles, error printing and ``main``.

Bad input never shows a Python traceback: it ends with one line on stderr naming the file and
the problem, and a non-zero exit status.
"""

from __future__ import annotations

import sys
import time

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from yibao.contract.errors import BadOption, YibaoError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="yibao 医保基金经办与监管引擎")
contract_app = typer.Typer(no_args_is_help=True, help="数据合同（contract）")
app.add_typer(contract_app, name="contract")

err = Console(stderr=True, highlight=False)
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class UserError(BadOption):
    """A problem with the user's input: printed as one line, no traceback (exit 2)."""


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
        dt = max(time.perf_counter() - t0, 1e-9)
        self.progress.update(task, rows=rows, rate=f"{rows / dt:,.0f}" if rows else "-",
                             total=1 if done else None, completed=1 if done else 0)


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    _print_error(message)
    raise typer.Exit(code)


def main() -> None:
    try:
        app(standalone_mode=False)
    except YibaoError as exc:
        _print_error(str(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _print_error("已中断：工作区保持中断前的状态")
        sys.exit(EXIT_INTERRUPTED)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except FileNotFoundError as exc:
        _print_error(f"{exc.filename or ''}: 文件或目录不存在" if exc.filename else str(exc))
        sys.exit(EXIT_BAD_INPUT)
    except Exception as exc:  # usage errors (click exceptions carry show() and exit_code)
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(exc.exit_code)
        if type(exc).__module__.startswith("duckdb") and "lock" in str(exc).lower():
            _print_error("工作区正被另一个进程使用（数据库文件已加锁），请稍后再试")
            sys.exit(EXIT_BAD_INPUT)
        if type(exc).__name__ == "OutOfRangeException":  # DuckDB refuses an integer overflow rather than wrap
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            _print_error(f"计算溢出：输入中有超出计算范围的数值（如异常巨大的金额），请检查数据（{first}）")
            sys.exit(EXIT_BAD_INPUT)
        raise


def _print_error(message: str) -> None:
    print("错误：" + " ".join(message.split()), file=sys.stderr)

