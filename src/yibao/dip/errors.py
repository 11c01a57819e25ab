"""DIP's errors: the contract's classes (:mod:`yibao.contract.errors`), named for what the user did wrong.

DIP raises ``BadPolicy`` (a policy, scenario or reviewers' file whose content is wrong), ``BadFile`` (a file
that cannot be used as it is), ``MissingData`` (a workspace, catalogue, scored directory or case the command
needs is not there) and ``BadOption``; every message is one line ``FILE: PROBLEM`` (:func:`at`). The two
names below are kept because callers and tests catch them; they add nothing but the ``(path, problem)`` form.
"""

from __future__ import annotations

from yibao.contract.errors import BadFile, BadOption, BadPolicy, MissingData

__all__ = ["DipPolicyError", "HospitalError", "BadFile", "BadOption", "BadPolicy", "MissingData", "at"]


def at(path: object, problem: str) -> str:
    """The one-line message ``FILE: PROBLEM``."""
    return f"{path}: {problem}"


class DipPolicyError(BadPolicy):
    """A DIP policy, scenario or reviewers' file whose content is wrong (``FILE: PROBLEM``)."""

    def __init__(self, path: object, problem: str) -> None:
        self.path, self.problem = str(path), problem
        super().__init__(at(path, problem))


class HospitalError(MissingData):
    """A hospital view without its data: no scored directory, or no case of the institution (``FILE: PROBLEM``)."""

    def __init__(self, path: object, problem: str) -> None:
        self.path, self.problem = str(path), problem
        super().__init__(at(path, problem))
