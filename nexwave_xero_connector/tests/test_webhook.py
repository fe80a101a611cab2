"""Xero's webhook endpoint over real HTTP handling (werkzeug test client on frappe.app, as Frappe's own
API tests do): signature first, 401/200, no session, hints only; and the refresh a delivery wakes (run with
bench run-tests). The settings are committed so the request's own connection sees them; tearDownClass
clears the key again."""

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


def _settings_values() -> dict:
	"""The settings' own values and child rows (without row identities), to put them back later."""
	values = frappe.get_single(SETTINGS_DOCTYPE).as_dict(no_default_fields=True)
	for key in ("client_secret", "webhook_key"):
		values.pop(key, None)
	for key, value in values.items():
		if isinstance(value, list):
			values[key] = [
				{
					k: v
					for k, v in row.items()
					if k not in ("name", "parent", "parentfield", "parenttype", "idx")
				}
				for row in value
			]
	return values


KEY_WHERE = "doctype = %(dt)s AND {field} = 'webhook_key'"


def _stored_key() -> dict:
	"""The webhook key's rows as the site keeps them: its Singles value (no row on a site where it was never
	saved, which reads as None) and its encrypted copy in __Auth."""
	params = {"dt": SETTINGS_DOCTYPE}
	return {
		"single": frappe.db.sql(
			f"SELECT value FROM tabSingles WHERE {KEY_WHERE.format(field='field')}", params
		),
		"auth": frappe.db.sql(
			f"SELECT `password` FROM `__Auth` WHERE {KEY_WHERE.format(field='fieldname')}", params
		),
	}


def _restore_key(before: dict) -> None:
	"""Put the key's rows back exactly (saving "" would leave an empty row where there was none)."""
	params = {"dt": SETTINGS_DOCTYPE}
	frappe.db.sql(f"DELETE FROM tabSingles WHERE {KEY_WHERE.format(field='field')}", params)
	frappe.db.sql(f"DELETE FROM `__Auth` WHERE {KEY_WHERE.format(field='fieldname')}", params)
	for (value,) in before["single"]:
		frappe.db.sql(
			"INSERT INTO tabSingles (doctype, field, value) VALUES (%(dt)s, 'webhook_key', %(v)s)",
			{**params, "v": value},
		)
	for (password,) in before["auth"]:
		frappe.db.sql(
			"INSERT INTO `__Auth` (doctype, name, fieldname, `password`, encrypted) "
			"VALUES (%(dt)s, %(dt)s, 'webhook_key', %(p)s, 1)",
			{**params, "p": password},
		)
	frappe.clear_document_cache(SETTINGS_DOCTYPE, SETTINGS_DOCTYPE)


class TestWebhookEndpoint(XeroTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.settings_before = _settings_values()
		cls.key_before = _stored_key()
		configure_settings(webhook_key=KEY)
		frappe.db.commit()  # the request runs on its own connection
		cls.client = get_test_client()

	@classmethod
	def tearDownClass(cls):
		# what setUpClass committed is put back as it was (enabled, tenants, ...), and committed too
		settings = frappe.get_single(SETTINGS_DOCTYPE)
		settings.update(cls.settings_before)
		settings.webhook_key = ""
		settings.save()
		_restore_key(cls.key_before)
		frappe.db.commit()
		super().tearDownClass()

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

	def test_the_key_is_stored_encrypted(self):
		settings = frappe.get_single(SETTINGS_DOCTYPE)
		self.assertNotEqual(frappe.db.get_single_value(SETTINGS_DOCTYPE, "webhook_key"), KEY)
		self.assertEqual(settings.get_password("webhook_key"), KEY)

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
			result = status_job.refresh_hinted()
			self.assertEqual(result[TEST_TENANT].updated, expected)
		self.assertEqual(frappe.db.get_value(SALES_INVOICE_DOCTYPE, si.name, "xero_status"), "PAID")
		self.assertEqual(self.gateway.listings, [], "a hint reads by ID, never lists")
