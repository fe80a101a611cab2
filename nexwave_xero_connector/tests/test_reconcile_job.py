"""The hourly reconciliation's Frappe wiring and the manager's actions on what it finds (bench run-tests).

Xero is a fake organisation in memory; the log row, the Sales Invoice and Xero Untracked Document are
real. The decisions themselves are tested against the emulator in tests/integration/test_reconcile.py.
"""

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from unittest.mock import patch

import frappe
from erpnext.accounts.doctype.sales_invoice.test_sales_invoice import create_sales_invoice

from nexwave_xero_connector import adapters, jobs, reconcile_job, wiring
from nexwave_xero_connector.constants import LOG_DOCTYPE, SALES_INVOICE_DOCTYPE
from nexwave_xero_connector.sync.config import TenantLink
from nexwave_xero_connector.sync.errors import XeroError
from nexwave_xero_connector.sync.mapping import document_url
from nexwave_xero_connector.sync.model import ElementResult, ErrorClass, Kind, XeroRecord
from nexwave_xero_connector.tests.test_api import MANAGER, READER, ApiTestCase
from nexwave_xero_connector.tests.utils import TEST_COMPANY, TEST_TENANT, FakeGateway, log_rows

# Not "Sales Invoice": its chain reaches Payment Gateway (payments app). These cover create_sales_invoice.
test_dependencies = ["Customer", "Item", "Cost Center", "Warehouse"]

DOCTYPE = reconcile_job.UNTRACKED_DOCTYPE
OTHER_TENANT = "tenant-down"


class ReconcileGateway(FakeGateway):
	"""An organisation holding `documents`; live_since fails for the tenants in `down`."""

	def __init__(self, documents: list[XeroRecord], down: tuple[str, ...] = ()):
		super().__init__()
		self.documents = {d.xero_id: d for d in documents}
		self.down = down
		self.asked_since: dict[str, datetime] = {}
		self.changes: list[tuple[str, str]] = []

	def live_since(self, tenant_id, since):
		if tenant_id in self.down:
			raise XeroError("Xero is unavailable.", error_class=ErrorClass.TRANSIENT, status=503)
		self.asked_since[tenant_id] = since
		return [d for d in self.documents.values() if d.is_live]

	def get_documents(self, tenant_id, kind, xero_ids):
		return [self.documents[i] for i in xero_ids if i in self.documents]

	def created_by_app(self, tenant_id, kind, xero_ids):
		return {i for i in xero_ids if i in self.documents}  # this organisation's documents all came from us

	def set_statuses(self, tenant_id, kind, changes, idempotency_key):
		self.changes += list(changes)
		for xero_id, status in changes:
			self.documents[xero_id] = replace(self.documents[xero_id], status=status)
		return [ElementResult(self.documents[xero_id]) for xero_id, _ in changes]


def xero_invoice(xero_id: str, number: str, **changes) -> XeroRecord:
	"""A sales invoice as this site sent it: with its Url marker."""
	values = dict(
		url=document_url(adapters.load_config().site_url, SALES_INVOICE_DOCTYPE, number),
		kind=Kind.SALES_INVOICE,
		xero_id=xero_id,
		number=number,
		status="AUTHORISED",
		contact_id="contact-1",
		total=Decimal("100.00"),
	)
	return XeroRecord(**{**values, **changes})


def make_orphan(xero_id: str = "copy-1", tenant_id: str = TEST_TENANT) -> str:
	return (
		frappe.get_doc(
			{
				"doctype": DOCTYPE,
				"tenant_id": tenant_id,
				"xero_type": "ACCREC",
				"xero_id": f"{xero_id}-{frappe.generate_hash(length=6)}",
				"number": "SINV-X",
				"status": "Orphan",
				"reason": "it has payments",
			}
		)
		.insert(ignore_permissions=True)
		.name
	)


class TestUntrackedActions(ApiTestCase):
	def test_accounts_user_may_read_but_not_void_or_ignore(self):
		orphan = make_orphan()
		with self.set_user(READER):
			self.assertTrue(frappe.has_permission(DOCTYPE, "read"))
			self.assertRaises(frappe.PermissionError, reconcile_job.void_untracked, [orphan])
			self.assertRaises(frappe.PermissionError, reconcile_job.ignore_untracked, [orphan])
		self.assertEqual(frappe.db.get_value(DOCTYPE, orphan, "status"), "Orphan")

	def test_manager_voids_an_orphan_that_nothing_blocks_any_more(self):
		orphan = make_orphan()
		xero_id = frappe.db.get_value(DOCTYPE, orphan, "xero_id")
		gateway = ReconcileGateway([xero_invoice(xero_id, "SINV-X")])
		with self.set_user(MANAGER), patch.object(wiring, "make_gateway", return_value=gateway):
			result = reconcile_job.void_untracked([orphan])
		self.assertEqual(result, {"voided": 1, "still_live": 0, "unchanged": 0})
		self.assertEqual(gateway.changes, [(xero_id, "VOIDED")])
		row = frappe.db.get_value(DOCTYPE, orphan, ["status", "xero_status", "voided_at"], as_dict=True)
		self.assertEqual((row.status, row.xero_status), ("Voided", "VOIDED"))
		self.assertIsNotNone(row.voided_at)

	def test_manager_void_keeps_a_paid_copy_as_an_orphan_with_the_reason(self):
		orphan = make_orphan()
		xero_id = frappe.db.get_value(DOCTYPE, orphan, "xero_id")
		paid = xero_invoice(xero_id, "SINV-X", amount_paid=Decimal("40.00"))
		gateway = ReconcileGateway([paid])
		with self.set_user(MANAGER), patch.object(wiring, "make_gateway", return_value=gateway):
			result = reconcile_job.void_untracked([orphan])
		self.assertEqual(result["still_live"], 1)
		self.assertEqual(gateway.changes, [])
		self.assertIn("payments of 40", frappe.db.get_value(DOCTYPE, orphan, "reason"))

	def test_manager_ignores_an_orphan_and_a_later_run_keeps_it_ignored(self):
		orphan = make_orphan()
		with self.set_user(MANAGER):
			self.assertEqual(reconcile_job.ignore_untracked([orphan]), {"ignored": 1, "unchanged": 0})
		xero_id = frappe.db.get_value(DOCTYPE, orphan, "xero_id")
		finding = reconcile_job.Finding(Kind.SALES_INVOICE, xero_id, "SINV-X", "Orphan", "paid", "PAID")
		reconcile_job.record_finding(TEST_TENANT, finding)
		self.assertEqual(frappe.db.get_value(DOCTYPE, orphan, "status"), "Ignored")


class TestReconcileJob(ApiTestCase):
	def tracked_invoice(self) -> tuple[str, str]:
		"""A submitted Sales Invoice whose row is Synced with its Xero ID; returns (name, xero id)."""
		si = create_sales_invoice()
		(row,) = log_rows(SALES_INVOICE_DOCTYPE, si.name)
		xero_id = f"tracked-{frappe.generate_hash(length=8)}"
		frappe.db.set_value(
			LOG_DOCTYPE, row.name, {"status": "Synced", "xero_id": xero_id, "xero_number": si.name}
		)
		return si.name, xero_id

	def run_job(self, gateway, tenants=((TEST_COMPANY, TEST_TENANT),), entry=None):
		config = replace(adapters.load_config(), tenants=tuple(TenantLink(c, t, c, "") for c, t in tenants))
		with (
			patch.object(jobs, "is_ready", return_value=True),
			patch.object(wiring, "make_gateway", return_value=gateway),
			patch.object(adapters, "load_config", return_value=config),
		):
			return (entry or reconcile_job.reconcile_organisations)()

	def test_the_hourly_entry_returns_nothing_for_bench_execute_to_print(self):
		name, tracked = self.tracked_invoice()
		gateway = ReconcileGateway([xero_invoice(tracked, name)])
		self.assertIsNone(self.run_job(gateway, entry=reconcile_job.reconcile_untracked))
		self.assertIn(TEST_TENANT, gateway.asked_since, "it did run")

	def test_an_untracked_copy_is_voided_and_recorded_with_its_document(self):
		name, tracked = self.tracked_invoice()
		copy = f"copy-{frappe.generate_hash(length=8)}"
		gateway = ReconcileGateway([xero_invoice(tracked, name), xero_invoice(copy, name)])
		report = self.run_job(gateway)[TEST_TENANT]
		self.assertEqual((report.listed, report.untracked, len(report.voided)), (2, 1, 1))
		self.assertEqual(gateway.changes, [(copy, "VOIDED")])
		row = frappe.get_all(DOCTYPE, filters={"xero_id": copy}, fields=["*"])[0]
		self.assertEqual(
			(row.status, row.reference_doctype, row.reference_name, row.tenant_id),
			("Voided", SALES_INVOICE_DOCTYPE, name, TEST_TENANT),
		)

	def test_a_copy_whose_row_is_queued_is_left_for_the_next_run(self):
		name, tracked = self.tracked_invoice()
		frappe.db.set_value(LOG_DOCTYPE, {"reference_name": name}, "status", "Queued")
		copy = f"copy-{frappe.generate_hash(length=8)}"
		gateway = ReconcileGateway([xero_invoice(tracked, name), xero_invoice(copy, name)])
		report = self.run_job(gateway)[TEST_TENANT]
		self.assertEqual([r.xero_id for r in report.deferred], [copy])
		self.assertEqual(gateway.changes, [])
		self.assertFalse(frappe.db.exists(DOCTYPE, {"xero_id": copy}))

	def test_one_organisation_failing_does_not_stop_the_other(self):
		name, tracked = self.tracked_invoice()
		copy = f"copy-{frappe.generate_hash(length=8)}"
		gateway = ReconcileGateway(
			[xero_invoice(tracked, name), xero_invoice(copy, name)], down=(OTHER_TENANT,)
		)
		results = self.run_job(gateway, tenants=((TEST_COMPANY, OTHER_TENANT), (TEST_COMPANY, TEST_TENANT)))
		self.assertIn("Xero is unavailable", results[OTHER_TENANT])
		self.assertEqual(len(results[TEST_TENANT].voided), 1)
		self.assertEqual(frappe.db.get_value(DOCTYPE, {"xero_id": copy}, "status"), "Voided")

	def test_the_next_run_starts_where_the_cache_says(self):
		since = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)
		frappe.cache.set_value(f"{reconcile_job.UNTRACKED_SCAN_KEY}:{TEST_TENANT}", since)
		self.addCleanup(frappe.cache.delete_value, f"{reconcile_job.UNTRACKED_SCAN_KEY}:{TEST_TENANT}")
		gateway = ReconcileGateway([])
		report = self.run_job(gateway)[TEST_TENANT]
		self.assertEqual(gateway.asked_since[TEST_TENANT], since)
		self.assertLess(report.next_since, datetime.now(timezone.utc))
		self.assertGreater(report.next_since, since - timedelta(minutes=1))

	def test_nothing_runs_while_the_connection_is_unusable(self):
		with (
			patch.object(jobs, "is_ready", return_value=False),
			patch.object(wiring, "make_gateway") as make_gateway,
		):
			self.assertEqual(reconcile_job.reconcile_organisations(), {})
		make_gateway.assert_not_called()
