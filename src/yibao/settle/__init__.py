"""Shared settlement machinery (结算): what budget control, DIP and DRG all need, written once.

This package sits between the engine and the capabilities: it imports only ``yibao.contract`` and
``yibao.engine``, and capabilities (``yibao.budget``, ``yibao.dip``, ``yibao.drg``) call it — they never
call each other (docs/adr/0003-shared-settlement.md).

- :mod:`yibao.settle.bands` — 结余留用、超支分担 bands and the quality-deposit return (质量保证金).
- :mod:`yibao.settle.units` — settlement by value of a unit (点值): DIP points, DRG weights and
  per-capita persons are all "units"; a budget divided by the units gives the unit value, monthly
  (provisional, 预付) and at the year end (清算).
"""
