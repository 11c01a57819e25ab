"""The one error shape of yibao: everything a user can cause, with its exit code.

Every problem a user can cause — a bad file, a bad option, a bad policy, missing data, a busy
workspace — is a :class:`YibaoError` carrying a one-line Chinese message and the exit code the
command returns to the shell (contract: ``0`` done, ``2`` refused input and nothing changed,
``3`` done or stopped with a problem the user must see, ``1`` a bug). The CLI has one handler
(``yibao.cli._common.main``) that prints the message and returns the code; anything that is not
a ``YibaoError`` is a bug (exit 1, traceback in a log file, never on screen).

Subclasses are named for what the user did wrong, so that a caller (the server, a test) can
tell them apart without parsing messages.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_BUG = 1
EXIT_REFUSED = 2      # refused input: nothing changed
EXIT_PROBLEM = 3      # done (or stopped) with a problem the user must see
EXIT_INTERRUPTED = 130


class YibaoError(Exception):
    """A problem the user caused or must see: one line of Chinese, an exit code."""

    exit_code: int = EXIT_REFUSED

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(" ".join(str(message).split()))
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self)


class RefusedInput(YibaoError):
    """Input refused before anything changed (exit 2)."""


class BadOption(RefusedInput):
    """A command-line option or argument that cannot be used (unknown engine, a directory for a file …)."""


class BadFile(RefusedInput):
    """A file that cannot be read at all (encoding, shape, not a file)."""


class BadPolicy(RefusedInput):
    """A policy, rule, scenario or parameter file whose content is wrong."""


class MissingData(RefusedInput):
    """Data the command needs is absent (no cases for the year, an empty workspace …)."""


class WorkspaceBusy(RefusedInput):
    """The workspace is held by another process."""


class ProblemReported(YibaoError):
    """The command did its work or stopped with a problem the user must see (exit 3)."""

    exit_code = EXIT_PROBLEM
