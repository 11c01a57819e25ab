"""Reading policy files (政策文件, TOML): one set of checks for every capability's parameters.

Each capability keeps its own error class (a :class:`~yibao.contract.reasons.FatalLoadError`, so a bad
value ends in one line naming the file and the key); the reading and the checks are here.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal, InvalidOperation
from pathlib import Path

from yibao.contract.reasons import FatalLoadError


def read_toml(path: Path | str, error: type[FatalLoadError] = FatalLoadError) -> dict:
    """The file's TOML tables; a missing, unreadable or malformed file stops with one line."""
    where = str(path)
    try:
        with Path(path).open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise error(where, "政策文件不存在") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(where, f"不是有效的 TOML：{exc}") from None
    except UnicodeDecodeError:
        raise error(where, "不是 UTF-8 编码的文本文件") from None
    except OSError as exc:
        raise error(where, f"无法读取政策文件：{exc.strerror or exc}") from None


def decimal_param(where: str, key: str, value: object, lo: Decimal | None = None, hi: Decimal | None = None,
                  places: int = 4, error: type[FatalLoadError] = FatalLoadError) -> Decimal:
    """An exact decimal (a string such as ``"0.85"``, an integer, or a TOML float taken as written)
    within [lo, hi] with at most ``places`` decimals, quantized to them."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise error(where, f"{key} 应为数字（写成字符串，例如 \"0.85\"），实际为 {value!r}")
    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise error(where, f"{key} 不是数字：{value!r}") from None
    if not d.is_finite():
        raise error(where, f"{key} 不是有限数字：{value!r}")
    if lo is not None and d < lo or hi is not None and d > hi:
        raise error(where, f"{key} 超出允许范围 {lo}–{hi if hi is not None else '∞'}：{value}")
    if d != d.quantize(Decimal(1).scaleb(-places)):
        raise error(where, f"{key} 小数超过 {places} 位：{value}")
    return d.quantize(Decimal(1).scaleb(-places))


def int_param(where: str, key: str, value: object, lo: int, hi: int,
              error: type[FatalLoadError] = FatalLoadError) -> int:
    """A whole number (not a boolean) within [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(where, f"{key} 应为整数，实际为 {value!r}")
    if not lo <= value <= hi:
        raise error(where, f"{key} 超出允许范围 {lo}–{hi}：{value}")
    return value
