"""Nothing lost without a word when loading (issue 13 §2), and the masked quarantine export (issue 15).

Every count below is checked by hand against the tiny region of ``tests/regions.py`` (4
institutions, 3 insured, 3 staff, 3 catalogue items, 3 cases, 3 fee lines, 1 sanction, 1 repair).
``LOAD_ERROR_CASES`` lists the load's exit-code cases (command, setup, expected exit code) for
the table-driven error-shape test.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import duckdb
import pyarrow as pa
import pytest
from conftest import REPO, run_cli
from openpyxl import Workbook
from regions import ROWS, write_csv, write_region

from yibao.contract.mapping import MappingError, load_profile
from yibao.contract.optional import WITHOUT
from yibao.contract.readers import discover, read_table
from yibao.contract.reasons import FatalLoadError
from yibao.contract.schema import TABLES
from yibao.engine.loading import LoadProblem, load_region

EXAMPLE = REPO / "examples" / "region-zh"
CASES_HEADER = TABLES["cases"].column_names


def rows(**changes: list[list[str]]) -> dict[str, list[list[str]]]:
    out = {k: [list(r) for r in v] for k, v in ROWS.items()}
    out.update(changes)
    return out


def query(ws: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(ws / "yibao.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def files_digest(ws: Path) -> dict[str, str]:
    """Every file of the workspace directory with the sha256 of its bytes ({} when absent)."""
    if not ws.exists():
        return {}
    return {str(p.relative_to(ws)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(ws.rglob("*")) if p.is_file()}


def drop_columns(table: str, data: list[list[str]], *names: str) -> tuple[list[str], list[list[str]]]:
    header = TABLES[table].column_names
    keep = [i for i, n in enumerate(header) if n not in names]
    return [header[i] for i in keep], [[r[i] for i in keep] for r in data]


# --------------------------------------------------------------------------- optional columns

def test_every_optional_column_declares_what_it_enables() -> None:
    for name, t in TABLES.items():
        optional = {c.name for c in t.columns if c.name not in t.required_columns}
        assert set(WITHOUT[name]) == optional, name


def test_missing_optional_columns_reported_per_file_with_what_they_disable(tmp_path: Path) -> None:
    region = write_region(tmp_path / "region")
    header, data = drop_columns("cases", ROWS["cases"], "procedures", "attending_staff_id", "emergency")
    (region / "cases.csv").unlink()
    write_csv(region / "cases.csv", header, data)
    header, data = drop_columns("fee_items", ROWS["fee_items"], "staff_id")
    write_csv(region / "fee_items.csv", header, data)

    report = {t.table: t for t in load_region(region, tmp_path / "ws").tables}
    assert list(report["cases"].missing_optional) == ["attending_staff_id", "procedures", "emergency"]
    assert list(report["fee_items"].missing_optional) == ["staff_id"]
    assert all(not report[t].missing_optional for t in ("institutions", "insured", "staff", "catalog"))
    # still loaded: 3 cases and 3 lines, the missing cells blank
    assert (report["cases"].accepted, report["fee_items"].accepted) == (3, 3)
    assert query(tmp_path / "ws", "SELECT count(*) FROM cases WHERE procedures IS NULL "
                                  "AND attending_staff_id IS NULL AND emergency IS NULL") == [(3,)]

    r = run_cli("load", region, "--workspace", tmp_path / "ws2")
    assert r.returncode == 0, r.stderr
    lines = [ln.strip() for ln in r.stdout.splitlines()]
    assert "cases（cases.csv）缺少可选列 procedures：每个 DIP/DRG 病例都按没有手术操作分组（手术病组一个也进不去）" in lines
    assert any(ln.startswith("cases（cases.csv）缺少可选列 attending_staff_id：看不到主诊医师：审核规则 C08") for ln in lines)
    assert any(ln.startswith("cases（cases.csv）缺少可选列 emergency：没有急诊抢救豁免") for ln in lines)
    assert any(ln.startswith("fee_items（fee_items.csv）缺少可选列 staff_id：看不到开单/执行人员：审核规则 L11") for ln in lines)
    assert sum("缺少可选列" in ln for ln in lines) == 4
    assert query(tmp_path / "ws2", "SELECT missing_columns FROM load_files WHERE table_name = 'cases'") == [
        (["attending_staff_id", "procedures", "emergency"],)]


# --------------------------------------------------------------------------- whole table quarantined

def _all_cases_bad_scheme(tmp: Path) -> None:
    cases = rows()["cases"]
    for r in cases:
        r[3] = "公费医疗"  # not a contract scheme and not in the shipped profile
    write_region(tmp / "region", rows(cases=cases))


def test_table_quarantined_whole_fails_the_load_and_changes_nothing(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    load_region(write_region(tmp_path / "tiny"), ws)
    before = files_digest(ws)
    _all_cases_bad_scheme(tmp_path)
    with pytest.raises(LoadProblem) as e:
        load_region(tmp_path / "region", ws)
    msg = str(e.value)
    assert e.value.exit_code == 3
    assert "cases.csv：cases（医保结算清单）表 3 行全部被隔离，主要原因 BAD_ENUM（取值不在允许范围内）3 行" in msg
    assert "险种（scheme）「公费医疗」" in msg
    # the fee lines find their cases among those loaded before: only cases is named
    assert "fee_items" not in msg
    assert msg.endswith("本次装载未生效，工作区保持不变")
    assert files_digest(ws) == before
    assert query(ws, "SELECT count(*) FROM loads") == [(1,)]


def test_fee_lines_all_unknown_case_fail_a_fresh_load_and_leave_no_workspace(tmp_path: Path) -> None:
    region = write_region(tmp_path / "region")
    (region / "cases.csv").rename(region / "case_list.csv")  # not recognised: the fee lines lose their cases
    ws = tmp_path / "ws"
    r = run_cli("load", region, "--workspace", ws)
    assert r.returncode == 3, r.stderr
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in r.stderr
    assert err[0].startswith("错误：fee_items.csv：fee_items（费用明细）表 3 行全部被隔离，主要原因 UNKNOWN_CASE")
    assert "（目录中有未识别的文件：case_list.csv）" in err[0]
    assert "fee_items     read          3  accepted          0  quarantined        3" in r.stdout
    assert "未识别的文件（未装载）：case_list.csv：最接近的已知文件名为「cases」（cases 表）" in r.stdout
    assert not ws.exists()


def test_cases_file_name_is_case_insensitive(tmp_path: Path) -> None:
    region = write_region(tmp_path / "region")
    (region / "cases.csv").rename(region / "Cases.CSV")
    (region / "insured.csv").rename(region / "INSURED.Csv")
    report = {t.table: t for t in load_region(region, tmp_path / "ws").tables}
    assert (report["cases"].accepted, report["fee_items"].accepted, report["fee_items"].quarantined) == (3, 3, 0)
    assert Path(report["cases"].file).name == "Cases.CSV"


@pytest.mark.parametrize("share, code", [("0.3", 3), ("30%", 3), ("0.34", 0), ("1", 0)])
def test_max_quarantine_share(tmp_path: Path, share: str, code: int) -> None:
    cases = rows()["cases"]
    cases[2][18] = "12.345"  # C0003: 1 of 3 cases quarantined = 33.3 %
    region = write_region(tmp_path / "region", rows(cases=cases))
    r = run_cli("load", region, "--workspace", tmp_path / "ws", "--max-quarantine-share", share)
    assert r.returncode == code, r.stderr
    if code == 3:
        assert r.stderr.count("\n") == 1
        assert "cases（医保结算清单）表隔离 1/3 行（33.3%），超过 --max-quarantine-share 0.3" in r.stderr
        assert "MONEY_TOO_MANY_DECIMALS" in r.stderr
        assert not (tmp_path / "ws").exists()
    else:
        assert query(tmp_path / "ws", "SELECT count(*) FROM quarantine") == [(1,)]


def test_row_errors_below_every_limit_do_not_fail(tmp_path: Path) -> None:
    cases = rows()["cases"]
    cases[0][3] = "公费医疗"
    r = run_cli("load", write_region(tmp_path / "region", rows(cases=cases)), "--workspace", tmp_path / "ws")
    assert r.returncode == 0, r.stderr
    # C0001 quarantined, its 2 fee lines with it (UNKNOWN_CASE): 2 of 3 lines, not all
    assert query(tmp_path / "ws", "SELECT table_name, reason_code, count(*) FROM quarantine GROUP BY ALL ORDER BY 1") == [
        ("cases", "BAD_ENUM", 1), ("fee_items", "UNKNOWN_CASE", 2)]


# --------------------------------------------------------------------------- file names

CHINESE_NAMES = {"institutions": "定点机构", "insured": "参保人员", "staff": "医保相关人员", "catalog": "三目录",
                 "cases": "结算清单", "fee_items": "费用明细", "sanctions": "处理决定", "repairs": "信用修复"}


def test_chinese_file_names_recognised(tmp_path: Path) -> None:
    region = write_region(tmp_path / "region")
    for table, zh in CHINESE_NAMES.items():
        (region / f"{table}.csv").rename(region / f"{zh}.csv")
    found = discover(region)
    assert {t: p.name for t, p in found.files.items()} == {t: f"{zh}.csv" for t, zh in CHINESE_NAMES.items()}
    report = load_region(region, tmp_path / "ws")
    assert sum(t.accepted for t in report.tables) == 4 + 3 + 3 + 3 + 3 + 3 + 1 + 1


def test_unrecognised_files_listed_with_a_hint(tmp_path: Path) -> None:
    region = write_region(tmp_path / "region")
    (region / "2024年结算清单.csv").write_text("x\n", encoding="utf-8")
    (region / "fee_item.csv").write_text("x\n", encoding="utf-8")
    (region / "机构.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    r = run_cli("load", region, "--workspace", tmp_path / "ws")
    assert r.returncode == 0, r.stderr
    listed = [ln.strip() for ln in r.stdout.splitlines() if "未识别的文件" in ln]
    assert listed == [
        "未识别的文件（未装载）：2024年结算清单.csv：最接近的已知文件名为「结算清单」（cases 表），"
        "如是请改名或在映射文件 [files] 中加入「2024年结算清单」",
        "未识别的文件（未装载）：fee_item.csv：最接近的已知文件名为「fee_items」（fee_items 表），"
        "如是请改名或在映射文件 [files] 中加入「fee_item」",
        "未识别的文件（未装载）：机构.xls：.xls 格式不支持，请另存为 .xlsx 或 .csv",
    ]


def test_two_files_for_one_table_by_chinese_name_is_refused(tmp_path: Path) -> None:
    region = write_region(tmp_path / "region")
    (region / "结算清单.csv").write_bytes((region / "cases.csv").read_bytes())
    with pytest.raises(FatalLoadError, match="表 cases 有多个文件（cases.csv, 结算清单.csv）"):
        load_region(region, tmp_path / "ws")


# --------------------------------------------------------------------------- the mapping profile

def test_shipped_profile_maps_headers_and_code_words(tmp_path: Path) -> None:
    p = tmp_path / "结算清单.csv"
    p.write_text(
        "清单流水号,人员编号,定点医药机构编码,险种类型,医疗类别,入院日期,出院日期,主要诊断编码,其他诊断编码,"
        "主要手术及操作编码,其他手术及操作编码,离院方式,是否急诊,医疗费总额,统筹基金支付,个人自付,个人自费,结算日期,性别\n"
        "C1,P1,H1,职工,住院,2024-03-01,2024-03-06,K80.100,I10.x00；E11.900,51.2300,54.1100,医嘱离院,否,"
        "100.00,80.00,20.00,0.00,2024-03-08, 男 \n"
        "C2,P2,H1,城乡居民基本医疗保险,门诊,2024-04-02,2024-04-02,J06.900,,,,,是,10.00,5.00,5.00,0.00,2024-04-02,女\n"
        "C3,P3,H1,公费医疗,住院,2024-04-02,2024-04-03,J06.900,,,54.1100,死亡,1,10.00,5.00,5.00,0.00,2024-04-03,2\n",
        encoding="gb18030")
    raw = read_table(p, TABLES["cases"])
    d = raw.data
    assert d.column("case_id").to_pylist() == ["C1", "C2", "C3"]
    assert d.column("scheme").to_pylist() == ["employee", "resident", "公费医疗"]  # unmapped: kept as it came
    assert d.column("setting").to_pylist() == ["inpatient", "outpatient", "inpatient"]
    assert d.column("sex").to_pylist() == ["1", "2", "2"]
    assert d.column("discharge_mode").to_pylist() == ["1", "", "5"]
    assert d.column("emergency").to_pylist() == ["0", "1", "1"]
    assert d.column("secondary_dx").to_pylist() == ["I10.x00|E11.900", "", ""]
    assert d.column("procedures").to_pylist() == ["51.2300|54.1100", "", "54.1100"]
    assert d.column("total_cost").to_pylist() == ["100.00", "10.00", "10.00"]
    # cells changed, counted by hand: scheme 2, setting 3, sex 2 (" 男 ", "女"), discharge_mode 2,
    # emergency 2 (否, 是), secondary_dx 1 (the ；)
    assert raw.mapped_values == {"scheme": 2, "sex": 2, "setting": 3, "secondary_dx": 1, "discharge_mode": 2,
                                 "emergency": 2}
    assert raw.mapped_columns["医疗费总额"] == "total_cost" and len(raw.mapped_columns) == 19
    assert raw.missing_optional == ["age_years", "dept_code", "attending_staff_id", "newborn_age_days",
                                    "newborn_weight_g"]


def test_region_mapping_merged_over_the_shipped_one(tmp_path: Path) -> None:
    mapping = tmp_path / "本地映射.toml"
    mapping.write_text("""
[files]
cases = ["住院结算"]
[columns.cases]
fund_paid = ["统筹支付数"]
[values.scheme]
employee = ["公费医疗"]
""", encoding="utf-8")
    region = write_region(tmp_path / "region")
    cases = rows()["cases"]
    cases[0][3] = "公费医疗"
    cases[1][3] = "城乡居民"  # the shipped words still apply
    header = ["统筹支付数" if h == "fund_paid" else h for h in CASES_HEADER]
    (region / "cases.csv").unlink()
    write_csv(region / "住院结算.csv", header, cases)
    report = {t.table: t for t in load_region(region, tmp_path / "ws", mapping=mapping).tables}
    assert report["cases"].accepted == 3 and report["cases"].mapped_values == {"scheme": 2}
    assert report["cases"].mapped_columns == {"统筹支付数": "fund_paid"}
    assert query(tmp_path / "ws", "SELECT case_id, scheme FROM cases ORDER BY 1") == [
        ("C0001", "employee"), ("C0002", "resident"), ("C0003", "resident")]
    # without the region's file the same directory does not load its cases
    with pytest.raises(LoadProblem, match="fee_items"):
        load_region(region, tmp_path / "ws2")


@pytest.mark.parametrize("text, needle", [
    ("[values.scheme]\nworker = [\"职保\"]\n", "「worker」不是 scheme 的合同代码（允许：employee、resident）"),
    ("[columns.cases]\nno_such = [\"x\"]\n", "[columns.cases] no_such：no_such 不是 cases 表的列"),
    ("[files]\ninvoices = [\"x\"]\n", "invoices 不是数据合同中的表"),
    ("[values.level]\n\"4\" = [\"特级\"]\n", "「4」不是 level 允许的整数（0–3）"),
    ("[combine.cases]\nprincipal_dx = [\"a\", \"b\"]\n", "principal_dx 不是列表列"),
    ("[colums]\n", "未知的配置节 colums"),
    ("[values.scheme]\nemployee = [\"职保\"]\nresident = [\"职保\"]\n", "「职保」同时对应代码 employee 与 resident"),
    ("[columns.cases]\ntotal_cost = [\"费用\"]\nfund_paid = [\"费用\"]\n", "表头「费用」同时对应 total_cost 与 fund_paid"),
    ("[files\n", "不是有效的 TOML"),
])
def test_bad_mapping_file_is_refused_with_its_key(tmp_path: Path, text: str, needle: str) -> None:
    f = tmp_path / "m.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError) as e:
        load_profile(f)
    assert needle in str(e.value) and str(f) in str(e.value)


def test_xlsx_header_below_title_rows_and_numeric_code_cells_reported(tmp_path: Path) -> None:
    p = tmp_path / "定点机构.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.append(["某市医疗保障局定点医药机构名单"])
    ws.append(["导出日期：2025-01-05"])
    ws.append(["定点医药机构编码", "定点医药机构名称", "机构类型", "医院等级", "医院类别", "行政区划代码", "协议开始日期"])
    for inst_id, name, kind, level, region in [
        ("H001", "市第一人民医院", "医院", "三级", 440203),        # region code typed as a number
        ("H002", "市中医院", "医院", "二级", 440203),
        ("P001", "东河社区卫生服务中心", "基层医疗卫生机构", "一级", "440204"),  # as text
        (301, "西城诊所", "基层医疗卫生机构", "未定级", 440204),    # the id too: 0301 became 301
    ]:
        ws.append([inst_id, name, kind, level, "综合医院", region, dt.datetime(2020, 1, 1)])
    wb.save(p)
    raw = read_table(p, TABLES["institutions"])
    assert raw.header_row == 3
    assert raw.data.column("institution_id").to_pylist() == ["H001", "H002", "P001", "301"]
    assert raw.data.column("_row").to_pylist() == [1, 2, 3, 4]
    assert raw.data.column("level").to_pylist() == ["3", "2", "1", "0"]
    assert raw.data.column("region_code").to_pylist() == ["440203", "440203", "440204", "440204"]
    assert raw.numeric_code_cells == {"institution_id": 1, "region_code": 3}

    region = tmp_path / "region"
    region.mkdir()
    p.rename(region / p.name)
    r = run_cli("load", region, "--workspace", tmp_path / "ws")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "institutions（定点机构.xlsx）表头在第 3 行，上方 2 行标题已跳过" in out
    assert "institutions（定点机构.xlsx）代码列 region_code 有 3 个单元格存为数字" in out
    assert "institutions（定点机构.xlsx）代码列 institution_id 有 1 个单元格存为数字" in out


def test_parquet_numeric_code_column_reported(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    header = TABLES["institutions"].column_names
    cols = {h: [r[i] for r in ROWS["institutions"]] for i, h in enumerate(header)}
    cols["region_code"] = [int(x) for x in cols["region_code"]]
    pq.write_table(pa.table(cols), tmp_path / "institutions.parquet")
    raw = read_table(tmp_path / "institutions.parquet", TABLES["institutions"])
    assert raw.numeric_code_cells == {"region_code": 4}


def test_mapping_is_whole_column_not_per_row(tmp_path: Path) -> None:
    """200 000 cells of code words translate in one lookup per distinct value."""
    import time

    profile = load_profile()
    n = 200_000
    t = pa.table({"scheme": pa.array(["职工", "城乡居民", "employee", "x"] * (n // 4))})
    t0 = time.perf_counter()
    out, changed = profile.apply(TABLES["insured"], t)
    assert time.perf_counter() - t0 < 2.0
    assert changed == {"scheme": n // 2}
    assert out.column("scheme").to_pylist()[:4] == ["employee", "resident", "employee", "x"]


# --------------------------------------------------------------------------- the example region

def test_chinese_example_region_loads_like_the_english_one(tmp_path: Path) -> None:
    r = run_cli("load", EXAMPLE, "--workspace", tmp_path / "zh")
    assert r.returncode == 0, r.stderr
    assert "total         read         21  accepted         21  quarantined        0" in r.stdout
    assert "insured（参保人员.xlsx）表头在第 2 行，上方 1 行标题已跳过" in r.stdout
    assert "cases（结算清单.csv）缺少可选列 newborn_age_days" in r.stdout
    assert "cases 忽略的非合同列：姓名, 主诊医师姓名" in r.stdout
    load_region(write_region(tmp_path / "en"), tmp_path / "en-ws")
    for name in TABLES:
        sql = f"SELECT * FROM {name} ORDER BY ALL"
        assert query(tmp_path / "zh", sql) == query(tmp_path / "en-ws", sql), name
    encodings = dict(query(tmp_path / "zh", "SELECT table_name, encoding FROM load_files"))
    assert encodings["cases"] == "gb18030" and encodings["insured"] == "xlsx" and encodings["staff"] == "utf-8-sig"


# --------------------------------------------------------------------------- masked quarantine export

def _bad_personal_rows(tmp: Path) -> Path:
    insured = rows()["insured"]
    insured[0][3] = "未知"  # P0001 张伟 440203196501012317: sex not a code
    staff = rows()["staff"]
    staff[1][3] = "护工"  # D440203000002 陈护士 440203198001010023
    region = write_region(tmp / "region", rows(insured=insured, staff=staff))
    with (region / "insured.csv").open("a", encoding="utf-8") as f:
        f.write("P0009,110101199003070062,欧阳娜娜,2\n")  # too few fields: quarantined as one text
    return region


def test_quarantine_export_masks_personal_data_by_default(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    load_region(_bad_personal_rows(tmp_path), ws)
    out = tmp_path / "退回清单.csv"
    r = run_cli("quarantine", "--workspace", ws, "--out", out)
    assert r.returncode == 0, r.stderr
    assert "身份证号、姓名已脱敏" in r.stdout
    text = out.read_text(encoding="utf-8-sig")
    for clear in ("440203196501012317", "440203198001010023", "110101199003070062", "张伟", "陈护士", "欧阳娜娜"):
        assert clear not in text, clear
    rows_ = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    # insured P0001 (BAD_ENUM) and the short row, staff D440203000002 (BAD_ENUM), then what hung on them:
    # case C0001 (UNKNOWN_PERSON) and its 2 fee lines (UNKNOWN_CASE)
    assert sorted((x["表"], x["原因代码"]) for x in rows_) == [
        ("cases", "UNKNOWN_PERSON"), ("fee_items", "UNKNOWN_CASE"), ("fee_items", "UNKNOWN_CASE"),
        ("insured", "BAD_ENUM"), ("insured", "BAD_ROW_SHAPE"), ("staff", "BAD_ENUM")]
    by = {(x["表"], x["原因代码"]): x for x in rows_}
    person = json.loads(by[("insured", "BAD_ENUM")]["原始内容"])
    assert person["id_number"] == "440203********2317" and person["name"] == "张*" and person["sex"] == "未知"
    worker = json.loads(by[("staff", "BAD_ENUM")]["原始内容"])
    assert worker["id_number"] == "440203********0023" and worker["name"] == "陈**" and worker["role"] == "护工"
    shape = json.loads(by[("insured", "BAD_ROW_SHAPE")]["原始内容"])["_text"]
    assert shape == "P0009,110101********0062,欧**,2"
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


def test_quarantine_unmasked_export_says_so(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    load_region(_bad_personal_rows(tmp_path), ws)
    out = tmp_path / "q.csv"
    # issue 15: unmasking an export is a recorded action with a reason — refused without one, nothing written
    r = run_cli("quarantine", "--workspace", ws, "--table", "insured", "--out", out, "--unmasked")
    assert r.returncode == 2 and "--reason" in r.stderr and not out.exists()
    r = run_cli("quarantine", "--workspace", ws, "--table", "insured", "--out", out, "--unmasked",
                "--reason", "退回机构更正")
    assert r.returncode == 0, r.stderr
    assert "未脱敏导出，含身份证号、姓名明文" in r.stdout
    text = out.read_text(encoding="utf-8-sig")
    assert "440203196501012317" in text and "张伟" in text and "陈护士" not in text  # insured only
    from yibao.store.audit import events, verify
    from yibao.store.db import open_store

    store = open_store(ws)
    last = events(store, 1)[0]
    assert last["action"] == "export.unmasked" and "退回机构更正" in last["detail"] and '"rows": 2' in last["detail"]
    assert verify(store).ok


# --------------------------------------------------------------------------- exit codes (for tests/test_error_shape.py)

@dataclass(frozen=True)
class LoadErrorCase:
    """One way a ``yibao load`` fails. ``args`` may hold ``{region}``, ``{ws}`` and ``{tmp}``;
    ``setup(tmp)`` writes the region into ``tmp / "region"`` (and any side file); the workspace
    ``tmp / "ws"`` holds the tiny region when ``preloaded``, else does not exist."""

    name: str
    args: tuple[str, ...]
    setup: Callable[[Path], None]
    exit_code: int
    needle: str
    preloaded: bool = True


def _tiny(tmp: Path) -> None:
    write_region(tmp / "region")


def _fee_lines_orphaned(tmp: Path) -> None:
    region = write_region(tmp / "region", {"fee_items": ROWS["fee_items"]})
    fee = rows()["fee_items"]
    for r in fee:
        r[0] = "C9" + r[0][2:]
    write_csv(region / "fee_items.csv", TABLES["fee_items"].column_names, fee)


def _one_bad_case(tmp: Path) -> None:
    cases = rows()["cases"]
    cases[2][18] = "12.345"
    write_region(tmp / "region", rows(cases=cases))


def _mapping(text: str) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        write_region(tmp / "region")
        (tmp / "m.toml").write_text(text, encoding="utf-8")
    return setup


def _mapping_dir(tmp: Path) -> None:
    write_region(tmp / "region")
    (tmp / "m.toml").mkdir()


def _two_files(tmp: Path) -> None:
    region = write_region(tmp / "region")
    (region / "结算清单.csv").write_bytes((region / "cases.csv").read_bytes())


def _two_headers_one_column(tmp: Path) -> None:
    region = write_region(tmp / "region")
    header = CASES_HEADER + ["医疗费总额"]
    write_csv(region / "cases.csv", header, [r + [r[18]] for r in ROWS["cases"]])


LOAD_ERROR_CASES: list[LoadErrorCase] = [
    LoadErrorCase("all cases quarantined (unmapped code word)", ("load", "{region}", "--workspace", "{ws}"),
                  _all_cases_bad_scheme, 3, "cases（医保结算清单）表 3 行全部被隔离，主要原因 BAD_ENUM"),
    LoadErrorCase("all cases quarantined, fresh workspace", ("load", "{region}", "--workspace", "{ws}"),
                  _all_cases_bad_scheme, 3, "3 行全部被隔离", preloaded=False),
    LoadErrorCase("all fee lines UNKNOWN_CASE", ("load", "{region}", "--workspace", "{ws}"),
                  _fee_lines_orphaned, 3, "fee_items（费用明细）表 3 行全部被隔离，主要原因 UNKNOWN_CASE"),
    LoadErrorCase("quarantined share above --max-quarantine-share",
                  ("load", "{region}", "--workspace", "{ws}", "--max-quarantine-share", "0.2"),
                  _one_bad_case, 3, "隔离 1/3 行（33.3%），超过 --max-quarantine-share 0.2"),
    LoadErrorCase("--max-quarantine-share not a number",
                  ("load", "{region}", "--workspace", "{ws}", "--max-quarantine-share", "abc"),
                  _tiny, 2, "--max-quarantine-share abc: 应为 0 到 1 之间的比例"),
    LoadErrorCase("--max-quarantine-share above 1",
                  ("load", "{region}", "--workspace", "{ws}", "--max-quarantine-share", "1.5"),
                  _tiny, 2, "--max-quarantine-share 1.5: 应在 0 与 1（100%）之间"),
    LoadErrorCase("--mapping file absent", ("load", "{region}", "--workspace", "{ws}", "--mapping", "{tmp}/none.toml"),
                  _tiny, 2, "映射文件不存在"),
    LoadErrorCase("--mapping is a directory", ("load", "{region}", "--workspace", "{ws}", "--mapping", "{tmp}/m.toml"),
                  _mapping_dir, 2, "是目录，应为映射文件（TOML）"),
    LoadErrorCase("--mapping not TOML", ("load", "{region}", "--workspace", "{ws}", "--mapping", "{tmp}/m.toml"),
                  _mapping("[files\n"), 2, "不是有效的 TOML"),
    LoadErrorCase("--mapping maps to an unknown code",
                  ("load", "{region}", "--workspace", "{ws}", "--mapping", "{tmp}/m.toml"),
                  _mapping("[values.setting]\nhospital = [\"住院\"]\n"), 2, "「hospital」不是 setting 的合同代码"),
    LoadErrorCase("two files for one table (English and Chinese name)", ("load", "{region}", "--workspace", "{ws}"),
                  _two_files, 2, "表 cases 有多个文件（cases.csv, 结算清单.csv）"),
    LoadErrorCase("two headers for one contract column", ("load", "{region}", "--workspace", "{ws}"),
                  _two_headers_one_column, 2, "表头 total_cost、医疗费总额 都对应合同列 total_cost"),
]


def check_load_error(tmp_path: Path, case: LoadErrorCase) -> None:
    """One row of the error-shape table for the load (tests/test_error_shape.py runs them all): the exit code,
    one line on stderr starting with 错误 and no traceback, the needle, the workspace unchanged."""
    ws = tmp_path / "ws"
    if case.preloaded:
        load_region(write_region(tmp_path / "tiny"), ws)
    case.setup(tmp_path)
    before = files_digest(ws)
    args = [a.format(region=tmp_path / "region", ws=ws, tmp=tmp_path) for a in case.args]
    r = run_cli(*args)
    assert r.returncode == case.exit_code, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("错误：") and "Traceback" not in r.stderr, r.stderr
    assert case.needle in lines[0]
    assert files_digest(ws) == before
    assert ws.exists() == case.preloaded
