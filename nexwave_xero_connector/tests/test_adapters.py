"""adapters.py and wiring.py on a real site: the SDK token dict, gateway wiring, party contact cache."""

import time

import frappe

from nexwave_xero_connector import adapters, wiring
from nexwave_xero_connector.tests.site_state import XeroTestCase

test_dependencies = ["Customer"]

TOKEN_KEYS = {"access_token", "refresh_token", "scope", "expires_in", "expires_at", "token_type", "id_token"}


class TestAdapters(XeroTestCase):
	def connect(self) -> str:
		"""A Connected App of this test with a Token Cache for Administrator, named in the settings."""
		app = frappe.get_doc(
			{
				"doctype": "Connected App",
				"provider_name": "Xero test",
				"client_id": "client-id",
				"client_secret": "client-secret",
				"token_uri": "https://identity.xero.com/connect/token",
				"authorization_uri": "https://login.xero.com/identity/connect/authorize",
			}
		).insert(ignore_permissions=True)
		cache = frappe.get_doc(
			{
				"doctype": "Token Cache",
				"connected_app": app.name,
				"user": "Administrator",
				"access_token": "access-1",
				"refresh_token": "refresh-1",
				"expires_in": 1800,
				"token_type": "Bearer",
				"scopes": [{"scope": "accounting.transactions"}, {"scope": "offline_access"}],
			}
		).insert(ignore_permissions=True)
		adapters.set_settings_values(  # the test class's own settings (site_state.SettingsUnderTest)
			{"connected_app": app.name, "connected_user": "Administrator", "connection_status": "Connected"}
		)
		return cache.name

	def test_token_has_exactly_the_sdk_keys(self):
		self.connect()
		settings = adapters.get_settings()
		token = wiring.token_keeper(settings).current()
		self.assertEqual(set(token), TOKEN_KEYS)
		self.assertEqual(token["access_token"], "access-1")
		self.assertEqual(token["refresh_token"], "refresh-1")
		self.assertEqual(token["scope"], ["accounting.transactions", "offline_access"])
		self.assertAlmostEqual(token["expires_at"], time.time() + 1800, delta=120)

	def test_make_gateway_builds_an_sdk_gateway(self):
		from nexwave_xero_connector.xero.gateway import SdkGateway

		self.connect()
		self.assertIsInstance(wiring.make_gateway(), SdkGateway)

	def test_contact_id_is_kept_per_organisation(self):
		erp = adapters.FrappeErp()
		erp.set_contact_id("Customer", "_Test Customer", "tenant-a", "contact-a")
		erp.set_contact_id("Customer", "_Test Customer", "tenant-b", "contact-b")
		self.assertEqual(erp.contact_id("Customer", "_Test Customer", "tenant-a"), "contact-a")
		self.assertEqual(erp.contact_id("Customer", "_Test Customer", "tenant-b"), "contact-b")
		self.assertIsNone(erp.contact_id("Customer", "_Test Customer", "tenant-c"))
		request = erp.contact_request("Customer", "_Test Customer")
		self.assertEqual((request.party_type, request.party), ("Customer", "_Test Customer"))

	def test_missing_document_is_a_lookup_error(self):
		with self.assertRaises(LookupError):
			adapters.FrappeErp().load("Sales Invoice", "NO-SUCH-INVOICE")
