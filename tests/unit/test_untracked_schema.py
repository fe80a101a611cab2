"""The stand-in table for Xero Untracked Document has exactly the doctype's columns, types and unique key."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.support.schema import STANDARD, TABLES

DOCTYPE_JSON = (
	Path(__file__).resolve().parents[2]
	/ "nexwave_xero_connector/nexwave_xero_connector/doctype/xero_untracked_document/xero_untracked_document.json"
)
# How Frappe 15 stores these field types on MariaDB
SQL_TYPES = {
	"Data": "VARCHAR(140)",
	"Select": "VARCHAR(140)",
	"Link": "VARCHAR(140)",
	"Dynamic Link": "VARCHAR(140)",
	"Small Text": "TEXT",
	"Datetime": "DATETIME(6)",
}
LAYOUT = {"Section Break", "Column Break", "Tab Break"}


def _columns(ddl: str) -> tuple[dict[str, str], set[str]]:
	columns, unique = {}, set()
	for part in re.split(r",\s*(?![^()]*\))", ddl[len(STANDARD) :].strip(" ,\n\t")):
		words = part.split()
		if words[:2] == ["UNIQUE", "KEY"]:
			unique.add(words[2])
		elif words and words[0] != "KEY":
			columns[words[0]] = words[1]
	return columns, unique


def test_the_stand_in_table_mirrors_the_doctype():
	meta = json.loads(DOCTYPE_JSON.read_text())
	fields = [f for f in meta["fields"] if f["fieldtype"] not in LAYOUT]
	columns, unique = _columns(TABLES["tabXero Untracked Document"])
	assert columns == {f["fieldname"]: SQL_TYPES[f["fieldtype"]] for f in fields}
	assert unique == {f["fieldname"] for f in fields if f.get("unique")} == {"xero_id"}
	assert meta["field_order"] == [f["fieldname"] for f in meta["fields"]]
