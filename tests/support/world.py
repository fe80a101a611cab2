"""A whole push pipeline for tests: MariaDB journal + stand-in ERP + emulator + real SDK gateway + engine."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from nexwave_xero_connector.sync.config import (
	ITEM_TAX_TEMPLATE,
	PAYMENTS_IN_ERPNEXT,
	PURCHASE_TAXES_TEMPLATE,
	SALES_TAXES_TEMPLATE,
	SyncConfig,
	TenantLink,
)
from nexwave_xero_connector.sync.drain import DrainReport, drain
from nexwave_xero_connector.sync.journal import SqlJournal
from nexwave_xero_connector.xero.client import build_accounting_api
from nexwave_xero_connector.xero.gateway import SdkGateway
from nexwave_xero_connector.xero.hosts import XeroHosts

from .clock import ShiftableClock
from .db import PyMySqlDb
from .erp import SqlErp

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "erpnext"
COMPANY = "Kiwi Test Ltd"
SITE_URL = "https://erp.example.test"


def fixture(name: str) -> dict:
	"""A real ERPNext 15.92 document (as_dict output) from tests/fixtures/erpnext."""
	return json.loads((FIXTURES / f"{name}.json").read_text())


def clone(template: str, name: str, **changes) -> dict:
	"""A copy of a fixture document under another name (children follow)."""
	doc = copy.deepcopy(fixture(template))
	doc.update(name=name, **changes)
	for table in ("items", "taxes"):
		for row in doc.get(table) or []:
			row["parent"] = name
	return doc


def nz_config(tenant_id: str, **overrides) -> SyncConfig:
	"""Mappings an NZ accountant would set up for the Kiwi Test Ltd fixtures."""
	values = dict(
		site_url=SITE_URL,
		# this company's payments are ERPNext's: its Payment Entries go to Xero
		tenants=(
			TenantLink(COMPANY, tenant_id, "Kiwi Test Ltd", "!kTl1", payments_owned_by=PAYMENTS_IN_ERPNEXT),
		),
		tax_map={
			(COMPANY, SALES_TAXES_TEMPLATE, "NZ GST 15% - KTL"): "OUTPUT2",
			(COMPANY, SALES_TAXES_TEMPLATE, "NZ GST 15% Inclusive - KTL"): "OUTPUT2",
			(COMPANY, ITEM_TAX_TEMPLATE, "NZ Zero Rated - KTL"): "ZERORATED",
			(COMPANY, SALES_TAXES_TEMPLATE, "NZ Zero Rated Export - KTL"): "ZERORATED",
			(COMPANY, ITEM_TAX_TEMPLATE, "NZ GST Exempt - KTL"): "NONE",
			(COMPANY, PURCHASE_TAXES_TEMPLATE, "NZ GST 15% Input - KTL"): "INPUT2",
		},
		account_map={
			(COMPANY, "Sales - KTL"): "200",
			(COMPANY, "Service - KTL"): "200",
			(COMPANY, "Freight Recovered - KTL"): "260",
			(COMPANY, "Stock In Hand - KTL"): "300",
			(COMPANY, "Cost of Goods Sold - KTL"): "310",
			(COMPANY, "Freight and Forwarding Charges - KTL"): "425",
		},
		rounding_account={COMPANY: "860"},
		tax_rates={
			(COMPANY, "OUTPUT2"): Decimal("15"),
			(COMPANY, "INPUT2"): Decimal("15"),
			(COMPANY, "ZERORATED"): Decimal("0"),
			(COMPANY, "NONE"): Decimal("0"),
		},
		no_tax_type={COMPANY: "NONE"},
	)
	values.update(overrides)
	return SyncConfig(**values)


# A token the emulator accepts (it is lenient unless strict_auth): the 7 keys the SDK wants.
TEST_TOKEN = {
	"access_token": "test-access",
	"refresh_token": "test-refresh",
	"scope": ["accounting.invoices"],
	"expires_in": 1800,
	"expires_at": None,
	"token_type": "Bearer",
	"id_token": None,
}


# What a person keying documents into Xero's web screens stands for (the emulator's PERSON_TOKEN_PREFIX):
# documents made with it are not "created by my app".
PERSON_TOKEN = {**TEST_TOKEN, "access_token": "person-in-xero"}


def emulator_gateway(base_url: str, *, timeout=(2, 5), token: dict | None = None, **hooks) -> SdkGateway:
	"""The real SdkGateway (real SDK, real HTTP) against the emulator served at base_url.

	`hooks` are build_accounting_api's before_request/on_response (the rate governor's, for benchmarks);
	`token` another caller's (PERSON_TOKEN: a person working in Xero's own screens, not this app).
	"""
	hosts = XeroHosts(
		api_url=base_url + "/api.xro/2.0",
		identity_url=base_url,
		token_url=base_url + "/connect/token",
		revoke_url=base_url + "/connect/revocation",
	)
	api = build_accounting_api(
		hosts, token_getter=lambda: token or TEST_TOKEN, token_saver=lambda t: None, timeout=timeout, **hooks
	)
	return SdkGateway(api)


class NoMasters:
	"""MasterData for documents whose lines carry their templates."""

	def item_tax_template(self, *args, **kwargs):
		return None

	def default_taxes_template(self, template_doctype: str, company: str):
		return None


@dataclass
class World:
	emulator: object
	database: str
	tenant_id: str
	clock: ShiftableClock = field(default_factory=ShiftableClock)
	config: SyncConfig | None = None
	currencies: tuple[str, ...] = ("NZD", "USD")

	def __post_init__(self):
		self.db = PyMySqlDb(self.database, offset=self.clock.seconds)
		self.erp = SqlErp(self.db, self.clock)
		self.config = self.config or nz_config(self.tenant_id)
		self.emulator.add_tenant(
			self.tenant_id,
			name=COMPANY,
			country="NZ",
			base_currency="NZD",
			currencies=self.currencies,
			short_code="!kTl1",
		)
		self.erp.add_company(COMPANY, "NZD")
		self.erp.add_party("Customer", "Tui Hardware Ltd", "accounts@tui.example")
		self.erp.add_party("Customer", "Pacific Rim Traders Inc")
		self.erp.add_party("Supplier", "Southern Packaging Ltd")

	def gateway(self) -> SdkGateway:
		return emulator_gateway(self.emulator.identity_url)

	def journal(self, worker: str = "test") -> SqlJournal:
		return SqlJournal(self.db, self.clock, worker=worker)

	def drain(self, *, journal=None, gateway=None, **kwargs) -> DrainReport:
		return drain(
			self.tenant_id,
			journal=journal or self.journal(),
			erp=self.erp,
			masters=NoMasters(),
			gateway=gateway or self.gateway(),
			config=self.config,
			**kwargs,
		)

	def submit(self, doc: dict) -> str:
		return self.erp.submit(doc, self.tenant_id)

	def log(self, reference_name: str) -> dict:
		return self.db.query(
			"SELECT * FROM `tabXero Sync Log` WHERE reference_name = %(n)s", {"n": reference_name}
		)[0]

	def live(self, number: str | None = None) -> list[dict]:
		return self.emulator.live_documents(self.tenant_id, number=number)

	def close(self):
		self.db.close()
