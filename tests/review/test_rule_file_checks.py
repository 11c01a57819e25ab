"""Rule files (issue 13 §4): a region's rule file that would be silently misread is refused, naming the file,
the rule and the key; every problem of the file is reported at once."""

from __future__ import annotations

import pytest
from conftest import run_cli

from yibao.contract.errors import BadPolicy
from yibao.review.ruleset import RuleError, load_rules


def _file(tmp_path, text: str):
    p = tmp_path / "local.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_enabled_as_a_string_is_refused_not_silently_ignored(tmp_path):
    p = _file(tmp_path, '[rules.L02]\nenabled = "false"\n')
    with pytest.raises(RuleError) as e:
        load_rules(p)
    msg = str(e.value)
    assert str(p) in msg and "规则 L02 键 enabled" in msg and "'false'" in msg
    assert isinstance(e.value, BadPolicy) and e.value.exit_code == 2
    # the boolean works
    assert not load_rules(_file(tmp_path, "[rules.L02]\nenabled = false\n")).by_id("L02").enabled


def test_negative_thresholds_are_refused(tmp_path):
    with pytest.raises(RuleError, match="规则 C04 参数 max_gap_days：阈值不能为负数（-3）"):
        load_rules(_file(tmp_path, "[rules.C04.params]\nmax_gap_days = -3\n"))
    with pytest.raises(RuleError, match="规则 L16 参数 min_price_ratio：阈值不能为负数"):
        load_rules(_file(tmp_path, '[rules.L16.params]\nmin_price_ratio = "-0.70"\n'))


def test_a_float_names_the_rule_and_the_key(tmp_path):
    with pytest.raises(RuleError, match="规则 L16 参数 min_price_ratio：0.7 是浮点数"):
        load_rules(_file(tmp_path, "[rules.L16.params]\nmin_price_ratio = 0.7\n"))


def test_all_problems_of_a_file_at_once(tmp_path):
    p = _file(tmp_path, '[rules.L02]\nenabled = "no"\n[rules.C04.params]\nmax_gap_days = -1\n'
                        '[rules.L16.params]\nmin_price_ratio = 0.5\n[rules.NOPE]\nenabled = false\n')
    with pytest.raises(RuleError) as e:
        load_rules(p)
    msg = str(e.value)
    assert "4 处问题" in msg
    for part in ("规则 L02 键 enabled", "规则 C04 参数 max_gap_days", "规则 L16 参数 min_price_ratio",
                 "没有编号为 NOPE 的规则"):
        assert part in msg, part
    assert "\n" not in msg


def test_the_cli_prints_one_line_and_exits_2(tmp_path):
    p = _file(tmp_path, '[rules.L02]\nenabled = "false"\n[rules.C04.params]\nmax_gap_days = -3\n')
    case = tmp_path / "c.json"
    case.write_text('{"admit_date": "2025-03-01", "lines": [{"item_code": "X", "quantity": "1", '
                    '"unit_price": "1.00"}]}', encoding="utf-8")
    cat = tmp_path / "catalog.csv"
    cat.write_text("item_code,item_name,item_kind,class,valid_from\nX,x,drug,A,2020-01-01\n", encoding="utf-8")
    r = run_cli("check", case, "--catalog", cat, "--rules", p)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert "规则 L02 键 enabled" in lines[0] and "规则 C04 参数 max_gap_days" in lines[0]
