"""drain_tenant, sweep, the hourly scans and reconnecting, over the real Xero Sync Log, with a fake Xero
(run with bench run-tests).

FrappeDb.commit is patched to a no-op here: the journal would otherwise commit test data past
FrappeTestCase's class rollback. One connection sees its own uncommitted writes, so the journal's
claim-then-select still works; what this does not test is visibility to a second worker.
"""

import dataclasses
from datetime import datetime, timedelta
from unittest.mock import MagicMock, PropertyMock, patch

import frappe
from erpnext.accounts.doctype.sales_invoice.test_sales_invoice import create_sales_invoice
from frappe.utils import now_datetime

from nexwave_xero_connector import adapters, events, jobs, wiring
from nexwave_xero_connector.constants import LOG_DOCTYPE, SALES_INVOICE_DOCTYPE
from nexwave_xero_connector.sync.journal import SqlJournal
from nexwave_xero_connector.tests.site_state import XeroTestCase
from nexwave_xero_connector.tests.utils import (
	TEST_TENANT,
	FakeGateway,
	connected,
	forget_wakes,
	isolate_jobs,
	log_rows,
	pending_wakes,
)

# Not "Sales Invoice": its chain reaches Payment Gateway (payments app). These cover create_sales_invoice.
test_dependencies = ["Customer", "Item", "Cost Center", "Warehouse"]


class TestDrainAndSweep(XeroTestCase):
	def setUp(self):
		isolate_jobs(self)

	def test_drain_leaves_rows_queued_and_untouched_while_the_connection_is_unusable(self):
		si = create_sales_invoice()
		with (
			patch.object(jobs, "is_ready", return_value=False),
			patch("nexwave_xero_connector.wiring.make_gateway") as make_gateway,
		):
			jobs.drain_tenant(TEST_TENANT)
		make_gateway.assert_not_called()
		row = log_rows(SALES_INVOICE_DOCTYPE, si.name)[0]
		self.assertEqual((row.status, row.attempts), ("Queued", 0))
		frappe.db.delete(LOG_DOCTYPE, {"name": row.name})  # tests in this class share the queue

	def test_drain_marks_synced_and_writes_xero_id_back(self):
		gateway = FakeGateway()
		si = create_sales_invoice()
		with connected(gateway):
			jobs.drain_tenant(TEST_TENANT)
		row = log_rows(SALES_INVOICE_DOCTYPE, si.name)[0]
		self.assertEqual(row.status, "Synced", row.error_message)
		self.assertTrue(row.xero_id)
		self.assertIsNone(row.lease_owner)
		self.assertEqual(frappe.db.get_value(SALES_INVOICE_DOCTYPE, si.name, "xero_id"), row.xero_id)
		self.assertEqual(frappe.db.get_value(SALES_INVOICE_DOCTYPE, si.name, "xero_status"), "AUTHORISED")
		self.assertEqual([b["Number"] for b in gateway.created], [si.name])
		attempts = frappe.get_all("Xero Sync Attempt", filters={"parent": row.name}, fields=["outcome"])
		self.assertEqual([a.outcome for a in attempts], ["Synced"])
		self.assertTrue(self.commits, "the journal names its commit points")
		self.assertTrue(
			frappe.db.get_value("Customer", si.customer, "xero_contact_id"), "contact id cached on the party"
		)

	def test_an_invoice_reusing_a_deleted_invoice_name_is_pushed_on_its_own_row(self):
		frappe.db.set_single_value("Accounts Settings", "delete_linked_ledger_entries", 1)
		gateway = FakeGateway()
		si = create_sales_invoice()
		with connected(gateway):
			jobs.drain_tenant(TEST_TENANT)
			old = log_rows(SALES_INVOICE_DOCTYPE, si.name)[0]
			si.reload()
			si.cancel()
			jobs.drain_tenant(TEST_TENANT)  # voids it in Xero
			self.assertEqual(frappe.db.get_value(LOG_DOCTYPE, old.name, "status"), "Voided")
			frappe.delete_doc(SALES_INVOICE_DOCTYPE, si.name)
			again = create_sales_invoice()
			self.assertEqual(again.name, si.name)
			jobs.drain_tenant(TEST_TENANT)
		[row] = log_rows(SALES_INVOICE_DOCTYPE, si.name)
		self.assertNotEqual(row.name, old.name)
		self.assertEqual(row.status, "Synced", row.error_message)
		self.assertNotEqual(row.xero_id, old.xero_id)
		self.assertEqual([b["Number"] for b in gateway.created], [si.name, si.name])
		self.assertEqual(frappe.db.get_value(LOG_DOCTYPE, old.name, "deleted_reference"), si.name)
		frappe.db.delete(
			LOG_DOCTYPE, {"name": ("in", [row.name, old.name])}
		)  # tests in this class share the queue

	def test_sweep_wakes_only_tenants_whose_leases_expired(self):
		# only this test's organisations: the site's own queue is never woken from a test
		tenants_with_work = SqlJournal.tenants_with_work
		ours = ("tenant-expired", "tenant-held")
		self.enterContext(
			patch.object(
				SqlJournal,
				"tenants_with_work",
				lambda journal: [t for t in tenants_with_work(journal) if t in ours],
			)
		)
		expired = self.queued_row("tenant-expired")
		held = self.queued_row("tenant-held")
		now = datetime.utcnow()  # leases are kept in UTC, on the database's clock
		frappe.db.set_value(
			LOG_DOCTYPE,
			expired,
			{"lease_owner": "dead-worker", "lease_expires_at": now - timedelta(minutes=5)},
		)
		frappe.db.set_value(
			LOG_DOCTYPE, held, {"lease_owner": "live-worker", "lease_expires_at": now + timedelta(minutes=5)}
		)
		with patch.object(jobs, "is_ready", return_value=True):
			jobs.sweep()
		self.assertEqual(self.enqueue.tenants(), ["tenant-expired"])
		self.assertTrue(self.enqueue.calls[0]["job_id"].startswith("xero-drain::tenant-expired::"))
		self.assertNotIn("deduplicate", self.enqueue.calls[0])

	def test_sweep_does_nothing_until_connected(self):
		self.queued_row("tenant-waiting")
		jobs.sweep()  # settings have no connected app/user
		self.assertEqual(self.enqueue.calls, [])

	def test_an_unexpected_failure_leaves_its_trace_in_the_error_log(self):
		gateway = FakeGateway()
		si = create_sales_invoice()
		gateway.create_documents = MagicMock(side_effect=ValueError("Invalid isoformat string: '2025-13-45'"))
		with connected(gateway):
			jobs.drain_tenant(TEST_TENANT)
		row = log_rows(SALES_INVOICE_DOCTYPE, si.name)[0]
		self.assertTrue(row.error_log, row.error_message)
		error = frappe.get_doc("Error Log", row.error_log)
		self.assertEqual((error.reference_doctype, error.reference_name), (LOG_DOCTYPE, row.name))
		self.assertIn("ValueError", error.error)
		self.assertIn("Traceback", error.error)
		attempts = frappe.get_all("Xero Sync Attempt", filters={"parent": row.name}, pluck="error_log")
		self.assertEqual(attempts, [row.error_log])
		frappe.db.delete(LOG_DOCTYPE, {"name": row.name})

	def test_record_trace_links_the_row_and_keeps_the_title_on_one_line(self):
		name = wiring.record_trace(
			"SINV-1\nfailed", "Traceback (most recent call last):\nValueError: x", "row-1"
		)
		error = frappe.get_doc("Error Log", name)
		self.assertEqual(error.method, "SINV-1 failed")
		self.assertEqual((error.reference_doctype, error.reference_name), (LOG_DOCTYPE, "row-1"))
		self.assertIn("ValueError: x", error.error)

	def queued_row(self, tenant_id: str, **values) -> str:
		"""Insert a bare Queued row for a made-up document of the tenant."""
		return queued_row(tenant_id, **values)


def queued_row(tenant_id: str, **values) -> str:
	"""Insert a bare Queued row for a made-up document of the tenant."""
	return (
		frappe.get_doc(
			{
				"doctype": LOG_DOCTYPE,
				"status": "Queued",
				"reference_doctype": SALES_INVOICE_DOCTYPE,
				"reference_name": f"SINV-{frappe.generate_hash(length=8)}",
				"tenant_id": tenant_id,
				"title": "test",
				**values,
			}
		)
		.insert(ignore_permissions=True, ignore_links=True)
		.name
	)


class TestReconnect(XeroTestCase):
	def setUp(self):
		isolate_jobs(self)

	def test_reconnecting_releases_rows_that_waited_for_the_connection_and_wakes_their_drains(self):
		later = now_datetime() + timedelta(minutes=15)
		waiting = queued_row("tenant-reconnect", error_class="Connection", next_attempt_at=later)
		backing_off = queued_row("tenant-busy", error_class="Rate Limited", next_attempt_at=later)
		self.assertEqual(jobs.resume_after_reconnect(), ["tenant-reconnect"])
		row = frappe.db.get_value(LOG_DOCTYPE, waiting, ["error_class", "next_attempt_at"], as_dict=True)
		self.assertEqual((row.error_class, row.next_attempt_at), (None, None))
		self.assertEqual(frappe.db.get_value(LOG_DOCTYPE, backing_off, "error_class"), "Rate Limited")
		self.assertEqual(pending_wakes(), ["tenant-reconnect"])


class TestScans(XeroTestCase):
	def setUp(self):
		isolate_jobs(self)

	def test_orphan_scan_voids_a_cancelled_invoice_whose_row_was_cleared(self):
		si = create_sales_invoice()
		frappe.db.delete(LOG_DOCTYPE, {"reference_name": si.name})
		frappe.db.set_value(
			SALES_INVOICE_DOCTYPE,
			si.name,
			{"docstatus": 2, "xero_id": "inv-cleared", "xero_status": "AUTHORISED"},
		)
		forget_wakes()
		found = jobs.flag_orphans()
		self.assertIn({"doctype": SALES_INVOICE_DOCTYPE, "name": si.name}, found)
		[row] = log_rows(SALES_INVOICE_DOCTYPE, si.name)
		self.assertEqual((row.status, row.cancel_requested, row.xero_id), ("Queued", 1, "inv-cleared"))
		self.assertEqual(pending_wakes(), [TEST_TENANT])


class TestDrainSlicesAndHolds(XeroTestCase):
	"""A drain job takes a slice and goes to the back of the line; a drain holding for its batch to fill
	keeps the tenant's wake-up and gives way to other work (the core's loop is proven over MariaDB in
	tests/integration/test_batch_fill.py)."""

	def setUp(self):
		isolate_jobs(self)

	def test_a_backlog_is_drained_a_slice_at_a_time_from_the_back_of_the_line(self):
		for _ in range(3):
			create_sales_invoice()
		forget_wakes()
		gateway = FakeGateway()
		one_a_batch = dataclasses.replace(adapters.load_config(), batch_size=1)
		with (
			connected(gateway),
			patch.object(jobs, "SLICE_BATCHES", 1),
			patch.object(adapters, "load_config", return_value=one_a_batch),
		):
			jobs.drain_tenant(TEST_TENANT)
		synced = frappe.get_all(
			LOG_DOCTYPE, filters={"tenant_id": TEST_TENANT, "status": "Synced"}, pluck="name"
		)
		self.assertEqual(len(synced), 1)  # one batch of one, then the job stopped
		self.assertEqual(self.enqueue.tenants(), [TEST_TENANT])  # and put itself at the back of the line
		frappe.db.delete(LOG_DOCTYPE, {"tenant_id": TEST_TENANT})

	def test_a_small_batch_held_while_other_jobs_wait_goes_to_the_back_of_the_line_unsent(self):
		si = create_sales_invoice()
		forget_wakes()
		gateway = FakeGateway()
		with (
			connected(gateway),
			patch.object(jobs, "batch_fill_window", return_value=30.0),
			patch.object(jobs.time, "sleep"),
			queue_count(1),
		):
			jobs.drain_tenant(TEST_TENANT)
		row = log_rows(SALES_INVOICE_DOCTYPE, si.name)[0]
		self.assertEqual((row.status, row.attempts), ("Queued", 0))  # waiting is not an attempt
		self.assertEqual(gateway.created, [])  # nothing sent
		self.assertEqual(self.enqueue.tenants(), [TEST_TENANT])
		frappe.db.delete(LOG_DOCTYPE, {"name": row.name})

	def test_holding_keeps_the_wake_up_so_new_rows_need_no_job(self):
		events.forget_wake(TEST_TENANT)
		hold = jobs.WorkerHold(TEST_TENANT, window=30)
		with patch.object(jobs.time, "sleep") as sleep, queue_count(0):
			self.assertTrue(hold.pause(25))
		sleep.assert_called_once_with(jobs.HOLD_STEP_SECONDS)
		self.assertIsNone(events.wake_drain(TEST_TENANT))  # a submit now: the holder will see its row
		self.assertEqual(self.enqueue.calls, [])
		self.assertTrue(0 < frappe.cache.ttl(events.wake_key(TEST_TENANT)) <= jobs.HOLD_KEY_SECONDS)
		events.forget_wake(TEST_TENANT)

	def test_holding_gives_way_when_another_job_waits_for_a_worker(self):
		hold = jobs.WorkerHold(TEST_TENANT, window=30)
		with patch.object(jobs.time, "sleep") as sleep, queue_count(2):
			self.assertFalse(hold.pause(25))
		sleep.assert_called_once_with(jobs.HOLD_STEP_SECONDS)  # one step, so holders never spin the queue
		self.assertFalse(hold.gave_way)  # it goes to the back of the line: drain_tenant wakes it again

	def test_holding_gives_way_to_a_drain_of_the_tenant_already_coming(self):
		events.forget_wake(TEST_TENANT)
		self.assertIsNotNone(events.wake_drain(TEST_TENANT))  # a job waits in the queue
		hold = jobs.WorkerHold(TEST_TENANT, window=30)
		with patch.object(jobs.time, "sleep") as sleep, queue_count(0):
			self.assertFalse(hold.pause(25))
		sleep.assert_not_called()
		self.assertTrue(hold.gave_way)  # that job takes over: no third one
		events.forget_wake(TEST_TENANT)

	def test_a_starter_plan_lets_small_batches_fill_and_a_standard_one_only_lingers(self):
		settings = adapters.get_settings()
		with patch("nexwave_xero_connector.xero.governor.RateGovernor.day_remaining", return_value=None):
			settings.xero_plan = "Starter"
			self.assertEqual(jobs.batch_fill_window(TEST_TENANT, settings), 30)
			settings.xero_plan = "Standard or higher"
			self.assertEqual(jobs.batch_fill_window(TEST_TENANT, settings), 2)
		with patch("nexwave_xero_connector.xero.governor.RateGovernor.day_remaining", return_value=1000):
			self.assertEqual(jobs.batch_fill_window(TEST_TENANT, settings), 30)  # most of today is gone


def queue_count(jobs_waiting: int):
	"""The drain queue's length as RQ reports it (Queue.count is a property)."""
	return patch("rq.queue.Queue.count", new_callable=PropertyMock, return_value=jobs_waiting)
