"""Journal Entries in the stand-in ERPNext: their table, submit as on_submit does it, and the mappings an
accountant would set for the Kiwi Journal Test Ltd fixtures (tests/fixtures/erpnext/je_*.json)."""

from __future__ import annotations

import copy
import dataclasses
import json

from nexwave_xero_connector.sync.config import SyncConfig, TenantLink
from nexwave_xero_connector.sync.journal import insert_row
from nexwave_xero_connector.sync.manual_journal_mapping import JOURNAL_ENTRY, MANUAL_JOURNAL

from .world import World, fixture

COMPANY = "Kiwi Journal Test Ltd"
ACCOUNTS = {
	"Office Rent - KJT": "429",
	"ASB Cheque - KJT": "090",
	"ASB USD - KJT": "090",
	"Write Off - KJT": "429",
	"Debtors - KJT": "610",
	"Exchange Gain/Loss - KJT": "429",
	"GST - KJT": "820",
}
TABLE = f"""CREATE TABLE IF NOT EXISTS `tab{JOURNAL_ENTRY}` (
	name VARCHAR(140) NOT NULL PRIMARY KEY, creation DATETIME(6), modified DATETIME(6),
	docstatus INT(1) NOT NULL DEFAULT 0, company VARCHAR(140), posting_date DATE, data LONGTEXT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"""


def journal_entry(name: str, template: str = "je_three_lines_cost_centres", **changes) -> dict:
	"""A real ERPNext 15.92 Journal Entry under another name (its rows follow)."""
	doc = copy.deepcopy(fixture(template))
	doc.update(name=name, **changes)
	for row in doc["accounts"]:
		row["parent"] = name
	return doc


def with_journals(cfg: SyncConfig, tenant_id: str, *, send: bool = True, **overrides) -> SyncConfig:
	"""`cfg` whose organisation also takes Kiwi Journal Test Ltd, which sends its Journal Entries."""
	link = TenantLink(COMPANY, tenant_id, COMPANY, "!kTl1", send_journal_entries=send)
	return dataclasses.replace(
		cfg,
		tenants=(*cfg.tenants, link),
		account_map={**cfg.account_map, **{(COMPANY, a): c for a, c in ACCOUNTS.items()}},
		tracking_map={**cfg.tracking_map, (COMPANY, "Main - KJT"): ("Region", "Auckland")},
		no_tax_type={**cfg.no_tax_type, COMPANY: "NONE"},
		**overrides,
	)


def journals_on(world: World, *, send: bool = True, **overrides) -> World:
	"""The world with Kiwi Journal Test Ltd on its organisation and the Journal Entry table."""
	world.config = with_journals(world.config, world.tenant_id, send=send, **overrides)
	create_table(world.db)
	return world


def create_table(db) -> None:
	db.execute(TABLE, {})
	db.commit("test: journal entry table")


def submit_journal_entry(world: World, doc: dict) -> str:
	"""Insert the submitted entry and its Queued log row in one transaction (as on_submit does)."""
	return submit_entry(world.db, world.clock(), doc, world.tenant_id)


def submit_entry(db, now, doc: dict, tenant_id: str) -> str:
	"""submit_journal_entry over any connection."""
	db.execute(
		f"INSERT INTO `tab{JOURNAL_ENTRY}` (name, creation, modified, docstatus, company, posting_date, data) "
		"VALUES (%(name)s, %(now)s, %(now)s, 1, %(company)s, %(date)s, %(data)s)",
		{
			"name": doc["name"],
			"now": now,
			"company": doc["company"],
			"date": str(doc["posting_date"])[:10],
			"data": json.dumps({**doc, "docstatus": 1}, default=str),
		},
	)
	row = insert_row(
		db,
		doctype=JOURNAL_ENTRY,
		name=doc["name"],
		company=doc["company"],
		tenant_id=tenant_id,
		xero_type=MANUAL_JOURNAL,
		now=now,
		user="test",
	)
	db.commit("test: submit journal entry (document and outbox row together)")
	return row
