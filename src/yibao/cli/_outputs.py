"""``--out`` of a command: the output directory (or file) from :mod:`yibao.engine.outdir`, described by the
command's own name and options (read from the click context), so every command records the same manifest."""

from __future__ import annotations

from pathlib import Path

try:  # (typer ≥ 0.29 carries its own copy of click; the context of the running command lives there)
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover - an older typer on top of click
    from click import get_current_context

from yibao.engine.outdir import OutputDir

_OUT = ("out_dir", "out", "out_file", "out_csv")


def outputs(target: Path) -> OutputDir:
    """The output directory of the running command: checked now (a bad ``--out`` is refused before any work),
    written by ``with outputs(out_dir) as tmp: …`` and put in place whole at the end."""
    ctx = get_current_context()
    params = {k: v for k, v in ctx.params.items() if k not in _OUT}  # (not where it is: a copy elsewhere is the same)
    names, c = [], ctx
    while c.parent is not None:  # (the root's own name is the program's: "yibao", "python -m yibao.cli" …)
        names.append(c.info_name)
        c = c.parent
    command = " ".join(["yibao", *reversed(names)])
    workspace = params.get("workspace")
    inputs = {k: v for k, v in params.items() if isinstance(v, Path) and k != "workspace"}
    return OutputDir(target, command=command, options=params, inputs=inputs,
                     workspace=workspace if isinstance(workspace, Path) else None)
