"""Helpers for the Frappe-layer tests (bench run-tests)."""

from __future__ import annotations

import functools
import json
import uuid
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from unittest.mock import patch

import frappe
from frappe.utils import getdate

from nexwave_xero_connector import adapters
from nexwave_xero_connector.constants import DRAIN_JOB_KEY, LOG_DOCTYPE
from nexwave_xero_connector.sync.model import (
	ContactRecord,
	ElementResult,
	Kind,
	XeroPayload,
	XeroRecord,
)

TEST_COMPANY = "_Test Company"
TEST_TENANT = "tenant-test-company"


def configure_settings(tenants: dict[str, str] | None = None, **values) -> None:
	"""Save the test class's Xero Sync Settings (site_state.SettingsUnderTest): enabled, everything in
	scope, `tenants` as {company: tenant_id}."""
	settings = adapters.read_settings()
	settings.update(
		{
			"enabled": 1,
			"posting_status": "AUTHORISED",
			"sync_sales_invoices": 1,
			"sync_sales_returns": 1,
			"sync_purchase_invoices": 1,
			"sync_purchase_returns": 1,
			"void_on_cancel": 1,
			"batch_size": 50,
		}
	)
	settings.update(values)
	settings.set("tenants", [])
	for company, tenant_id in (tenants if tenants is not None else {TEST_COMPANY: TEST_TENANT}).items():
		settings.append("tenants", {"company": company, "tenant_id": tenant_id, "tenant_name": company})
	adapters.save_settings(settings)


def log_rows(doctype: str, name: str) -> list[dict]:
	"""The Xero Sync Log rows of one ERP document."""
	return frappe.get_all(
		LOG_DOCTYPE,
		filters={"reference_doctype": doctype, "reference_name": name},
		fields=["*"],
	)


class EnqueueRecorder:
	"""Stands in for frappe.enqueue: records each call instead of reaching Redis. A call with now=True is
	not a job (Frappe runs it inline, as Notification Logs are made in tests): it still runs."""

	def __init__(self):
		self.calls: list[dict] = []

	def __call__(self, method, **kwargs):
		if kwargs.get("now"):
			from frappe.utils.background_jobs import enqueue

			return enqueue(method, **kwargs)
		self.calls.append({"method": method, **kwargs})

	def tenants(self) -> list[str]:
		return [c["tenant_id"] for c in self.calls]


def pending_wakes() -> list[str]:
	"""Tenants whose drain is woken when the current transaction commits, in order."""
	from nexwave_xero_connector.events import wake_drain

	return [
		f.args[0]
		for f in frappe.db.after_commit._functions
		if isinstance(f, functools.partial) and f.func is wake_drain
	]


def forget_wakes() -> None:
	"""Drop the wake-ups earlier tests of the class registered (FrappeTestCase never commits)."""
	from nexwave_xero_connector.events import wake_drain

	callbacks = frappe.db.after_commit._functions
	for f in [f for f in callbacks if isinstance(f, functools.partial) and f.func is wake_drain]:
		callbacks.remove(f)


class FakeGateway:
	"""An always-agreeing Xero organisation in memory (implements sync.ports.XeroGateway)."""

	def __init__(self):
		self.created: list[dict] = []
		self.contacts: list = []
		self.removed: list[XeroRecord] = []  # what "someone" voided or deleted in Xero
		self.changed: list[XeroRecord] = []  # what changed there otherwise (payments), as full records
		self.listings: list[dict] = []  # each modified_since call's arguments

	def find_documents(self, tenant_id, kind, numbers, contact_ids=()):
		return []

	def get_documents(self, tenant_id, kind, xero_ids):
		return [r for r in self.changed if r.xero_id in xero_ids]

	def removed_since(self, tenant_id, since):
		return list(self.removed)

	def modified_since(self, tenant_id, since, statuses, *, summary_only=False, credit_notes=True):
		self.listings.append({"tenant_id": tenant_id, "since": since, "summary_only": summary_only})
		return [
			r
			for r in [*self.removed, *self.changed]
			if r.status in statuses and (credit_notes or not r.kind.is_credit_note)
		]

	def wire_sizes(self, kind, bodies):
		return [len(json.dumps(body, default=str)) for body in bodies]

	def create_documents(self, tenant_id, kind, bodies, idempotency_key, send_by=None):
		results = []
		for body in bodies:
			self.created.append(body)
			record = XeroRecord(
				kind=kind, xero_id=str(uuid.uuid4()), number=body.get("Number"), status="AUTHORISED"
			)
			results.append(ElementResult(record))
		return results

	def set_statuses(self, tenant_id, kind, changes, idempotency_key):
		return [
			ElementResult(XeroRecord(kind=kind, xero_id=xero_id, number=None, status=status))
			for xero_id, status in changes
		]

	def allocate_credit(self, tenant_id, kind, credit_note_id, invoice_id, amount, on, idempotency_key):
		return ElementResult(None)

	def find_contacts(self, tenant_id, contact_numbers):
		return []

	def find_contacts_by_name(self, tenant_id, names):
		return []

	def create_contacts(self, tenant_id, contacts, idempotency_key):
		made = [ContactRecord(str(uuid.uuid4()), c.name, c.party) for c in contacts]
		self.contacts += made
		return made


def simple_mapper(doc: dict, *, contact_id: str, **_kwargs) -> XeroPayload:
	"""A minimal stand-in for sync.mapping.build_payload: enough for the Frappe wiring to be tested."""
	kind = Kind.SALES_CREDIT if doc.get("is_return") else Kind.SALES_INVOICE
	total = abs(Decimal(str(doc.get("grand_total") or 0)))
	on: date = getdate(doc.get("posting_date"))
	body = {"Number": doc["name"], "Contact": {"ContactID": contact_id}, "Total": str(total)}
	return XeroPayload(kind=kind, number=doc["name"], contact_id=contact_id, body=body, total=total, date=on)


@contextmanager
def connected(gateway):
	"""Run the app's jobs as if Xero were connected: `gateway` answers, with the stand-in mapper. Drains
	claim at once (no batch filling: test_jobs.TestDrainSlicesAndHolds covers it)."""
	from nexwave_xero_connector import jobs

	with (
		patch.object(jobs, "is_ready", return_value=True),
		patch.object(jobs, "batch_fill_window", return_value=0.0),
		patch.object(jobs, "organisation_facts", return_value=None),
		patch("nexwave_xero_connector.wiring.make_gateway", return_value=gateway),
		patch("nexwave_xero_connector.sync.drain.loop.default_mapper", return_value=simple_mapper),
	):
		yield


def isolate_jobs(testcase, *extra_patches: tuple[str, object]) -> None:
	"""Set up a test of code that enqueues and commits: settings configured, frappe.enqueue recorded in
	`testcase.enqueue`, and the journal's commits recorded in `testcase.commits` instead of committing
	past FrappeTestCase's class rollback. `extra_patches` are more (target, value) pairs."""
	configure_settings()
	forget_wakes()
	frappe.cache.delete_keys(f"{DRAIN_JOB_KEY}:")  # no drain left pending by an earlier test
	testcase.enqueue = EnqueueRecorder()
	testcase.commits = []
	for target, value in (
		("frappe.enqueue", testcase.enqueue),
		(
			"nexwave_xero_connector.adapters.FrappeDb.commit",
			lambda _db, reason: testcase.commits.append(reason),
		),
		*extra_patches,
	):
		patcher = patch(target, value)
		patcher.start()
		testcase.addCleanup(patcher.stop)
