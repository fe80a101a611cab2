"""on_submit / on_cancel / on_trash hooks and the drain wake-up policy (run with bench run-tests)."""

from unittest.mock import patch

import frappe
from erpnext.accounts.doctype.sales_invoice.test_sales_invoice import create_sales_invoice

from nexwave_xero_connector import adapters, events, jobs
from nexwave_xero_connector.constants import DRAIN_JOB, LOG_DOCTYPE, SALES_INVOICE_DOCTYPE
from nexwave_xero_connector.tests.site_state import XeroTestCase
from nexwave_xero_connector.tests.utils import (
	TEST_COMPANY,
	TEST_TENANT,
	EnqueueRecorder,
	configure_settings,
	forget_wakes,
	log_rows,
	pending_wakes,
)

# Not "Sales Invoice": its chain reaches Payment Gateway (payments app). These cover create_sales_invoice.
test_dependencies = ["Customer", "Item", "Cost Center", "Warehouse"]


class HookTestCase(XeroTestCase):
	def setUp(self):
		configure_settings()
		forget_wakes()
		self.enqueue = EnqueueRecorder()
		patcher = patch("frappe.enqueue", self.enqueue)
		patcher.start()
		self.addCleanup(patcher.stop)

	def synced(self, si) -> str:
		"""Pretend the drain pushed `si`: its row Synced and its Xero ID written back."""
		name = log_rows(SALES_INVOICE_DOCTYPE, si.name)[0].name
		frappe.db.set_value(LOG_DOCTYPE, name, {"status": "Synced", "xero_id": f"x-{si.name}"})
		frappe.db.set_value(
			SALES_INVOICE_DOCTYPE, si.name, {"xero_id": f"x-{si.name}", "xero_status": "AUTHORISED"}
		)
		forget_wakes()
		return name


class TestSubmit(HookTestCase):
	def test_submit_queues_one_row_and_wakes_the_drain_only_after_commit(self):
		si = create_sales_invoice()
		rows = log_rows(SALES_INVOICE_DOCTYPE, si.name)
		self.assertEqual(len(rows), 1)
		row = rows[0]
		self.assertEqual(
			(row.status, row.tenant_id, row.company, row.xero_type, row.queued_by, row.cancel_requested),
			("Queued", TEST_TENANT, TEST_COMPANY, "ACCREC", frappe.session.user, 0),
		)
		self.assertEqual(row.title, f"{si.name} queued for Xero")
		self.assertEqual(pending_wakes(), [TEST_TENANT])
		self.assertEqual(self.enqueue.calls, [], "nothing may reach the queue before the submit commits")

	def test_submit_reads_cached_settings_and_writes_one_statement(self):
		configure_settings()
		events.scope_config()  # warm the document cache, as any earlier request would
		si = create_sales_invoice(do_not_submit=True)
		statements = []
		real_sql = frappe.db.sql

		def spy(query, *args, **kwargs):
			statements.append(str(query))
			return real_sql(query, *args, **kwargs)

		with (
			patch.object(frappe, "get_single", side_effect=AssertionError("settings read past the cache")),
			patch.object(frappe.db, "sql", side_effect=spy),
		):
			events.queue_push(si)
		ours = [q for q in statements if "Xero Sync Log" in q]
		self.assertEqual(len([q for q in ours if q.lstrip().upper().startswith("INSERT")]), 1, ours)
		self.assertLessEqual(len(ours), 2, ours)  # the existence check by name, and the insert

	def test_sales_return_is_a_credit_note(self):
		from erpnext.accounts.doctype.sales_invoice.sales_invoice import make_sales_return

		si = create_sales_invoice()
		ret = make_sales_return(si.name)
		ret.insert()
		ret.submit()
		self.assertEqual(log_rows(SALES_INVOICE_DOCTYPE, ret.name)[0].xero_type, "ACCRECCREDIT")

	def test_out_of_scope_or_disabled_leaves_no_row(self):
		configure_settings(sync_sales_invoices=0)
		self.assertEqual(log_rows(SALES_INVOICE_DOCTYPE, create_sales_invoice().name), [])
		configure_settings(enabled=0)
		self.assertEqual(log_rows(SALES_INVOICE_DOCTYPE, create_sales_invoice().name), [])
		self.assertEqual(pending_wakes(), [])

	def test_company_without_tenant_is_skipped_with_the_reason(self):
		configure_settings(tenants={})
		si = create_sales_invoice()
		rows = log_rows(SALES_INVOICE_DOCTYPE, si.name)
		self.assertEqual([r.status for r in rows], ["Skipped"])
		self.assertEqual(
			rows[0].error_message,
			f"Company {TEST_COMPANY} has no Xero organisation. Bind one in Xero Sync Settings; nothing was sent.",
		)
		self.assertEqual(pending_wakes(), [])

	def test_a_document_posted_before_the_go_live_date_is_skipped_with_the_reason(self):
		from frappe.utils import add_days, getdate, nowdate

		settings = adapters.read_settings()
		settings.tenants[0].go_live_date = nowdate()
		adapters.save_settings(settings)
		old = create_sales_invoice(posting_date=add_days(nowdate(), -3))
		rows = log_rows(SALES_INVOICE_DOCTYPE, old.name)
		self.assertEqual([(r.status, r.tenant_id) for r in rows], [("Skipped", "")])
		self.assertEqual(
			rows[0].error_message,
			f"{old.name} is posted before the go-live date of company {TEST_COMPANY} ({getdate(nowdate())}); "
			"nothing was sent. Use Backfill in Xero Sync Settings to adopt or create it in Xero.",
		)
		self.assertEqual(pending_wakes(), [])
		# the go-live day itself is pushed as usual
		new = create_sales_invoice()
		self.assertEqual([r.status for r in log_rows(SALES_INVOICE_DOCTYPE, new.name)], ["Queued"])

	def test_a_skipped_row_that_carried_a_cancel_is_sent_when_submitted_again(self):
		si = create_sales_invoice(do_not_submit=True)
		name = (
			frappe.get_doc(
				{
					"doctype": LOG_DOCTYPE,
					"status": "Skipped",
					"reference_doctype": SALES_INVOICE_DOCTYPE,
					"reference_name": si.name,
					"cancel_requested": 1,
					"void_confirmed": 1,
					"title": "old",
				}
			)
			.insert(ignore_permissions=True)
			.name
		)
		si.submit()
		row = frappe.db.get_value(
			LOG_DOCTYPE, name, ["status", "cancel_requested", "void_confirmed", "tenant_id"], as_dict=True
		)
		self.assertEqual(
			(row.status, row.cancel_requested, row.void_confirmed, row.tenant_id),
			("Queued", 0, 0, TEST_TENANT),
		)


class TestCancel(HookTestCase):
	def test_cancel_flags_a_synced_row_for_voiding(self):
		si = create_sales_invoice()
		name = self.synced(si)
		si.reload()
		si.cancel()
		row = frappe.db.get_value(LOG_DOCTYPE, name, ["status", "cancel_requested"], as_dict=True)
		self.assertEqual((row.status, row.cancel_requested), ("Queued", 1))
		self.assertEqual(pending_wakes(), [TEST_TENANT])

	def test_cancel_after_the_log_was_cleared_still_voids(self):
		si = create_sales_invoice()
		self.synced(si)
		frappe.db.delete(LOG_DOCTYPE, {"reference_name": si.name})  # what Log Settings does after 90 days
		si.reload()
		si.cancel()
		[row] = log_rows(SALES_INVOICE_DOCTYPE, si.name)
		self.assertEqual(
			(row.status, row.cancel_requested, row.xero_id, row.tenant_id),
			("Queued", 1, f"x-{si.name}", TEST_TENANT),
		)
		self.assertEqual(pending_wakes(), [TEST_TENANT])

	def test_cancel_of_a_document_voided_in_xero_or_never_sent_queues_nothing(self):
		configure_settings(enabled=0)
		never_sent = create_sales_invoice()
		configure_settings()
		voided = create_sales_invoice()
		self.synced(voided)
		frappe.db.delete(LOG_DOCTYPE, {"reference_name": voided.name})
		frappe.db.set_value(SALES_INVOICE_DOCTYPE, voided.name, "xero_status", "VOIDED")
		for si in (never_sent, voided):
			si.reload()
			si.cancel()
			self.assertEqual(log_rows(SALES_INVOICE_DOCTYPE, si.name), [])
		self.assertEqual(pending_wakes(), [])


class TestDelete(HookTestCase):
	def setUp(self):
		super().setUp()
		# as on a site that deletes cancelled invoices: their GL entries go with them (ERPNext's on_trash)
		frappe.db.set_single_value("Accounts Settings", "delete_linked_ledger_entries", 1)
		frappe.clear_document_cache("Accounts Settings", "Accounts Settings")

	def test_deleting_a_cancelled_voided_invoice_keeps_its_row_and_frees_the_name(self):
		si = create_sales_invoice()
		name = self.synced(si)
		si.reload()
		si.cancel()
		frappe.db.set_value(LOG_DOCTYPE, name, {"status": "Voided", "xero_status": "VOIDED"})
		frappe.db.set_value(SALES_INVOICE_DOCTYPE, si.name, "xero_status", "VOIDED")
		forget_wakes()
		frappe.delete_doc(SALES_INVOICE_DOCTYPE, si.name)  # raised LinkExistsError before
		row = frappe.db.get_value(
			LOG_DOCTYPE, name, ["status", "reference_name", "deleted_reference"], as_dict=True
		)
		self.assertEqual((row.status, row.reference_name, row.deleted_reference), ("Voided", None, si.name))
		self.assertEqual(pending_wakes(), [])

	def test_a_name_reused_after_a_delete_gets_a_fresh_row(self):
		si = create_sales_invoice()
		old = self.synced(si)
		si.reload()
		si.cancel()
		frappe.db.set_value(LOG_DOCTYPE, old, "status", "Voided")
		frappe.db.set_value(SALES_INVOICE_DOCTYPE, si.name, "xero_status", "VOIDED")
		frappe.delete_doc(SALES_INVOICE_DOCTYPE, si.name)
		forget_wakes()
		again = create_sales_invoice()  # the series was reverted: the next invoice gets the same name
		self.assertEqual(again.name, si.name)
		[row] = log_rows(SALES_INVOICE_DOCTYPE, si.name)
		self.assertNotEqual(row.name, old)
		self.assertEqual((row.status, row.cancel_requested, row.xero_id), ("Queued", 0, None))
		self.assertEqual(pending_wakes(), [TEST_TENANT])

	def test_deleting_a_cancelled_invoice_whose_row_was_cleared_voids_its_live_copy(self):
		si = create_sales_invoice()
		self.synced(si)
		frappe.db.delete(LOG_DOCTYPE, {"reference_name": si.name})
		si.reload()
		frappe.db.set_value(SALES_INVOICE_DOCTYPE, si.name, "docstatus", 2)  # cancelled, hook not run
		frappe.delete_doc(SALES_INVOICE_DOCTYPE, si.name)
		[row] = frappe.get_all(
			LOG_DOCTYPE,
			{"deleted_reference": si.name},
			["status", "cancel_requested", "xero_id", "reference_name"],
		)
		self.assertEqual(
			(row.status, row.cancel_requested, row.xero_id, row.reference_name),
			("Queued", 1, f"x-{si.name}", None),
		)
		self.assertEqual(pending_wakes(), [TEST_TENANT])


class TestRolledBackSubmit(XeroTestCase):
	"""A submit whose transaction rolls back leaves no row and wakes no drain."""

	def test_rollback_leaves_nothing(self):
		enqueue = EnqueueRecorder()
		with patch("frappe.enqueue", enqueue):
			configure_settings()
			si = create_sales_invoice()
			self.assertEqual(len(log_rows(SALES_INVOICE_DOCTYPE, si.name)), 1)
			frappe.db.rollback()
			# whatever commits next must not carry the wake-up of the rolled-back submit
			self.assertEqual(pending_wakes(), [])
		self.assertEqual(log_rows(SALES_INVOICE_DOCTYPE, si.name), [])
		self.assertEqual(enqueue.calls, [])


class TestWakePolicy(XeroTestCase):
	"""A wake-up is suppressed only while a drain of the tenant is pending: one Redis SET NX decides."""

	tenant = "tenant-wake-policy"

	def setUp(self):
		self.enqueue = EnqueueRecorder()
		patcher = patch("frappe.enqueue", self.enqueue)
		patcher.start()
		self.addCleanup(patcher.stop)
		events.forget_wake(self.tenant)
		self.addCleanup(events.forget_wake, self.tenant)

	def test_a_pending_drain_suppresses_a_second_job(self):
		first = events.wake_drain(self.tenant)
		self.assertIsNotNone(first)
		self.assertIsNone(events.wake_drain(self.tenant))
		[call] = self.enqueue.calls
		self.assertEqual((call["method"], call["queue"], call["tenant_id"]), (DRAIN_JOB, "long", self.tenant))
		self.assertEqual(call["job_id"], first)
		self.assertNotIn("deduplicate", call)

	def test_a_drain_that_starts_lets_the_next_row_wake_another(self):
		first = events.wake_drain(self.tenant)
		with patch.object(jobs, "is_ready", return_value=False):
			jobs.drain_tenant(self.tenant)  # the job begins by forgetting its wake-up
		second = events.wake_drain(self.tenant)
		self.assertIsNotNone(second)
		self.assertNotEqual(second, first)
		self.assertEqual(len(self.enqueue.calls), 2)

	def test_the_wake_up_of_a_job_lost_with_its_worker_expires(self):
		events.wake_drain(self.tenant)
		ttl = frappe.cache.ttl(events.wake_key(self.tenant))
		self.assertTrue(0 < ttl <= events.WAKE_TTL_SECONDS, ttl)

	def test_redis_down_after_the_commit_defers_the_wake_up_to_the_sweep_without_an_error(self):
		from redis.exceptions import ConnectionError as RedisConnectionError

		with patch.object(frappe.cache, "set", side_effect=RedisConnectionError("refused")):
			self.assertIsNone(events.wake_drain(self.tenant))
		self.assertEqual(self.enqueue.calls, [])
		self.assertIsNotNone(events.wake_drain(self.tenant))  # nothing left behind to suppress the next one

	def test_an_enqueue_that_fails_leaves_no_wake_up_pending(self):
		from redis.exceptions import ConnectionError as RedisConnectionError

		with patch("frappe.enqueue", side_effect=RedisConnectionError("queue down")):
			self.assertIsNone(events.wake_drain(self.tenant))
		self.assertIsNotNone(events.wake_drain(self.tenant))
