"""Tiny staff regions for the scenario tests: one or two staff members, a few dated findings."""

from __future__ import annotations

from pathlib import Path

from regions import INSTITUTIONS, write_csv

from yibao.contract.schema import TABLES

STAFF = [
    ["S1", "甲医生", "440203197001010010", "physician", "H001", "2020-01-01"],
    ["S2", "乙医生", "440203197001010029", "physician", "H002", "2020-01-01"],
]


def sanction(sid: str, day: str, points: int | str, staff: str = "S1", basis: str = "admin_penalty",
             resp: str = "main", fraud: str = "0", inst: str = "H001") -> list[str]:
    return [sid, staff, inst, day, basis, resp, str(points), fraud]


def repair(rid: str, day: str, reduced: int = 0, shorten: int = 0, staff: str = "S1") -> list[str]:
    return [rid, staff, day, str(reduced), str(shorten)]


def write_staff_region(directory: Path, sanctions: list[list[str]], repairs: list[list[str]] | None = None,
                       staff: list[list[str]] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    write_csv(directory / "institutions.csv", TABLES["institutions"].column_names, INSTITUTIONS)
    write_csv(directory / "staff.csv", TABLES["staff"].column_names, staff or STAFF)
    write_csv(directory / "sanctions.csv", TABLES["sanctions"].column_names, sanctions)
    if repairs is not None:
        write_csv(directory / "repairs.csv", TABLES["repairs"].column_names, repairs)
    return directory
