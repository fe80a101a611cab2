"""Backfill from the desk: the dialog's server methods (permissions, validation) and a run on real
ERPNext documents with an in-memory Xero (run with bench run-tests)."""

from decimal import Decimal

import frappe
from erpnext.accounts.doctype.sales_invoice.test_sales_invoice import create_sales_invoice
from frappe.utils import add_days, getdate, nowdate

from nexwave_xero_connector import adapters, backfill_job
from nexwave_xero_connector.constants import SALES_INVOICE_DOCTYPE
from nexwave_xero_connector.sync.model import Kind, XeroRecord
from nexwave_xero_connector.tests.test_api import MANAGER, OUTSIDER, READER, ApiTestCase
from nexwave_xero_connector.tests.utils import (
	TEST_COMPANY,
	TEST_TENANT,
	FakeGateway,
	log_rows,
)

test_dependencies = ["Customer", "Item", "Cost Center", "Warehouse"]


class XeroWithDocuments(FakeGateway):
	"""An organisation that already has some documents (keyed by hand)."""

	def __init__(self, records):
		super().__init__()
		self.records = records
		self.lookups = []

	def find_documents(self, tenant_id, kind, numbers, contact_ids=()):
		self.lookups.append((kind, tuple(numbers)))
		return [r for r in self.records if r.kind == kind and r.number in numbers]


class TestBackfillMethods(ApiTestCase):
	def setUp(self):
		super().setUp()
		frappe.db.delete("Xero Backfill Run", {"company": TEST_COMPANY})  # the class shares one transaction

	def start(self, **values):
		args = {
			"company": TEST_COMPANY,
			"from_date": "2026-01-01",
			"to_date": "2026-03-31",
			"mode": "Adopt only",
		}
		return backfill_job.start_backfill(**{**args, **values})

	def test_only_managers_may_start_stop_or_resume(self):
		for user in (READER, OUTSIDER):
			with self.set_user(user):
				self.assertRaises(frappe.PermissionError, self.start)
				self.assertRaises(frappe.PermissionError, backfill_job.stop_backfill, "any")
				self.assertRaises(frappe.PermissionError, backfill_job.resume_backfill, "any")
		self.assertEqual(
			frappe.get_all("Xero Backfill Run", filters={"owner": ("in", [READER, OUTSIDER])}), []
		)

	def test_a_manager_starts_a_run_which_is_queued_after_commit(self):
		with self.set_user(MANAGER):
			name = self.start(kinds='["ACCREC", "ACCPAY"]', mode="Adopt, then create")
		run = frappe.get_doc("Xero Backfill Run", name)
		self.assertEqual(
			(run.status, run.mode, run.kinds, str(run.from_date), run.owner),
			("Queued", "Adopt, then create", "ACCREC\nACCPAY", "2026-01-01", MANAGER),
		)
		(call,) = self.enqueue.calls
		self.assertEqual((call["method"], call["run"], call["queue"]), (backfill_job.RUN_JOB, name, "long"))
		self.assertTrue(call["enqueue_after_commit"])
		with self.set_user(MANAGER):
			# one run per company at a time; a queued one can be stopped
			self.assertRaises(frappe.ValidationError, self.start)
			self.assertEqual(backfill_job.stop_backfill(name), "Queued")
		self.assertEqual(frappe.db.get_value("Xero Backfill Run", name, "stop_requested"), 1)

	def test_bad_arguments_are_refused(self):
		with self.set_user(MANAGER):
			self.assertRaises(frappe.ValidationError, self.start, mode="Overwrite")
			self.assertRaises(
				frappe.ValidationError, self.start, from_date="2026-04-01", to_date="2026-03-01"
			)
			self.assertRaises(frappe.ValidationError, self.start, kinds="INVOICES")
			self.assertRaises(frappe.ValidationError, self.start, company="_Test Company 1")

	def test_a_run_adopts_an_invoice_posted_before_go_live_and_skips_one_xero_lacks(self):
		settings = adapters.read_settings()
		settings.tenants[0].go_live_date = nowdate()
		adapters.save_settings(settings)
		kept = create_sales_invoice(posting_date=add_days(nowdate(), -5))
		lacking = create_sales_invoice(posting_date=add_days(nowdate(), -4))
		self.assertEqual(log_rows(SALES_INVOICE_DOCTYPE, kept.name)[0].status, "Skipped")  # the hook's
		contact = "contact-of-test-customer"
		frappe.db.set_value(
			"Customer", kept.customer, "xero_contact_map", frappe.as_json({TEST_TENANT: contact})
		)
		xero = XeroWithDocuments(
			[
				XeroRecord(
					Kind.SALES_INVOICE,
					"xero-kept",
					kept.name,
					"AUTHORISED",
					contact_id=contact,
					total=Decimal(str(kept.rounded_total or kept.grand_total)),
				)
			]
		)
		run = backfill_job.new_run(
			TEST_COMPANY, add_days(nowdate(), -30), add_days(nowdate(), -1), "Adopt only", "ACCREC"
		)
		report = backfill_job.run_backfill(run.name, gateway=xero, pace=0)
		self.assertEqual((report.adopted, report.skipped, report.conflicts), (1, 1, 0))
		(row,) = log_rows(SALES_INVOICE_DOCTYPE, kept.name)
		self.assertEqual(
			(row.status, row.xero_id, row.tenant_id, row.backfill), ("Synced", "xero-kept", TEST_TENANT, 1)
		)
		self.assertTrue(row.error_message.startswith("Adopted: already in Xero"))
		self.assertEqual(frappe.db.get_value(SALES_INVOICE_DOCTYPE, kept.name, "xero_id"), "xero-kept")
		self.assertEqual(log_rows(SALES_INVOICE_DOCTYPE, lacking.name)[0].status, "Skipped")
		done = frappe.get_doc("Xero Backfill Run", run.name)
		self.assertEqual((done.status, done.examined, done.adopted, done.skipped), ("Done", 2, 1, 1))
		self.assertEqual(
			done.message,
			"Done: 1 adopted, 0 conflicts (see the Failed rows of the Xero Sync Log), 1 not in Xero and left "
			"alone (adopt only).",
		)
		self.assertIn("backfill: the run's outcome is recorded", self.commits)
		self.assertEqual(getdate(done.to_date), getdate(add_days(nowdate(), -1)))

	def test_a_run_that_creates_says_so_when_done(self):
		settings = adapters.read_settings()
		settings.tenants[0].go_live_date = nowdate()
		adapters.save_settings(settings)
		lacking = create_sales_invoice(posting_date=add_days(nowdate(), -4))
		run = backfill_job.new_run(
			TEST_COMPANY, add_days(nowdate(), -30), add_days(nowdate(), -1), "Adopt, then create", "ACCREC"
		)
		report = backfill_job.run_backfill(run.name, gateway=XeroWithDocuments([]), pace=0)
		self.assertEqual(log_rows(SALES_INVOICE_DOCTYPE, lacking.name)[0].status, "Queued")
		self.assertEqual((report.adopted, report.conflicts, report.skipped), (0, 0, 0))
		self.assertEqual(
			frappe.db.get_value("Xero Backfill Run", run.name, "message"),
			f"Done: 0 adopted, 0 conflicts (see the Failed rows of the Xero Sync Log), {report.queued} not in "
			"Xero and queued to be created (after every live document).",
		)

	def test_the_hourly_job_queues_paused_runs_again(self):
		run = backfill_job.new_run(TEST_COMPANY, "2026-01-01", "2026-01-31", "Adopt only")
		frappe.db.set_value("Xero Backfill Run", run.name, "status", "Paused")
		self.assertEqual(backfill_job.resume_paused(), [run.name])
		self.assertEqual(frappe.db.get_value("Xero Backfill Run", run.name, "status"), "Queued")
		self.assertEqual([c["run"] for c in self.enqueue.calls], [run.name])
