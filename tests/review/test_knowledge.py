"""The knowledge base (知识库, K01–K08): each rule kind on hand-made cases with near misses, bad tables refused with
every bad row named, and a knowledge base that reproduces built-in catalogue rules (L06, L07, L09)."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from yibao.contract.errors import BadPolicy
from yibao.review.check import Checker
from yibao.review.knowledge import apply_knowledge, read_knowledge
from yibao.review.ruleset import load_rules
from yibao.review.run import run

from .builder import Region

M = Decimal
ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "data" / "knowledge" / "bad"
EXAMPLE = ROOT / "examples" / "knowledge"


def kb(tmp_path: Path, **tables: str) -> Path:
    d = tmp_path / "kb"
    d.mkdir(exist_ok=True)
    for name, text in tables.items():
        (d / f"{name}.csv").write_text(text, encoding="utf-8")
    return d


def findings(r: Region, d: Path, *rule_ids: str) -> list[tuple]:
    rs = apply_knowledge(load_rules(), d).only(*rule_ids)
    t = r.tables()
    periods = t.pop("qualification_periods")
    return [(f["case_id"], f["line_no"], f["rule_id"], f["amount"], f["message"])
            for f in run(t, rs, periods=periods).findings.to_pylist()]


def test_sex_limit(tmp_path):
    d = kb(tmp_path, sex_limit="id,item_code,sex,source\nS1,PSA,1,国家规则库 限性别 0001\n")
    r = Region()
    r.case("MAN", person="M60", setting="outpatient").line("MAN", "PSA", "2024-07-01", "1", "60.00")
    r.case("WOMAN", person="F30", setting="outpatient").line("WOMAN", "PSA", "2024-07-01", "1", "60.00")
    f = findings(r, d, "K01")
    assert f == [("WOMAN", 2, "K01", M("60.00"),
                  "前列腺特异性抗原测定 限男性使用（知识库 S1，出处：国家规则库 限性别 0001），参保人性别为女，金额 60.00 元")]


def test_children_only_item_at_the_age_limit(tmp_path):
    d = kb(tmp_path, age_limit="id,item_code,min_age,max_age,source\nA1,KID,,5,限儿童\n")
    r = Region()  # K05 is 5 on 2024-07-01 (born 2019-05-01): at the limit, not flagged
    r.case("CHILD", person="K05", setting="outpatient").line("CHILD", "KID", "2024-07-01", "1", "12.00")
    r.case("ADULT", person="F30", setting="outpatient").line("ADULT", "KID", "2024-07-01", "1", "12.00")
    r.case("SIX", person="K05", setting="outpatient", admit="2025-05-01").line("SIX", "KID", "2025-05-01", "1", "12.00")
    f = findings(r, d, "K02")
    assert [(c, n, a) for c, n, _, a, _ in f] == [("ADULT", 2, M("12.00")), ("SIX", 2, M("12.00"))]
    assert f[1][4] == "小儿氨酚黄那敏颗粒 限定年龄 –5 岁（知识库 A1，出处：限儿童），患者 6 岁，金额 12.00 元"


def test_duplicate_pair_within_the_window(tmp_path):
    d = kb(tmp_path, duplicate_pairs="id,item_code,other_code,window_days,source\n"
                                     "D1,ICU,ICUBED,0,价格规范：重症监护已含床位\nD2,TRANS,TRANS,2,重复输血\n")
    r = Region()
    r.case("S", daily=False, discharge="2024-07-08")
    r.line("S", "ICU", "2024-07-01", "1", "480.00")
    r.line("S", "ICUBED", "2024-07-01", "1", "260.00")   # same day as ICU: flagged
    r.line("S", "ICUBED", "2024-07-02", "1", "260.00")   # a day later, window 0: not flagged
    r.line("S", "TRANS", "2024-07-03", "1", "25.00")     # the first transfusion: not flagged
    r.line("S", "TRANS", "2024-07-05", "1", "25.00")     # 2 days later, at the window: flagged
    r.line("S", "TRANS", "2024-07-08", "1", "25.00")     # 3 days after the previous one: not flagged
    f = findings(r, d, "K03")
    assert [(n, a) for _, n, _, a, _ in f] == [(2, M("260.00")), (5, M("25.00"))]
    assert f[1][4] == ("输血（2024-07-05）与第 4 条 输血（2024-07-03）相隔不超过 2 天，重复收费（知识库 D2，出处：重复输血），"
                       "金额 25.00 元")


def test_setting_level_and_scheme_limits(tmp_path):
    d = kb(tmp_path, setting_limit="id,item_code,settings,source\nT1,BED,inpatient,设施标准\n",
           level_limit="id,item_code,min_level,max_level,source\nV1,MERO,2,,分级使用\nV2,REG,,2,基层门诊\n",
           scheme_limit="id,item_code,schemes,source\nC1,GA,employee,本地规则\n")
    r = Region()
    r.case("OUTBED", setting="outpatient").line("OUTBED", "BED", "2024-07-01", "1", "80.00")       # K04
    r.case("L1", inst="H1", setting="outpatient").line("L1", "MERO", "2024-07-01", "1", "62.00")   # K05 min 2
    r.case("L2", inst="H2", setting="outpatient").line("L2", "MERO", "2024-07-01", "1", "62.00")   # level 2: ok
    r.case("RES", person="K05", setting="outpatient", scheme="resident").line("RES", "GA", "2024-07-01", "1", "1600.00")
    r.case("EMP", setting="outpatient").line("EMP", "GA", "2024-07-01", "1", "1600.00")            # employee: ok
    f = findings(r, d, "K04", "K05", "K06")
    got = [(c, n, k) for c, n, k, _, _ in f]
    # REG at H3 (level 3) is above V2's max level 2: every outpatient visit of H3 has its REG line flagged
    assert ("OUTBED", 2, "K04") in got and ("L1", 2, "K05") in got and ("RES", 2, "K06") in got
    assert not [g for g in got if g[0] in ("L2", "EMP") and g[2] != "K05"]
    assert ("L2", 2, "K05") not in got and ("L2", 1, "K05") not in got   # level 2 within both ranges
    assert {(c, n) for c, n, k in got if k == "K05"} == {("L1", 2), ("OUTBED", 1), ("RES", 1), ("EMP", 1)}
    msg = {(c, k): m for c, _, k, _, m in f}
    assert msg[("OUTBED", "K04")] == ("普通病房床位费 限住院使用（知识库 T1，出处：设施标准），本次为门诊，金额 80.00 元")
    assert msg[("L1", "K05")] == ("注射用美罗培南 限 2– 级医疗机构使用（知识库 V1，出处：分级使用），本机构为 1 级，"
                                  "金额 62.00 元")
    assert msg[("RES", "K06")] == ("全身麻醉 限职工医保支付（知识库 C1，出处：本地规则），本次险种为城乡居民，金额 1600.00 元")


def test_course_limit_days_past_the_limit(tmp_path):
    d = kb(tmp_path, course_limit="id,item_code,max_days,source\nR1,DANHONG,3,说明书 疗程\n")
    r = Region()
    r.case("S", discharge="2024-07-06", daily=False)
    for day in ("2024-07-01", "2024-07-02", "2024-07-03"):          # 3 days: at the limit
        r.line("S", "DANHONG", day, "1", "52.00")
    r.line("S", "DANHONG", "2024-07-03", "1", "52.00")              # a second line on day 3: still day 3
    r.line("S", "DANHONG", "2024-07-05", "1", "52.00")              # day 4: flagged
    f = findings(r, d, "K07")
    assert [(n, a) for _, n, _, a, _ in f] == [(5, M("52.00"))]
    assert f[0][4] == ("丹红注射液 本次计费 4 天，超过限定天数 3 天（知识库 R1，出处：说明书 疗程），2024-07-05（第 4 天）的 "
                       "52.00 元不予支付")


def test_frequency_per_day_per_stay_and_per_window(tmp_path):
    d = kb(tmp_path, frequency_limit="id,item_code,max_qty,per,window_days,source\n"
                                     "F1,OXY,24,day,,每日 24 小时\nF2,GA,1,stay,,每次住院 1 次\n"
                                     "F3,TRANS,4,window,3,3 天内 4 单位\n")
    r = Region()
    r.case("S", discharge="2024-07-08", daily=False)
    r.line("S", "OXY", "2024-07-01", "20", "3.00")
    r.line("S", "OXY", "2024-07-01", "4", "3.00")       # 24 that day: at the limit
    r.line("S", "OXY", "2024-07-02", "25", "3.00")      # one hour over: 3.00
    r.line("S", "GA", "2024-07-01", "1", "1600.00")
    r.line("S", "GA", "2024-07-05", "1", "1600.00")     # the second of the stay: 1600.00
    r.line("S", "TRANS", "2024-07-01", "2", "25.00")
    r.line("S", "TRANS", "2024-07-03", "2", "25.00")    # 4 in 3 days (07-01..07-03): at the limit
    r.line("S", "TRANS", "2024-07-04", "2", "25.00")    # 07-02..07-04: 4, at the limit (07-01 fell out)
    r.line("S", "TRANS", "2024-07-04", "1", "25.00")    # 5: one unit over, 25.00
    f = findings(r, d, "K08")
    assert [(n, a) for _, n, _, a, _ in f] == [(3, M("3.00")), (5, M("1600.00")), (9, M("25.00"))]
    assert f[0][4] == ("氧气吸入 每日累计数量 25 超过限定 24（知识库 F1，出处：每日 24 小时），2024-07-02 本条超出部分 3.00 元")
    assert "3 天内累计数量 5 超过限定 4" in f[2][4]


def test_the_checker_uses_the_knowledge_base_both_ways(tmp_path):
    d = kb(tmp_path, sex_limit="id,item_code,sex,source\nS1,PSA,1,规则库\n",
           frequency_limit="id,item_code,max_qty,per,window_days,source\nF1,OXY,24,day,,规则库\n")
    r = Region()
    t = r.tables()
    ch = Checker(t["catalog"], t["institutions"], apply_knowledge(load_rules(), d))
    case = {"case_id": "RX", "person_id": "F30", "institution_id": "H3", "sex": "2", "age_years": 30,
            "admit_date": "2024-07-01", "principal_dx": "J18.900",
            "lines": [{"item_code": "PSA", "item_name": "前列腺特异性抗原测定", "quantity": "1", "unit_price": "60.00"},
                      {"item_code": "OXY", "item_name": "氧气吸入", "quantity": "30", "unit_price": "3.00"}]}
    fast, sql = ch.check(case), ch.check(case, method="sql")
    assert fast == sql
    assert {(x["line_no"], x["rule_id"], x["amount"]) for x in fast["findings"] if x["rule_id"][0] == "K"} == {
        (1, "K01", "60.00"), (2, "K08", "18.00")}


def test_every_bad_row_is_named_and_nothing_is_loaded():
    with pytest.raises(BadPolicy) as e:
        read_knowledge(BAD)
    msg = str(e.value)
    for part in ("未知的知识库表 sex_limits.csv",
                 "sex_limit.csv 第 3 行：列 sex：应为 1（男）或 2（女），实际为 'M'",
                 "sex_limit.csv 第 4 行：列 source：不能为空",
                 "sex_limit.csv 第 5 行：编号 S1 与 sex_limit.csv 第 2 行 重复",
                 "age_limit.csv 第 2 行：列 min_age、max_age 至少填一个",
                 "age_limit.csv 第 3 行：min_age 10 大于 max_age 5",
                 "frequency_limit.csv 第 2 行：列 per：应为 day（每日）、stay（每次就诊）或 window（N 天内），实际为 'week'",
                 "frequency_limit.csv 第 3 行：列 window_days：应为整数，实际为 ''",
                 "frequency_limit.csv 第 4 行：列 max_qty：应为正数、最多 4 位小数，实际为 '0'",
                 "level_limit.csv 第 1 行：表头缺少列 max_level",
                 "duplicate_pairs.csv 第 3 行：item_code、other_code ICU/ICUBED 与第 2 行重复"):
        assert part in msg, (part, msg)
    assert msg.startswith(f"知识库 {BAD}：11 处问题：未知的知识库表 sex_limits.csv")


def test_the_command_refuses_a_bad_knowledge_base_with_exit_2(tmp_path):
    cmd = [sys.executable, "-m", "yibao.cli", "check", str(tmp_path / "rx.json"), "--catalog",
           str(tmp_path / "catalog.csv"), "--knowledge", str(BAD)]
    (tmp_path / "rx.json").write_text("{}", encoding="utf-8")
    (tmp_path / "catalog.csv").write_text("item_code\n", encoding="utf-8")
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT / "src"),
                                                                            "PATH": "/usr/bin:/bin"})
    assert p.returncode == 2, p.stderr
    assert "错误：知识库" in p.stderr and "sex_limit.csv 第 3 行" in p.stderr


def test_the_example_knowledge_base_loads():
    tables = read_knowledge(EXAMPLE)
    assert sorted(tables) == ["K01", "K02", "K03", "K04", "K05", "K06", "K07", "K08"]
    assert tables["K01"]["kb_item"][0] == "002503139390000" and tables["K08"]["kb_per"] == ["day", "stay", "window"]


@pytest.fixture(scope="module")
def synth_region(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "region"
    subprocess.run([sys.executable, "-m", "yibao.cli", "synth", "--out", str(out), "--seed", "5", "--cases", "3000"],
                   check=True, capture_output=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    return out


def test_a_knowledge_base_from_the_catalogue_gives_the_built_in_rules_findings(synth_region, tmp_path):
    # the catalogue's own sex, age and level limits written as knowledge tables: K01/K02/K05 find exactly the lines
    # (and amounts) of L06/L07/L09
    from yibao.engine.loading import load_region
    from yibao.review.run import run_workspace

    by_code: dict[str, list[dict]] = {}
    for r in csv.DictReader((synth_region / "catalog.csv").open(encoding="utf-8")):
        by_code.setdefault(r["item_code"], []).append(r)
    limits = ("sex_limit", "min_age", "max_age", "min_level")
    # a code's versions (price changes) keep its limits: one row per item code says the same
    assert all(len({tuple(v[c] for c in limits) for v in vs}) == 1 for vs in by_code.values())
    rows = [vs[0] for _, vs in sorted(by_code.items())]
    d = tmp_path / "kb"
    d.mkdir()
    with (d / "sex_limit.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "item_code", "sex", "source"])
        w.writerows([f"X{i}", r["item_code"], r["sex_limit"], "目录 sex_limit"] for i, r in enumerate(rows) if r["sex_limit"])
    with (d / "age_limit.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "item_code", "min_age", "max_age", "source"])
        w.writerows([f"Y{i}", r["item_code"], r["min_age"], r["max_age"], "目录 min_age/max_age"]
                    for i, r in enumerate(rows) if r["min_age"] or r["max_age"])
    with (d / "level_limit.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "item_code", "min_level", "max_level", "source"])
        w.writerows([f"Z{i}", r["item_code"], r["min_level"], "", "目录 min_level"] for i, r in enumerate(rows) if r["min_level"])
    ws = tmp_path / "ws"
    load_region(synth_region, ws)
    rs = apply_knowledge(load_rules(), d).only("L06", "L07", "L09", "K01", "K02", "K05")
    f = run_workspace(ws, rs).findings.to_pylist()
    pairs = {"L06": "K01", "L07": "K02", "L09": "K05"}
    for built_in, k in pairs.items():
        a = sorted((x["case_id"], x["line_no"], x["amount"]) for x in f if x["rule_id"] == built_in)
        b = sorted((x["case_id"], x["line_no"], x["amount"]) for x in f if x["rule_id"] == k)
        assert a == b, built_in
    assert sum(1 for x in f if x["rule_id"] == "L06") > 0 and sum(1 for x in f if x["rule_id"] == "L07") > 0
    shutil.rmtree(ws)


def test_the_review_command_with_the_example_knowledge_base(synth_region, tmp_path):
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "yibao.cli", "review", "--data", str(synth_region), "--out", str(out),
                        "--knowledge", str(EXAMPLE)], capture_output=True, text=True, cwd=ROOT,
                       env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr
    rows = list(csv.DictReader((out / "findings.csv").open(encoding="utf-8-sig")))
    k = [r for r in rows if r["rule_id"].startswith("K")]
    assert k and all("（知识库 KB-" in r["message"] and "出处：" in r["message"] for r in k)
    enabled = {r["rule_id"]: r["enabled"] for r in csv.DictReader((out / "rules.csv").open(encoding="utf-8-sig"))}
    assert {enabled[f"K0{i}"] for i in range(1, 9)} == {"1"}


def test_a_rule_switched_off_by_the_region_stays_off_with_its_table(tmp_path):
    """A knowledge table fills its K rule and switches it on — unless the region's rule file said enabled = false:
    then it stays off, the table's parameters are still read, and the run says so once."""
    d = kb(tmp_path, sex_limit="id,item_code,sex,source\nS1,PSA,1,国家规则库 限性别 0001\n")
    local = tmp_path / "local.toml"
    local.write_text("[rules.K01]\nenabled = false\n", encoding="utf-8")
    on = apply_knowledge(load_rules(), d)
    off = apply_knowledge(load_rules(local), d)
    assert on.by_id("K01").enabled and on.notes == ()
    assert not off.by_id("K01").enabled and off.switched_off == ("K01",)
    assert off.by_id("K01").params == on.by_id("K01").params
    assert off.notes == ("注意：知识库目录给出了规则 K01 的表，但本地规则文件已停用该规则，按停用处理",)
    r = Region()
    r.case("WOMAN", person="F30", setting="outpatient").line("WOMAN", "PSA", "2024-07-01", "1", "60.00")
    t = r.tables()
    periods = t.pop("qualification_periods")
    assert [f["rule_id"] for f in run(t, on, periods=periods).findings.to_pylist()].count("K01") == 1
    assert [f["rule_id"] for f in run(t, off, periods=periods).findings.to_pylist()].count("K01") == 0
