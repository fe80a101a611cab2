"""Xero's webhook endpoint over real HTTP handling (werkzeug test client on frappe.app, as Frappe's own
API tests do): signature first, 401/200, no session, hints only; and the refresh a delivery wakes (run with
bench run-tests). The request runs on its own thread and connection and reads the test class's own
settings (site_state.SettingsUnderTest), never the site's."""

import json
from unittest.mock import patch

import frappe
from erpnext.accounts.doctype.sales_invoice.test_sales_invoice import create_sales_invoice
from frappe.tests.test_api import make_request
from frappe.utils import get_test_client

from nexwave_xero_connector import jobs, status_job, webhook
from nexwave_xero_connector.constants import LOG_DOCTYPE, SALES_INVOICE_DOCTYPE, SETTINGS_DOCTYPE
from nexwave_xero_connector.sync.model import Kind, XeroRecord
from nexwave_xero_connector.tests.site_state import XeroTestCase
from nexwave_xero_connector.tests.utils import (
	TEST_TENANT,
	FakeGateway,
	configure_settings,
	connected,
	isolate_jobs,
	log_rows,
)
from nexwave_xero_connector.xero.webhooks import sign

test_dependencies = ["Customer", "Item", "Cost Center", "Warehouse"]
KEY = "frappe-test-webhook-key"
PATH = "/api/method/nexwave_xero_connector.webhook.receive"


def delivery(*invoice_ids: str, tenant_id: str = TEST_TENANT) -> bytes:
	events = [
		{
			"resourceUrl": f"https://api.xero.com/api.xro/2.0/Invoices/{i}",
			"resourceId": i,
			"eventDateUtc": "2026-11-29T15:00:00.000",
			"eventType": "UPDATE",
			"eventCategory": "INVOICE",
			"tenantId": tenant_id,
			"tenantType": "ORGANISATION",
		}
		for i in invoice_ids
	]
	last = len(events)
	return json.dumps(
		{"events": events, "firstEventSequence": 1 if last else 0, "lastEventSequence": last, "entropy": "E"}
	).encode()


class TestWebhookEndpoint(XeroTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		# the class's own settings: the request, on its own thread and connection, reads them too
		configure_settings(webhook_key=KEY)
		cls.client = get_test_client()

	def setUp(self):
		frappe.cache.delete_value(webhook.hint_key(TEST_TENANT))
		enqueue = patch("frappe.enqueue")
		self.enqueue = enqueue.start()
		self.addCleanup(enqueue.stop)

	def post(self, body: bytes, signature: str | None):
		headers = {"Content-Type": "application/json"}
		if signature is not None:
			headers["x-xero-signature"] = signature
		return make_request(target=self.client.post, args=(PATH,), kwargs={"data": body, "headers": headers})

	def hints(self) -> set[str]:
		return {
			m.decode() if isinstance(m, bytes) else m
			for m in frappe.cache.smembers(webhook.hint_key(TEST_TENANT))
		}

	def test_the_key_is_kept_encrypted(self):
		self.assertEqual(frappe.get_meta(SETTINGS_DOCTYPE).get_field("webhook_key").fieldtype, "Password")

	def test_a_valid_delivery_without_a_session_records_hints_and_wakes_the_refresh(self):
		body = delivery("inv-1", "inv-2")
		response = self.post(body, sign(body, KEY))
		self.assertEqual(response.status_code, 200)
		self.assertNotIn("sid=", response.headers.get("Set-Cookie", "").replace("sid=Guest", ""))
		self.assertEqual(self.hints(), {"ACCREC:inv-1", "ACCREC:inv-2"})
		self.enqueue.assert_called_once()
		self.assertEqual(self.enqueue.call_args.args[0], webhook.REFRESH_JOB)
		self.assertEqual(self.enqueue.call_args.kwargs["job_id"], webhook.REFRESH_JOB_ID)
		# a replay of the same delivery adds nothing new
		self.assertEqual(self.post(body, sign(body, KEY)).status_code, 200)
		self.assertEqual(self.hints(), {"ACCREC:inv-1", "ACCREC:inv-2"})

	def test_a_bad_or_missing_signature_is_refused_before_anything_is_read(self):
		body = delivery("inv-1")
		for signature in (sign(body, "not-the-key"), sign(body + b" ", KEY), "", None):
			with patch.object(webhook, "record_hints") as record:
				response = self.post(body, signature)
			self.assertEqual(response.status_code, 401, signature)
			record.assert_not_called()
		self.assertEqual(self.hints(), set())
		self.enqueue.assert_not_called()

	def test_a_body_frappe_cannot_parse_is_refused_with_401_and_nothing_else(self):
		# Frappe parses a JSON body before the endpoint runs: these never reach receive()
		for body in (b'{"events": [', b"not json at all", b"\xff\xfe"):
			for signature in (sign(body, "not-the-key"), "", None):
				response = self.post(body, signature)
				self.assertEqual(response.status_code, 401, (body, signature))
				self.assertEqual(response.get_data(), b"", "no traceback, no error page")
		self.assertEqual(self.hints(), set())
		self.enqueue.assert_not_called()

	def test_every_api_prefix_of_the_endpoint_refuses_an_unsigned_body(self):
		body = delivery("inv-1")
		for path in (PATH, PATH.replace("/api/", "/api/v1/"), PATH.replace("/api/", "/api/v2/")):
			response = make_request(
				target=self.client.post,
				args=(path,),
				kwargs={"data": body + b"}", "headers": {"Content-Type": "application/json"}},
			)
			self.assertEqual(response.status_code, 401, path)
		self.assertEqual(self.hints(), set())

	def test_the_intent_to_receive_handshake(self):
		body = delivery()
		self.assertEqual(self.post(body, sign(body, KEY)).status_code, 200)
		self.assertEqual(self.post(body, sign(body, "wrong")).status_code, 401)
		self.enqueue.assert_not_called()

	def test_organisations_not_bound_here_are_ignored(self):
		body = delivery("inv-9", tenant_id="someone-else")
		self.assertEqual(self.post(body, sign(body, KEY)).status_code, 200)
		self.assertEqual(self.hints(), set())
		self.enqueue.assert_not_called()

	def test_get_is_not_accepted(self):
		response = make_request(target=self.client.get, args=(PATH,))
		self.assertNotEqual(response.status_code, 200)


class TestRefreshHinted(XeroTestCase):
	def setUp(self):
		isolate_jobs(self)
		frappe.cache.delete_value(webhook.hint_key(TEST_TENANT))
		self.gateway = FakeGateway()

	def test_a_hint_brings_a_payment_in_and_a_replay_changes_nothing(self):
		jobs_connected = connected(self.gateway)
		jobs_connected.__enter__()
		self.addCleanup(jobs_connected.__exit__, None, None, None)
		si = create_sales_invoice()
		jobs.drain_tenant(TEST_TENANT)
		row = log_rows(SALES_INVOICE_DOCTYPE, si.name)[0]
		self.addCleanup(frappe.db.delete, LOG_DOCTYPE, {"name": row.name})
		self.gateway.changed = [
			XeroRecord(
				Kind.SALES_INVOICE, row.xero_id, si.name, "PAID", amount_paid=si.grand_total, amount_due=0
			)
		]
		body = delivery(row.xero_id, "not-ours")
		for expected in ([si.name], []):  # the same delivery twice
			webhook.record_hints(body)
			result = status_job.refresh_hinted_documents()
			self.assertEqual(result[TEST_TENANT].updated, expected)
		self.assertEqual(frappe.db.get_value(SALES_INVOICE_DOCTYPE, si.name, "xero_status"), "PAID")
		self.assertEqual(self.gateway.listings, [], "a hint reads by ID, never lists")
