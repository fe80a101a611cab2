# Copyright (c) 2025, NexWave and contributors
# For license information, please see license.txt

import frappe

from nexwave_xero_connector import adapters
from nexwave_xero_connector.constants import SETTINGS_DOCTYPE
from nexwave_xero_connector.nexwave_xero_connector.doctype.xero_sync_settings.xero_sync_settings import (
	DOCUMENT_FIELDS,
)
from nexwave_xero_connector.tests.site_state import XeroTestCase

COMPANY = "_Test Company"
OTHER_COMPANY = "_Test Company 1"


def settings_with(**values):
	"""The test class's Xero Sync Settings (never the site's) with sane defaults and `values` applied,
	unsaved."""
	doc = adapters.read_settings()
	doc.update({"enabled": 1, "batch_size": 50})
	for table in ("tenants", "tax_mappings", "account_mappings", "tracking_mappings"):
		doc.set(table, [])
	doc.update(values)
	return doc


def save(doc) -> None:
	"""Validate and store the test class's settings as a save of the Single would."""
	adapters.save_settings(doc)


class TestXeroSyncSettings(XeroTestCase):
	def test_batch_size_between_1_and_50(self):
		for size in (0, 51):
			with self.assertRaises(frappe.ValidationError, msg=size):
				save(settings_with(batch_size=size))
		save(settings_with(batch_size=1))

	def test_tenant_bound_to_two_companies_is_refused(self):
		doc = settings_with(
			tenants=[
				{"company": COMPANY, "tenant_id": "t-1"},
				{"company": OTHER_COMPANY, "tenant_id": "t-1"},
			]
		)
		with self.assertRaises(frappe.ValidationError):
			save(doc)

	def test_shared_tenant_allowed_when_every_row_says_so(self):
		save(
			settings_with(
				tenants=[
					{"company": COMPANY, "tenant_id": "t-1", "allow_shared_tenant": 1},
					{"company": OTHER_COMPANY, "tenant_id": "t-1", "allow_shared_tenant": 1},
				]
			)
		)

	def test_company_bound_twice_is_refused(self):
		doc = settings_with(
			tenants=[{"company": COMPANY, "tenant_id": "t-1"}, {"company": COMPANY, "tenant_id": "t-2"}]
		)
		with self.assertRaises(frappe.ValidationError):
			save(doc)

	def test_duplicate_tax_mapping_is_refused(self):
		template = frappe.get_all("Item Tax Template", filters={"company": COMPANY}, pluck="name", limit=1)
		if not template:
			self.skipTest("no Item Tax Template for _Test Company")
		row = {
			"company": COMPANY,
			"template_type": "Item Tax Template",
			"tax_template": template[0],
			"xero_tax_type": "OUTPUT2",
		}
		with self.assertRaises(frappe.ValidationError):
			save(settings_with(tax_mappings=[row, dict(row, xero_tax_type="INPUT2")]))

	def test_duplicate_account_mapping_is_refused(self):
		row = {"company": COMPANY, "account": "Sales - _TC", "xero_account_code": "200"}
		with self.assertRaises(frappe.ValidationError):
			save(settings_with(account_mappings=[row, dict(row, xero_account_code="201")]))
		save(settings_with(account_mappings=[row]))


class TestPaymentsOwner(XeroTestCase):
	def test_payments_are_not_synced_unless_a_binding_names_an_owner(self):
		from nexwave_xero_connector.adapters import load_config

		save(
			settings_with(
				tenants=[
					{"company": COMPANY, "tenant_id": "t-1"},
					{"company": OTHER_COMPANY, "tenant_id": "t-2", "payments_owned_by": "Xero"},
				]
			)
		)
		rows = adapters.read_settings().tenants
		self.assertEqual([r.payments_owned_by for r in rows], ["Not synced", "Xero"])
		config = load_config()
		self.assertEqual(
			(config.payments_owner(COMPANY), config.payments_owner(OTHER_COMPANY)), ("Not synced", "Xero")
		)

	def test_an_unknown_owner_is_refused(self):
		doc = settings_with(tenants=[{"company": COMPANY, "tenant_id": "t-1", "payments_owned_by": "Bank"}])
		with self.assertRaises(frappe.ValidationError):
			save(doc)


class TestFreshInstall(XeroTestCase):
	"""A new site set up in the README's order keeps every default. The class's settings start never saved,
	as a new site's do (site_state.SettingsUnderTest keeps what tabSingles would)."""

	def setUp(self):
		self.settings.forget()  # a new site: nothing saved yet

	def defaults(self, doc) -> dict:
		meta = frappe.get_meta(SETTINGS_DOCTYPE)
		return {df.fieldname: doc.get(df.fieldname) for df in meta.fields if df.default is not None}

	def test_show_redirect_uri_then_client_id_and_secret_then_save_keeps_every_default(self):
		from nexwave_xero_connector import oauth

		self.assertFalse(adapters.settings_saved())
		expected = self.defaults(frappe._dict(frappe.new_doc(SETTINGS_DOCTYPE, as_dict=True)))
		self.assertEqual(self.defaults(adapters.read_settings()), expected)  # what the form opens with
		self.assertEqual(expected["batch_size"], 50)
		self.assertTrue(all(expected[field] for field in DOCUMENT_FIELDS))

		uri = oauth.get_redirect_uri()  # 1. Xero -> Show Redirect URI, before anything was saved
		form = adapters.read_settings()  # the form reloads after it
		self.assertEqual(self.defaults(form), expected)
		self.assertTrue(form.connected_app and uri.endswith("/" + form.connected_app), uri)

		form.client_id = "client-from-developer-xero-com"  # 2. paste the Client ID and Secret
		form.client_secret = "secret-from-developer-xero-com"
		adapters.save_settings(form)  # 3. save

		saved = adapters.read_settings()
		self.assertEqual(self.defaults(saved), expected)
		self.assertEqual(
			(saved.client_id, saved.get_password("client_secret"), saved.connected_app),
			("client-from-developer-xero-com", "secret-from-developer-xero-com", form.connected_app),
		)

	def test_enabled_with_no_documents_to_send_is_saved_with_a_warning(self):
		for values, warned in (
			(dict.fromkeys(DOCUMENT_FIELDS, 0), True),
			({**dict.fromkeys(DOCUMENT_FIELDS, 0), "enabled": 0}, False),  # off: nothing is meant to go
			({**dict.fromkeys(DOCUMENT_FIELDS, 0), "sync_sales_invoices": 1}, False),
		):
			frappe.clear_messages()
			save(settings_with(**values))
			self.assertEqual("nothing will be sent to Xero" in str(frappe.local.message_log), warned, values)
		frappe.clear_messages()
