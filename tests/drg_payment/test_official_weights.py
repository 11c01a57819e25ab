"""Official DRG weights (``yibao drg settle --weights``): read as published, checked, settled — by hand."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from openpyxl import Workbook

from yibao.contract.reasons import FatalLoadError
from yibao.drg.mini import mini_standards
from yibao.drg.payment import DRG_PAYMENT
from yibao.drg.policy import load_payment_policy
from yibao.drg.settlement import settle_drg_year
from yibao.drg.weights import check_weights, official_weights, read_weights
from yibao.engine.runner import LocalRunner

from .test_payment import Bands

# three DRGs, as a city publishes them (GB18030, Chinese headers): GB19 with a payment standard, ES33 with a weight
# only, XX99 listed as paid by item; the example region's B5 falls into XX99
TABLE = "DRG编码,DRG名称,RW,支付标准\nGB19,胆囊切除术伴粘连松解,2.0,20000\nES33,呼吸系统感染,0.8,\nXX99,其他,按项目据实支付,\n"


@pytest.fixture
def table(tmp_path):
    p = tmp_path / "权重.csv"
    p.write_bytes(TABLE.encode("gb18030"))
    return p


def test_read_as_published(table):
    w = read_weights(table)
    assert [(r.drg, r.weight, r.standard) for r in w.rows.values()] == [
        ("GB19", D("2.0"), D("20000")), ("ES33", D("0.8"), None), ("XX99", None, None)]
    assert w.version.startswith("official:权重.csv:")


def test_excel_with_a_title_row(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["某市 2025 年 DRG 权重表"])
    ws.append(["DRG代码", "分组名称", "相对权重"])
    ws.append(["GB19", "胆囊切除术", 2.0])
    ws.append(["ES33", "呼吸系统感染", "0.8000"])
    wb.save(tmp_path / "w.xlsx")
    w = read_weights(tmp_path / "w.xlsx")
    assert {k: r.weight for k, r in w.rows.items()} == {"GB19": D("2.0"), "ES33": D("0.8000")}


@pytest.mark.parametrize("text, expected", [
    ("DRG编码,RW\nGB19,2\nGB19,3\n", ["第 3 行", "GB19 重复", "第 2 行"]),
    ("DRG编码,RW\nGB19,2.12345\n", ["第 2 行", "2.12345", "至多 4 位小数"]),
    ("DRG编码,RW\nGB19,0\n", ["第 2 行", "应大于 0"]),
    ("DRG编码,RW\nGB19,\n", ["第 2 行", "应大于 0"]),
    ("编码,分值\nGB19,2\n", ["找不到表头"]),
    ("DRG编码,RW\ngb 19,2\n", ["第 2 行", "格式不对"]),
])
def test_bad_tables_name_the_line(tmp_path, text, expected):
    p = tmp_path / "w.csv"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(FatalLoadError) as exc:
        read_weights(p)
    for part in expected:
        assert part in str(exc.value), str(exc.value)


def test_check_reports_unknown_and_missing(tmp_path):
    p = tmp_path / "w.csv"
    p.write_text("DRG编码,DRG名称,RW\nGZ11,消化系统疾患，伴严重并发症或合并症,1.5\nQQ99,不存在的组,1\n", encoding="utf-8")
    problems = check_weights(read_weights(p), mini_standards(), {"GZ11": 4, "GZ15": 2})
    assert [(x["kind"], x["drg"], x["cases"]) for x in problems] == [("unknown_drg", "QQ99", 0),
                                                                    ("missing_weight", "GZ15", 2)]


def test_settlement_with_three_official_weights_by_hand(table):
    from yibao.drg.pipelines import payment_fixture

    src = payment_fixture()  # the example region; its history weights lend ES33's average cost 4 444.44
    weights = official_weights(read_weights(table), src["drg_weights"])
    by = {r["group_id"]: r for r in weights.to_pylist()}
    # the DRG's standard cost: the payment standard (GB19), else the history's average cost (ES33), none for XX99
    assert (by["GB19"]["relative"], by["GB19"]["avg_cost"]) == (D("2.0000"), D("20000.00"))
    assert (by["ES33"]["relative"], by["ES33"]["avg_cost"]) == (D("0.8000"), D("4444.44"))
    assert (by["XX99"]["relative"], by["XX99"]["avg_cost"]) == (None, None)
    out = LocalRunner().run_pipeline(DRG_PAYMENT, {**src, "drg_weights": weights})
    c = {r["case_id"]: r for r in out["drg_case_pay"].to_pylist()}
    # B1 (H3, level 3, coefficient 1.1): GB19, 40 000 is within 3 × 20 000 → normal: 2.0 × 1.1 = 2.2
    assert (c["B1"]["outlier"], c["B1"]["case_weight"]) == ("normal", D("2.2000"))
    # B2 (H2, coefficient 1): ES33, 1 000 < 0.4 × 4 444.44 → low: 0.8 × 1 000 / 4 444.44 = 0.18000…→ 0.1800
    assert (c["B2"]["outlier"], c["B2"]["case_weight"]) == ("low", D("0.1800"))
    # B5 falls into XX99, which the table lists as paid by item
    assert (c["B5"]["method"], c["B5"]["item_reason"]) == ("item", "listed_by_item")
    y = settle_drg_year(2025, out["drg_pay_units"], src["institutions"], {"employee": D("100000.00")},
                        load_payment_policy(), Bands, {}, D("100"))
    s = y.drg["employee"]
    # by item: B3 3 500 + B4 2 000 + B5 2 000 = 7 500 paid first → 92 500 over 2.2 + 0.18 = 2.38 weight units
    assert (s.budget, s.units) == (D("92500.00"), D("2.3800"))
    assert s.value_shown == D("38865.546218")  # 92 500 ÷ 2.38 = 38 865.5462184…
    amounts = {x.institution_id: x.amount for x in s.clearing}
    # H3 92 500 × 2.2 / 2.38 = 85 504.2016…, H2 × 0.18 / 2.38 = 6 995.7983…: the odd fen to H2's larger remainder
    assert amounts == {"H3": D("85504.20"), "H2": D("6995.80")}
    assert sum(amounts.values()) == s.budget
