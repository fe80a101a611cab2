# Copyright (c) 2025, NexWave and contributors
# For license information, please see license.txt

import frappe

from nexwave_xero_connector import adapters
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
