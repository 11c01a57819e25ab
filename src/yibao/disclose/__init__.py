"""Public disclosure (信息公开) of a budget year: ``disclose`` writes the public report (docs/disclosure.md)."""

from __future__ import annotations

from yibao.disclose.run import DISCLOSE, Disclosure, build, disclose, publish

__all__ = ["disclose", "publish", "build", "Disclosure", "DISCLOSE"]
