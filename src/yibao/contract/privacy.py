"""Masking personal information (个人信息去标识化) for display and export.

- 身份证号: the first 6 and last 4 characters kept, ``*`` for each character between
  (``110101199003070066`` → ``110101********0066``); 10 characters or fewer: all ``*``.
- name (姓名): the first character kept, ``*`` for each other (``张三丰`` → ``张**``; ``张三`` → ``张*``).
- phone: the first 3 and last 4 kept.
"""

from __future__ import annotations


def mask_id_number(value: str | None) -> str | None:
    if value is None:
        return None
    s = str(value)
    if len(s) <= 10:
        return "*" * len(s)
    return s[:6] + "*" * (len(s) - 10) + s[-4:]


def mask_name(value: str | None) -> str | None:
    if value is None:
        return None
    s = str(value)
    return s[:1] + "*" * (len(s) - 1)


def mask_phone(value: str | None) -> str | None:
    if value is None:
        return None
    s = str(value)
    if len(s) <= 7:
        return "*" * len(s)
    return s[:3] + "*" * (len(s) - 7) + s[-4:]
