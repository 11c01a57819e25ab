"""DIP's errors: the contract's classes (:mod:`yibao.contract.errors`), named for what the user did wrong.

DIP raises ``BadPolicy`` (as :class:`DipPolicyError`) (a policy, scenario or reviewers' file whose content is wrong), ``BadFile``
(a file that cannot be used as it is), ``MissingData`` (a workspace, catalogue, scored directory or case the command
needs is not there) and ``BadOption``; every message is one line ``FILE: PROBLEM`` (:func:`at`). The two
names below are kept because callers and tests catch them; they add nothing but the ``(path, problem)`` form.
"""

from __future__ import annotations

from yibao.contract.errors import BadFile, BadOption, BadPolicy, MissingData
from yibao.contract.params import PolicyFileError

__all__ = ["DipPolicyError", "HospitalError", "BadFile", "BadOption", "BadPolicy", "MissingData", "at"]


def at(path: object, problem: str) -> str:
    """The one-line message ``FILE: PROBLEM``."""
    return f"{path}: {problem}"


class DipPolicyError(PolicyFileError):
    """A DIP policy, scenario or reviewers' file whose content is wrong (``FILE: PROBLEM``, or every problem of a
    policy file at once: ``FILE: N 处问题：P1；P2；…``, the list in ``.problems``)."""

    def __init__(self, path: object, problem: str, problems: list[str] | None = None) -> None:
        super().__init__(str(path), problem, problems)


class HospitalError(MissingData):
    """A hospital view without its data: no scored directory, or no case of the institution (``FILE: PROBLEM``)."""

    def __init__(self, path: object, problem: str) -> None:
        self.path, self.problem = str(path), problem
        super().__init__(at(path, problem))
