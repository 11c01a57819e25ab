"""Bad [split], [cycle], [clearing] sections: one line naming the key, nothing written.

The sections are checked when the policy file is read (``load_policy``), so every command that
reads a policy (``yibao budget`` today) stops before writing anything.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli

from budget.year_example import policy_text
from yibao.budget.policy import PolicyError, load_policy, section_sources

BAD = [
    # a missing key
    ("[[clearing.over_bands]]\nupto = \"0.05\"\n[[clearing.over_bands]]\nfund_share = \"0\"\n",
     "clearing.over_bands[1] 缺少 fund_share"),
    ("[[split.adjustments]]\npot = \"employee.inpatient\"\nfrom_institution = \"A\"\nto_institution = \"B\"\nnote = \"x\"\n",
     "split.adjustments[1] 缺少 amount"),
    # a negative amount
    (("[[split.adjustments]]\npot = \"employee.inpatient\"\nfrom_institution = \"A\"\nto_institution = \"B\"\n"
      "amount = \"-100.00\"\nnote = \"x\"\n"), "split.adjustments[1].amount 不能为负数"),
    ("[cycle]\nturnover_rate = \"-0.01\"\n", "cycle.turnover_rate 超出允许范围"),
    # a rate above 1
    ("[cycle]\ndeposit_rate = \"1.5\"\n", "cycle.deposit_rate 超出允许范围 0–1"),
    ("[split.primary_floor]\noutpatient = \"1.2\"\n", "split.primary_floor.outpatient 超出允许范围 0–1"),
    ("[[clearing.over_bands]]\nfund_share = \"1.01\"\n", "clearing.over_bands[1].fund_share 超出允许范围"),
    # text in a number
    ("[split]\nbasis_visits = \"三成\"\n", "split.basis_visits 不是数字"),
    ("[split]\nhistory_weights = [\"1\", \"two\", \"7\"]\n", "split.history_weights[2] 不是数字"),
    ("[clearing.scores]\nH001 = \"优秀\"\n", "clearing.scores.H001 不是数字"),
    # structure
    ("[split]\nbasis_fund_paid = \"0.5\"\n", "之和应为 1"),
    ("[cycle]\nseasonality = \"weekly\"\n", "cycle.seasonality 应为 flat / last_year 之一"),
    ("[cycle]\nmidyear_month = 12\n", "cycle.midyear_month 应为 0–11 的整数"),
    ("[cycle]\ndeposit_rate = \"0.6\"\nclearing_rate = \"0.5\"\n", "cycle.deposit_rate + cycle.clearing_rate 超过 1"),
    ("[clearing]\nbonus = \"1\"\n", "[clearing] 未知的键：bonus"),
    (("[[clearing.over_bands]]\nupto = \"0.10\"\nfund_share = \"0.5\"\n[[clearing.over_bands]]\nupto = \"0.05\"\n"
      "fund_share = \"0.6\"\n[[clearing.over_bands]]\nfund_share = \"0\"\n"), "clearing.over_bands[2].upto 应大于上一档"),
    ("[[clearing.deposit_return]]\nmin_score = \"60\"\nshare = \"1\"\n", "最后一档的 min_score 应为 0"),
    (("[[split.adjustments]]\npot = \"employee.inpatient\"\nfrom_group = \"a\"\nto_group = \"b\"\namount = \"1.00\"\n"
      "note = \"x\"\n"), "split.adjustments[1].from_group 需要 split.groups = true"),
    (("[[split.adjustments]]\npot = \"staff.inpatient\"\nfrom_institution = \"A\"\nto_institution = \"B\"\n"
      "amount = \"1.00\"\nnote = \"x\"\n"), "split.adjustments[1].pot 应为"),
]


@pytest.mark.parametrize("section, needle", BAD, ids=[n.split(" ")[0] for _, n in BAD])
def test_bad_section_is_one_line_naming_the_key(tmp_path: Path, section: str, needle: str) -> None:
    p = tmp_path / "policy.toml"
    p.write_text(policy_text(section), encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        load_policy(p)
    msg = str(err.value)
    assert needle in msg and "\n" not in msg and msg.startswith(str(p))


@pytest.mark.parametrize("section, needle", [BAD[0], BAD[2], BAD[4], BAD[7]], ids=["missing", "negative", "rate", "text"])
def test_cli_stops_before_writing(tmp_path: Path, section: str, needle: str) -> None:
    p = tmp_path / "policy.toml"
    p.write_text(policy_text(section), encoding="utf-8")
    out = tmp_path / "out"
    r = run_cli("budget", "--policy", p, "--out", out)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr and needle in r.stderr
    assert not out.exists()


def test_defaults_name_their_source_and_the_policy_file_wins(tmp_path: Path) -> None:
    p = tmp_path / "policy.toml"
    p.write_text(policy_text("[cycle]\ndeposit_rate = \"0.08\"\n"), encoding="utf-8")
    sec = load_policy(p).sections
    assert str(sec.cycle.deposit_rate) == "0.08" and sec.sources["cycle.deposit_rate"] == "policy.toml [cycle] deposit_rate"
    assert "三（七）" in sec.sources["cycle.clearing_rate"]
    assert "70号" in sec.sources["clearing.over_bands"] and "70号" in sec.sources["split.history_weights"]
    src = section_sources()
    # every default of the three sections names a source
    import tomllib

    from yibao.budget.policy import DEFAULTS_FILE

    d = tomllib.loads(DEFAULTS_FILE.read_text(encoding="utf-8"))
    for name in ("split", "cycle", "clearing"):
        for k, v in d[name].items():
            keys = [f"{name}.{k}.{kk}" for kk in v] if isinstance(v, dict) else [f"{name}.{k}"]
            for key in keys:
                assert src.get(key, "").startswith("默认值："), key
