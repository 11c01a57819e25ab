"""The ``yibao`` command (interfaces layer). Messages for users are in Chinese.

Bad input never shows a Python traceback: it ends with one line on stderr naming the file and
the problem, and a non-zero exit status.

Each module of this package registers the commands of one area on the shared Typer ``app``
(``core``: synth, load, summary, budget, quarantine, contract; ``dip``; ``drg``; ``staff``;
``review``; …). They are imported here in name order, ``core`` first, so that the commands
exist before ``main`` runs.

Start-up cost (docs/scale.md §2): every command module is imported for every command, so a module imports at
its top only Typer and the CLI's own shared pieces; what a command needs (DuckDB, pyarrow, the capability) is
imported inside the command function. Helper modules that register no command (:data:`HELPERS`: imported by
their command when it runs) are not imported here — ``review_benefit`` alone brings the benefit calculator,
the settlement reports and openpyxl, over a second on this machine before any work.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

HELPERS = frozenset({"review_benefit"})  # modules of this package that define no command

try:  # Ctrl-C while the libraries load (seconds on a busy machine): one line and 130 as well
    from yibao.cli._common import app, main  # noqa: F401  (the entry point is yibao.cli:main)

    for _m in sorted((m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_") and m.name not in HELPERS),
                     key=lambda n: (n != "core", n)):
        importlib.import_module(f"{__name__}.{_m}")
except KeyboardInterrupt:
    print("错误：已中断（Ctrl-C），命令未完成", file=sys.stderr)
    raise SystemExit(130) from None

__all__ = ["app", "main"]
