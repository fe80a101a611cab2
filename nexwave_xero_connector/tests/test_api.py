"""The accountant's actions (api.py), the stuck rows derived from time, and the orphan scan (run with bench
run-tests).

FrappeDb.commit and frappe.enqueue are recorded as in test_jobs: the class transaction is rolled back at
the end, and a drain wake-up is recorded instead of reaching Redis.
"""

import time
from datetime import datetime, timedelta
from unittest.mock import MagicMock, patch
from urllib.parse import parse_qs, urlparse

import frappe
from erpnext.accounts.doctype.sales_invoice.test_sales_invoice import create_sales_invoice
from frappe.utils import now_datetime

from nexwave_xero_connector import adapters, api, connection, jobs
from nexwave_xero_connector.constants import LOG_DOCTYPE, SALES_INVOICE_DOCTYPE
from nexwave_xero_connector.nexwave_xero_connector.doctype.xero_sync_log.xero_sync_log import XeroSyncLog
from nexwave_xero_connector.tests.site_state import XeroTestCase
from nexwave_xero_connector.tests.utils import (
	TEST_TENANT,
	FakeGateway,
	configure_settings,
	forget_wakes,
	isolate_jobs,
	log_rows,
	pending_wakes,
)

# Not "Sales Invoice": its chain reaches Payment Gateway (payments app). These cover create_sales_invoice.
test_dependencies = ["Customer", "Item", "Cost Center", "Warehouse"]

MANAGER = "xero-manager@example.com"
READER = "xero-reader@example.com"
OUTSIDER = "xero-outsider@example.com"


def make_user(email: str, *roles: str) -> str:
	"""Create (once) a desk user with exactly `roles`."""
	if not frappe.db.exists("User", email):
		frappe.get_doc(
			{"doctype": "User", "email": email, "first_name": email.split("@")[0], "send_welcome_email": 0}
		).insert(ignore_permissions=True)
	user = frappe.get_doc("User", email)
	user.set("roles", [])
	user.add_roles(*roles)
	return email


def make_row(status: str = "Queued", tenant_id: str = TEST_TENANT, age_minutes: int = 0, **values) -> str:
	"""Insert a Xero Sync Log row for a made-up Sales Invoice, last changed `age_minutes` ago."""
	name = (
		frappe.get_doc(
			{
				"doctype": LOG_DOCTYPE,
				"status": status,
				"reference_doctype": SALES_INVOICE_DOCTYPE,
				"reference_name": f"SINV-{frappe.generate_hash(length=8)}",
				"tenant_id": tenant_id,
				"xero_type": "ACCREC",
				"title": "test",
				**values,
			}
		)
		.insert(ignore_permissions=True, ignore_links=True)
		.name
	)
	if age_minutes:
		frappe.db.set_value(
			LOG_DOCTYPE, name, "title", "test", modified=now_datetime() - timedelta(minutes=age_minutes)
		)
	return name


class ApiTestCase(XeroTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		make_user(MANAGER, "Accounts Manager")
		make_user(READER, "Accounts User")
		make_user(OUTSIDER, "Blogger")

	def setUp(self):
		isolate_jobs(self)

	def woken(self) -> list[str]:
		"""Tenants whose drain wakes once the request commits."""
		return pending_wakes()


class TestPermissions(ApiTestCase):
	def test_accounts_user_may_not_change_anything(self):
		failed = make_row("Failed")
		orphan = make_row("Orphan")
		si = create_sales_invoice()
		with self.set_user(READER):
			for call in (
				lambda: api.retry([failed]),
				lambda: api.void_in_xero([orphan]),
				lambda: api.push(SALES_INVOICE_DOCTYPE, si.name),
				lambda: api.scan_orphans(),
			):
				self.assertRaises(frappe.PermissionError, call)
		self.assertEqual(frappe.db.get_value(LOG_DOCTYPE, failed, "status"), "Failed")
		self.assertEqual(frappe.db.get_value(LOG_DOCTYPE, orphan, "status"), "Orphan")

	def test_accounts_user_may_read(self):
		si = create_sales_invoice()
		with self.set_user(READER):
			self.assertIn("Queued", api.status_summary())
			info = api.sync_status(SALES_INVOICE_DOCTYPE, si.name)
			self.assertEqual(info["row"].status, "Queued")
			self.assertFalse(info["can_manage"])
			self.assertIsNone(api.xero_url(info["row"].name))

	def test_outsider_may_not_read(self):
		row = make_row("Synced", xero_id="inv-1")
		with self.set_user(OUTSIDER):
			self.assertRaises(frappe.PermissionError, api.status_summary)
			self.assertRaises(frappe.PermissionError, api.xero_url, row)
			self.assertRaises(frappe.PermissionError, api.retry, [row])

	def test_manager_may_act(self):
		with self.set_user(MANAGER):
			self.assertTrue(api.is_manager())
			api.require_manager()
			self.assertEqual(api.scan_orphans(), [])
			self.assertEqual(api.retry([]), {"requeued": 0, "released": 0, "unchanged": 0})


class TestRetryAndVoid(ApiTestCase):
	def test_retry_requeues_a_failed_row_and_wakes_its_drain(self):
		failed = make_row(
			"Failed", error_class="Validation", next_attempt_at=now_datetime() + timedelta(hours=1)
		)
		synced = make_row("Synced", tenant_id="tenant-other")
		with self.set_user(MANAGER):
			result = api.retry(frappe.as_json([failed, synced]))
		self.assertEqual(result, {"requeued": 1, "released": 0, "unchanged": 1})
		row = frappe.db.get_value(
			LOG_DOCTYPE, failed, ["status", "error_class", "next_attempt_at"], as_dict=True
		)
		self.assertEqual((row.status, row.error_class, row.next_attempt_at), ("Queued", None, None))
		self.assertEqual(frappe.db.get_value(LOG_DOCTYPE, synced, "status"), "Synced")
		self.assertEqual(self.woken(), [TEST_TENANT])
		self.assertEqual(self.enqueue.calls, [], "the drain wakes only once the request commits")

	def test_retry_releases_a_stuck_row(self):
		stuck = make_row("Queued", age_minutes=45)
		fresh = make_row("Queued", age_minutes=5)
		with self.set_user(MANAGER):
			result = api.retry([stuck, fresh])
		self.assertEqual(result, {"requeued": 0, "released": 1, "unchanged": 1})
		self.assertGreater(
			frappe.db.get_value(LOG_DOCTYPE, stuck, "modified"), now_datetime() - timedelta(minutes=1)
		)
		self.assertEqual(self.woken(), [TEST_TENANT])

	def test_void_in_xero_queues_an_orphan_with_void_confirmed(self):
		orphan = make_row("Orphan", xero_id="inv-1")
		failed = make_row("Failed")
		with self.set_user(MANAGER):
			result = api.void_in_xero([orphan, failed])
		self.assertEqual(result, {"queued": 1, "unchanged": 1})
		row = frappe.db.get_value(
			LOG_DOCTYPE, orphan, ["status", "void_confirmed", "cancel_requested"], as_dict=True
		)
		self.assertEqual((row.status, row.void_confirmed, row.cancel_requested), ("Queued", 1, 1))
		self.assertEqual(frappe.db.get_value(LOG_DOCTYPE, failed, "status"), "Failed")
		self.assertEqual(self.woken(), [TEST_TENANT])


class TestPush(ApiTestCase):
	def test_push_queues_an_invoice_that_has_no_row(self):
		configure_settings(enabled=0)
		si = create_sales_invoice()
		self.assertEqual(log_rows(SALES_INVOICE_DOCTYPE, si.name), [])
		configure_settings()
		with self.set_user(MANAGER):
			row = api.push(SALES_INVOICE_DOCTYPE, si.name)
		self.assertEqual(row.status, "Queued")
		self.assertEqual(log_rows(SALES_INVOICE_DOCTYPE, si.name)[0].queued_by, MANAGER)
		self.assertEqual(self.woken(), [TEST_TENANT])

	def test_push_requeues_a_failed_row(self):
		si = create_sales_invoice()
		name = log_rows(SALES_INVOICE_DOCTYPE, si.name)[0].name
		frappe.db.set_value(LOG_DOCTYPE, name, "status", "Failed")
		with self.set_user(MANAGER):
			self.assertEqual(api.push(SALES_INVOICE_DOCTYPE, si.name).status, "Queued")

	def test_push_refuses_what_is_queued_sent_or_not_submitted(self):
		si = create_sales_invoice()
		draft = create_sales_invoice(do_not_submit=True)
		with self.set_user(MANAGER):
			self.assertRaises(frappe.ValidationError, api.push, SALES_INVOICE_DOCTYPE, si.name)
			self.assertRaises(frappe.ValidationError, api.push, SALES_INVOICE_DOCTYPE, draft.name)
			self.assertRaises(frappe.ValidationError, api.push, "Journal Entry", si.name)
			frappe.db.set_value(SALES_INVOICE_DOCTYPE, si.name, "xero_id", "inv-1")
			self.assertRaises(frappe.ValidationError, api.push, SALES_INVOICE_DOCTYPE, si.name)


class TestOrphansAndStuck(ApiTestCase):
	def cancelled_behind_our_back(self) -> tuple[str, str]:
		"""A synced invoice whose docstatus became 2 without on_cancel (a data fix)."""
		si = create_sales_invoice()
		name = log_rows(SALES_INVOICE_DOCTYPE, si.name)[0].name
		frappe.db.set_value(LOG_DOCTYPE, name, {"status": "Synced", "xero_id": "inv-1"})
		frappe.db.set_value(SALES_INVOICE_DOCTYPE, si.name, "docstatus", 2)
		forget_wakes()
		return si.name, name

	def test_scan_orphans_flags_a_synced_row_of_a_cancelled_invoice(self):
		invoice, row = self.cancelled_behind_our_back()
		with self.set_user(MANAGER):
			found = api.scan_orphans()
		self.assertIn({"doctype": SALES_INVOICE_DOCTYPE, "name": invoice}, found)
		values = frappe.db.get_value(LOG_DOCTYPE, row, ["status", "cancel_requested"], as_dict=True)
		self.assertEqual((values.status, values.cancel_requested), ("Queued", 1))
		self.assertEqual(self.woken(), [TEST_TENANT])
		with self.set_user(MANAGER):
			self.assertEqual(api.scan_orphans(), [], "a flagged row is not flagged twice")

	def test_hourly_scan_runs_only_when_connected(self):
		_invoice, row = self.cancelled_behind_our_back()
		with patch.object(jobs, "is_ready", return_value=False):
			jobs.scan_orphans()
		self.assertEqual(frappe.db.get_value(LOG_DOCTYPE, row, "status"), "Synced")
		with (
			patch.object(jobs, "is_ready", return_value=True),
			patch("nexwave_xero_connector.wiring.make_gateway", return_value=FakeGateway()),
		):
			jobs.scan_orphans()
		self.assertEqual(frappe.db.get_value(LOG_DOCTYPE, row, "status"), "Queued")

	def test_stuck_is_derived_from_time_with_no_job_running(self):
		configure_settings(stuck_after_minutes=10)
		old = make_row("Queued", age_minutes=20)
		fresh = make_row("Queued", age_minutes=5)
		failed = make_row("Failed", age_minutes=20)
		# next_attempt_at is kept in UTC (the database's clock decides leases and back-offs)
		backing_off = make_row(
			"Queued", age_minutes=20, next_attempt_at=datetime.utcnow() + timedelta(hours=1)
		)
		rows = [old, fresh, failed, backing_off]
		with patch.object(jobs, "sweep", side_effect=AssertionError("no job may be needed")):
			self.assertEqual(api.stuck_rows(rows), [old])
			self.assertEqual(api.stuck_count()["value"], api.status_summary()["Stuck"])
			self.assertGreaterEqual(api.stuck_count()["value"], 1)
			log = frappe.get_doc(LOG_DOCTYPE, old)
			log.run_method("onload")
			self.assertTrue(log.get_onload().get("stuck"))
			log = frappe.get_doc(LOG_DOCTYPE, fresh)
			log.run_method("onload")
			self.assertFalse(log.get_onload().get("stuck"))

	def test_thirty_minutes_when_the_threshold_is_unset(self):
		configure_settings(stuck_after_minutes=0)
		self.assertEqual(api.stuck_rows([make_row("Queued", age_minutes=20)]), [])
		self.assertEqual(len(api.stuck_rows([make_row("Queued", age_minutes=40)])), 1)


class TestStatusAndLinks(ApiTestCase):
	def test_status_summary_counts_by_status_and_stuck(self):
		with self.set_user(MANAGER):
			before = api.status_summary()  # the site's own rows count too: the test adds to them
		for status, age in (("Queued", 0), ("Queued", 45), ("Failed", 45), ("Orphan", 0), ("Synced", 0)):
			make_row(status, age_minutes=age)
		with self.set_user(MANAGER):
			summary = api.status_summary()
		self.assertEqual(
			{key: count - before[key] for key, count in summary.items()},
			{
				"Queued": 2,
				"Synced": 1,
				"Failed": 1,
				"Voided": 0,
				"Skipped": 0,
				"Orphan": 1,
				"Stuck": 1,
				"Total": 5,
			},
		)

	def test_view_in_xero_goes_through_the_organisation_short_code(self):
		settings = adapters.read_settings()
		settings.tenants[0].short_code = "!ab&c"
		adapters.save_settings(settings)
		row = make_row("Synced", xero_id="inv-1", xero_type="ACCPAYCREDIT")
		url = urlparse(api.xero_url(row))
		self.assertEqual(
			f"{url.scheme}://{url.netloc}{url.path}", "https://go.xero.com/organisationlogin/default.aspx"
		)
		query = parse_qs(url.query)
		self.assertEqual(query["shortcode"], ["!ab&c"])
		self.assertEqual(query["redirecturl"], ["/AccountsPayable/ViewCreditNote.aspx?creditNoteID=inv-1"])

	def test_view_in_xero_without_short_code_or_id(self):
		self.assertEqual(
			api.xero_url_for("unknown-tenant", "ACCREC", "inv-2"),
			"https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID=inv-2",
		)
		self.assertIsNone(api.xero_url_for(TEST_TENANT, "ACCREC", None))

	def test_log_clearing_removes_only_old_finished_rows_with_their_attempts(self):
		old = {
			status: make_row(status, age_minutes=91 * 24 * 60) for status in ("Synced", "Voided", "Failed")
		}
		recent = make_row("Synced")
		XeroSyncLog.clear_old_logs(days=90)
		self.assertFalse(frappe.db.exists(LOG_DOCTYPE, old["Synced"]))
		self.assertFalse(frappe.db.exists(LOG_DOCTYPE, old["Voided"]))
		self.assertTrue(frappe.db.exists(LOG_DOCTYPE, old["Failed"]))
		self.assertTrue(frappe.db.exists(LOG_DOCTYPE, recent))

	def test_invoice_keeps_its_link_after_the_row_is_cleared(self):
		si = create_sales_invoice()
		frappe.db.delete(LOG_DOCTYPE, {"reference_name": si.name})
		frappe.db.set_value(SALES_INVOICE_DOCTYPE, si.name, "xero_id", "inv-3")
		info = api.sync_status(SALES_INVOICE_DOCTYPE, si.name)
		self.assertIsNone(info["row"])
		self.assertEqual(info["xero_url"], "https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID=inv-3")
		self.assertTrue(info["can_manage"])


class TestConnectionAlerts(ApiTestCase):
	def test_broken_connection_and_exhausted_day_budget_are_reported_in_words(self):
		connection.mark_broken("Xero refused the refresh token (invalid_grant).")  # what the keeper says
		governor = MagicMock()
		governor.paused_until.return_value = time.time() + 3600
		with patch("nexwave_xero_connector.wiring.make_governor", return_value=governor):
			alerts = api.connection_alerts()
		self.assertEqual([a["colour"] for a in alerts], ["red", "orange"])
		self.assertEqual(
			alerts[0]["message"],
			"Reconnect to Xero: Xero refused the refresh token (invalid_grant). Nothing is lost: documents "
			"wait in the queue and go out once someone presses Connect to Xero in Xero Sync Settings.",
		)
		self.assertIn("call limit", alerts[1]["message"])
		governor.paused_until.assert_called_with(TEST_TENANT)

	def test_nothing_to_say_when_connected_and_within_limits(self):
		adapters.set_settings_values({"connection_status": "Connected", "connection_note": ""})
		governor = MagicMock()
		governor.paused_until.return_value = None
		with patch("nexwave_xero_connector.wiring.make_governor", return_value=governor):
			self.assertEqual(api.connection_alerts(), [])

	def test_someone_without_log_access_is_refused(self):
		with self.set_user(OUTSIDER), self.assertRaises(frappe.PermissionError):
			api.connection_alerts()
