"""The Xero Sync workspace and its number cards, read as the JSON files bench migrate imports: every card and
shortcut it shows exists, their filters name real fields, and the payment cards count what the payment drain
writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nexwave_xero_connector.sync.payment_mapping import WAITING_PREFIX

MODULE = Path(__file__).resolve().parents[2] / "nexwave_xero_connector/nexwave_xero_connector"
WORKSPACE = json.loads((MODULE / "workspace/xero_sync/xero_sync.json").read_text())
CARDS = {
	card["name"]: card
	for card in (json.loads(p.read_text()) for p in sorted(MODULE.glob("number_card/*/*.json")))
}
LOG_JSON = json.loads((MODULE / "doctype/xero_sync_log/xero_sync_log.json").read_text())
LIST_JS = (MODULE / "doctype/xero_sync_log/xero_sync_log_list.js").read_text()
# Fields every doctype has without declaring them (Frappe's standard columns).
STANDARD_FIELDS = {"name", "owner", "creation", "modified", "modified_by", "docstatus", "idx"}


def _blocks(kind: str) -> list[dict]:
	return [b["data"] for b in json.loads(WORKSPACE["content"]) if b["type"] == kind]


def _own_doctype_fields(doctype: str) -> set[str] | None:
	"""The fields of one of this app's doctypes, or None for a doctype of another app."""
	path = (
		MODULE / "doctype" / doctype.lower().replace(" ", "_") / f"{doctype.lower().replace(' ', '_')}.json"
	)
	if not path.exists():
		return None
	return {f["fieldname"] for f in json.loads(path.read_text())["fields"]} | STANDARD_FIELDS


def test_every_card_and_shortcut_shown_is_defined():
	# Frappe 15's workspace block (frappe/public/js/frappe/views/workspace/blocks/block.js, make()) finds a
	# block's widget by comparing the block's number_card_name with the LABEL of the workspace's card row,
	# not its number_card_name: a block naming the card instead of a differing label is silently not drawn.
	shown_cards = [b["number_card_name"] for b in _blocks("number_card")]
	assert shown_cards == [c["label"] for c in WORKSPACE["number_cards"]]
	assert {c["number_card_name"] for c in WORKSPACE["number_cards"]} <= set(CARDS)
	shortcuts = {s["label"] for s in WORKSPACE["shortcuts"]}
	assert [b["shortcut_name"] for b in _blocks("shortcut")] == [s["label"] for s in WORKSPACE["shortcuts"]]
	assert len(shortcuts) == len(WORKSPACE["shortcuts"])
	ids = [b["id"] for b in json.loads(WORKSPACE["content"])]
	assert len(ids) == len(set(ids))


@pytest.mark.parametrize("name", sorted(CARDS))
def test_each_cards_filters_name_fields_of_its_doctype(name):
	card = CARDS[name]
	assert card["doctype"] == "Number Card" and card["module"] == "Nexwave Xero Connector"
	assert card["is_standard"] == 1 and card["name"] == name
	fields = _own_doctype_fields(card["document_type"])
	for doctype, fieldname, _operator, _value, _negated in json.loads(card["filters_json"]):
		assert doctype == card["document_type"]
		if fields is not None:
			assert fieldname in fields, (name, fieldname)


def test_shortcut_filters_name_fields_of_the_log():
	fields = _own_doctype_fields("Xero Sync Log")
	for shortcut in WORKSPACE["shortcuts"]:
		for doctype, fieldname, *_ in json.loads(shortcut.get("stats_filter") or "[]"):
			assert (doctype, fieldname in fields) == (shortcut["link_to"], True), shortcut["label"]


def test_the_payment_cards_count_payment_entry_rows():
	waiting = json.loads(CARDS["Xero Payments Waiting"]["filters_json"])
	failed = json.loads(CARDS["Xero Payments Failed"]["filters_json"])
	entry = ["Xero Sync Log", "reference_doctype", "=", "Payment Entry", False]
	assert entry in waiting and entry in failed
	assert ["Xero Sync Log", "status", "=", "Queued", False] in waiting
	assert ["Xero Sync Log", "status", "=", "Failed", False] in failed
	# the drain's wait messages begin with WAITING_PREFIX; the card and the list's indicator match on it
	assert ["Xero Sync Log", "error_message", "like", WAITING_PREFIX + "%", False] in waiting
	assert re.search(r'const XERO_WAITING_PREFIX = "([^"]*)";', LIST_JS).group(1) == WAITING_PREFIX
	payments = next(s for s in WORKSPACE["shortcuts"] if s["label"] == "Payments")
	assert json.loads(payments["stats_filter"]) == [entry]


def test_the_log_list_filters_by_document_type_and_xero_type():
	standard = {f["fieldname"] for f in LOG_JSON["fields"] if f.get("in_standard_filter")}
	assert {"status", "reference_doctype", "xero_type", "company"} <= standard
