"""Keyword lists rendered as ``contains`` chains (rulesql.render): the same truth value as the RE2 alternation."""

from __future__ import annotations

from types import SimpleNamespace

import duckdb
import pytest

from yibao.review.rulesql import param_sql, render

TEXTS = ["全身麻醉费", "椎管内麻醉（加收）", "局部麻醉", "", None, "a.b", "a|b", "x(y)", "血型鉴定 交叉配血"]
LISTS = [["全身麻醉", "椎管内麻醉"], ["麻醉"], [""], ["a.b"], ["a|b", "(y)"], ["交叉配血", "血型"]]
SQL = "regexp_matches(coalesce(t.name, ''), ${kw_regex})"


def test_a_keyword_match_is_rendered_as_contains():
    p = param_sql(SimpleNamespace(params={"kw": ["全身麻醉", "椎管内麻醉"]}))
    assert render(SQL, p, "t") == ("(contains(coalesce(t.name, ''), '全身麻醉') OR "
                                   "contains(coalesce(t.name, ''), '椎管内麻醉'))")
    # an empty list matches nothing; its regular expression '(?!)' is refused by RE2 (no lookahead), so before
    # this form a rule with an empty keyword list stopped the review with a DuckDB error
    empty = param_sql(SimpleNamespace(params={"kw": []}))
    assert render(SQL, empty, "t") == "FALSE"
    with pytest.raises(duckdb.Error):
        duckdb.connect().execute("SELECT " + SQL.replace("t.name", "'x'").replace("${kw_regex}", empty["kw_regex"]))


def test_a_regex_given_as_such_stays_a_regex():
    p = param_sql(SimpleNamespace(params={"kw": ["a"]}), {"kw_regex": "'^a$'"})
    assert render(SQL, p, "t") == "regexp_matches(coalesce(t.name, ''), '^a$')"


@pytest.mark.parametrize("words", LISTS)
def test_contains_and_the_regular_expression_agree(words):
    p = param_sql(SimpleNamespace(params={"kw": words}))
    regex_form = SQL.replace("${kw_regex}", p["kw_regex"])
    fast = render(SQL, p, "t")
    assert fast != regex_form
    con = duckdb.connect()
    con.execute("CREATE TABLE t (name VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [[x] for x in TEXTS])
    got = con.execute(f"SELECT name, {regex_form}, {fast} FROM t").fetchall()
    assert [(n, a) for n, a, _ in got] == [(n, b) for n, _, b in got]
    if words == ["全身麻醉", "椎管内麻醉"]:  # the hand-checked case
        assert [b for _, _, b in got] == [True, True, False, False, False, False, False, False, False]
