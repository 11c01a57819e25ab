"""contract.params: one declaration per parameter → checks, typed values, sources, defaults file, docs table."""

from __future__ import annotations

import tomllib
from decimal import Decimal

import pytest

from yibao.contract.errors import BadPolicy
from yibao.contract.params import Param, ParamTable, PolicyFileError
from yibao.contract.params import kinds as K

T = ParamTable(
    name="demo", title="示例", doc="docs/x.md",
    params=(
        Param("year", 2025, K.integer(2000, 2100), "本地规则", "结算年度"),
        Param("scoring.high_ratio", "2", K.decimal("1", "100"), "偏差病例（DOMAIN.md）", "高倍率界限", "倍"),
        Param("scoring.low_ratio", "0.5", K.decimal("0", "1"), "偏差病例（DOMAIN.md）", "低倍率界限", "倍"),
        Param("scoring.mode", "fund", K.choice("fund", "total_cost"), "本地规则", "口径"),
        Param("scoring.level_coefficient", {"3": "1", "2": "1"}, K.decimal_map(("3", "2"), "0", "10"),
              "医保发〔2021〕48号", "等级系数"),
        Param("catalogue.years", [], K.integer_list(1900, 3000, ascending=True), "DIP 技术规范", "历史年度"),
        Param("catalogue.on", True, K.boolean(), "本地规则", "开关"),
    ),
    checks=(lambda v: None if v["scoring.low_ratio"] < v["scoring.high_ratio"] else "scoring.low_ratio 应小于 high_ratio",),
)


def write(tmp_path, text):
    p = tmp_path / "p.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults_typed_and_sourced():
    v = T.defaults()
    assert v["scoring.high_ratio"] == Decimal("2.0000") and v["year"] == 2025
    assert v["scoring.level_coefficient"] == {"3": Decimal("1.0000"), "2": Decimal("1.0000")}
    assert v.source("scoring.high_ratio") == "默认值（偏差病例（DOMAIN.md））"
    assert v.section("scoring")["mode"] == "fund" and v.ns("scoring").low_ratio == Decimal("0.5000")


def test_file_overrides_and_map_merges(tmp_path):
    p = write(tmp_path, 'year = 2026\nother = 1\n[scoring]\nhigh_ratio = "3"\n[scoring.level_coefficient]\n"3" = "1.2"\n'
                        '[budget]\nx = 1\n')
    v = T.load(p)
    assert v["year"] == 2026 and v["scoring.high_ratio"] == Decimal("3.0000")
    assert v["scoring.level_coefficient"] == {"3": Decimal("1.2000"), "2": Decimal("1.0000")}
    assert v.source("scoring.high_ratio") == "p.toml [scoring] high_ratio" and v.source("year") == "p.toml year"
    assert ("scoring.level_coefficient.3", "1.2000", "p.toml [scoring] level_coefficient") in v.rows()


def test_every_problem_at_once(tmp_path):
    p = write(tmp_path, '[scoring]\nhigh_ratio = "abc"\nlow_ratio = 2\nmode = "x"\nnope = 1\n'
                        '[scoring.level_coefficient]\n"9" = "1"\n[catalogue]\nyears = [2025, 2024]\n')
    with pytest.raises(PolicyFileError) as e:
        T.load(p)
    assert isinstance(e.value, BadPolicy) and e.value.exit_code == 2
    assert len(e.value.problems) == 6, e.value.problems
    msg = str(e.value)
    assert msg.startswith(f"{p}: 6 处问题：") and "scoring.nope 不是已知的参数（见 docs/x.md）" in msg
    assert "scoring.high_ratio 不是数字：'abc'" in msg and "scoring.low_ratio 超出允许范围 0–1：2" in msg
    assert "scoring.mode 应为 fund / total_cost 之一" in msg and "[scoring.level_coefficient] 未知的键：9" in msg
    assert "catalogue.years 应从小到大、不重复" in msg


def test_cross_check_and_one_problem(tmp_path):
    p = write(tmp_path, '[scoring]\nlow_ratio = "1"\nhigh_ratio = "1"\n')
    with pytest.raises(PolicyFileError) as e:
        T.load(p)
    assert str(e.value) == f"{p}: scoring.low_ratio 应小于 high_ratio"


def test_unreadable_file_and_bad_default(tmp_path):
    with pytest.raises(PolicyFileError, match="政策文件不存在"):
        T.load(tmp_path / "missing.toml")
    with pytest.raises(ValueError, match="default of x.y is invalid"):
        ParamTable("bad", "坏", (Param("x.y", "2", K.decimal("0", "1"), "s", "z"),))
    with pytest.raises(ValueError, match="declared twice"):
        ParamTable("dup", "重", (Param("a", 1, K.integer(), "s", "z"), Param("a", 1, K.integer(), "s", "z")))


def test_defaults_toml_reads_back_to_the_defaults(tmp_path):
    text = T.defaults_toml()
    raw = tomllib.loads(text)
    assert raw["scoring"]["level_coefficient"] == {"3": "1", "2": "1"} and raw["year"] == 2025
    assert "# 高倍率界限（倍） — 偏差病例（DOMAIN.md）" in text
    assert T.load(write(tmp_path, text)).values == T.defaults().values


def test_markdown_table():
    md = T.markdown()
    assert md.splitlines()[0] == "| 参数 | 含义 | 类型 | 默认值 | 单位 | 来源 |"
    assert "| `scoring.high_ratio` | 高倍率界限 | 小数（1–100，至多 4 位） | 2 | 倍 | 偏差病例（DOMAIN.md） |" in md
