"""OAuth, organisations and token refresh on a real site against the Xero emulator.

Every Connected App and Token Cache here is the test's own (the class's settings, site_state.
SettingsUnderTest, start with none, so ensure_connected_app makes one); the commits the TokenKeeper and
Connected App make are held (XeroTestCase), so the class rollback takes all of it away and the site's own
connection is never read, written or relied on.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path
from unittest import mock

import frappe
import requests
from frappe.utils.password import get_decrypted_password

from nexwave_xero_connector import adapters, connection, oauth, wiring
from nexwave_xero_connector.constants import (
	CONNECTED_APP_DOCTYPE,
	CONNECTION_BROKEN,
	CONNECTION_CONNECTED,
	LOG_DOCTYPE,
	TOKEN_CACHE_DOCTYPE,
)
from nexwave_xero_connector.sync.errors import XeroError
from nexwave_xero_connector.sync.model import ErrorClass
from nexwave_xero_connector.tests.site_state import XeroTestCase
from nexwave_xero_connector.tests.utils import forget_wakes, pending_wakes
from nexwave_xero_connector.xero.governor import RateGovernor

TENANT_A = "tenant-oauth-a"
TENANT_B = "tenant-oauth-b"
# ERPNext's own test companies: a test must not create masters that outlive it
COMPANY_A = "_Test Company"
COMPANY_B = "_Test Company 1"
ACCOUNTS_USER = "oauth-accounts-user@example.com"

test_dependencies = ["Company"]


def stored(field: str):
	"""A field of the test class's settings as stored (what a fresh read finds)."""
	return adapters.settings_values(field)[field]


def load_emulator():
	"""tests/emulator from the repository (a site-packages `tests` package shadows the repo's)."""
	root = Path(oauth.__file__).resolve().parents[1] / "tests" / "emulator"
	name = "nxc_test_emulator"
	if name not in sys.modules:
		spec = importlib.util.spec_from_file_location(
			name, root / "__init__.py", submodule_search_locations=[str(root)]
		)
		module = importlib.util.module_from_spec(spec)
		sys.modules[name] = module
		spec.loader.exec_module(module)
	return sys.modules[name].XeroEmulator


class TestOAuth(XeroTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.emu = load_emulator()(strict_auth=True)
		cls.emu.start(port=0)
		cls.emu.add_tenant(TENANT_A, name="OAuth Org A", short_code="!OrgA")
		cls.emu.add_tenant(TENANT_B, name="OAuth Org B")
		cls.saved_conf = {k: frappe.conf.get(k) for k in cls.emu.site_config()}
		frappe.conf.update(cls.emu.site_config())
		if not frappe.db.exists("User", ACCOUNTS_USER):
			user = frappe.get_doc(
				{"doctype": "User", "email": ACCOUNTS_USER, "first_name": "OAuth", "send_welcome_email": 0}
			)
			user.append("roles", {"role": "Accounts User"})
			user.insert(ignore_permissions=True)

	@classmethod
	def tearDownClass(cls):
		cls.emu.stop()
		frappe.conf.update(cls.saved_conf)
		super().tearDownClass()

	def setUp(self):
		frappe.set_user("Administrator")
		settings = adapters.read_settings()
		settings.client_id = "client-" + uuid.uuid4().hex[:8]
		settings.client_secret = "secret-" + uuid.uuid4().hex
		settings.scope_set = "Granular"
		settings.xero_plan = "Standard or higher"
		settings.set("tenants", [])
		settings.set("tax_mappings", [])
		settings.set("account_mappings", [])
		adapters.save_settings(settings)
		self.app = oauth.ensure_connected_app(settings)
		self.assertIn(self.app.name, self.own_apps, "a Connected App of this test, not the site's")
		self.token = self.emu.issue_tokens(" ".join(oauth.scopes_for("Granular")))
		self.seed_token(self.token)
		adapters.set_settings_values(
			{
				"connected_user": "Administrator",
				"connection_status": CONNECTION_CONNECTED,
				"connection_note": "",
			}
		)
		for tenant in self.emu.tenants.values():
			tenant.connected = True

	def tearDown(self):
		frappe.set_user("Administrator")

	@property
	def own_apps(self) -> set[str]:
		"""The Connected Apps the class made (uncommitted): any the site had are in the class's snapshot."""
		site = {r["name"] for r in self._site_before["rows"]["tabConnected App"]}
		return set(frappe.get_all(CONNECTED_APP_DOCTYPE, pluck="name")) - site

	def seed_token(self, token: dict, age_seconds: int = 0) -> str:
		name = f"{self.app.name}-Administrator"
		if frappe.db.exists(TOKEN_CACHE_DOCTYPE, name):
			frappe.delete_doc(TOKEN_CACHE_DOCTYPE, name, ignore_permissions=True, force=True)
		cache = frappe.get_doc(
			{
				"doctype": TOKEN_CACHE_DOCTYPE,
				"user": "Administrator",
				"connected_app": self.app.name,
				"access_token": token["access_token"],
				"refresh_token": token["refresh_token"],
				"expires_in": token["expires_in"],
				"token_type": "Bearer",
				"scopes": [{"scope": s} for s in token["scope"].split()],
			}
		).insert(ignore_permissions=True)
		if age_seconds:
			self.age_token(age_seconds)
		return cache.name

	def age_token(self, seconds: int) -> None:
		frappe.db.sql(
			"UPDATE `tabToken Cache` SET modified = modified - INTERVAL %(s)s SECOND WHERE name = %(n)s",
			{"s": seconds, "n": f"{self.app.name}-Administrator"},
		)

	# ---- settings controller and Connected App ----------------------------------------------------

	def test_connected_app_follows_settings(self):
		app = frappe.get_doc(CONNECTED_APP_DOCTYPE, self.app.name)
		self.assertEqual(app.token_uri, self.emu.token_url)
		self.assertEqual(app.authorization_uri, self.emu.authorize_url)
		self.assertEqual(app.revocation_uri, self.emu.revoke_url)
		self.assertEqual(
			[r.scope for r in app.scopes],
			[
				"offline_access",
				"accounting.invoices",
				"accounting.payments",
				"accounting.contacts",
				"accounting.settings.read",
			],
		)
		self.assertEqual(app.client_id, adapters.read_settings().client_id)
		self.assertIn("connected_app.callback/" + app.name, app.redirect_uri)
		settings = adapters.read_settings()
		settings.scope_set = "Legacy"
		adapters.save_settings(settings)
		app = oauth.ensure_connected_app(settings)
		self.assertIn("accounting.transactions", [r.scope for r in app.scopes])
		self.assertIn("Connect to Xero again", adapters.read_settings().connection_note)

	def test_connect_returns_consent_url_with_state(self):
		url = oauth.connect()
		self.assertTrue(url.startswith(self.emu.authorize_url))
		self.assertIn("accounting.invoices", requests.utils.unquote(url))
		cache = frappe.get_doc(TOKEN_CACHE_DOCTYPE, f"{self.app.name}-Administrator")
		self.assertTrue(cache.state)
		self.assertIn(cache.state, url)
		self.assertTrue(cache.success_uri.endswith("nexwave_xero_connector.oauth.connected"))
		self.assertEqual(stored("connected_user"), "Administrator")

	def test_connected_marks_connected_again(self):
		connection.mark_broken("test")
		self.assertFalse(connection.is_connection_usable())
		oauth.connected()
		self.assertEqual(stored("connection_status"), CONNECTION_CONNECTED)
		self.assertTrue(connection.is_connection_usable())
		self.assertEqual(frappe.local.response["type"], "redirect")

	def test_connected_asks_to_choose_organisations_only_while_none_is_bound(self):
		for tenants, asks in (({}, True), ({"_Test Company": "tenant-bound"}, False)):
			settings = adapters.read_settings()
			settings.set("tenants", [{"company": c, "tenant_id": t} for c, t in tenants.items()])
			adapters.save_settings(settings)
			oauth.connected()
			note = stored("connection_note")
			self.assertEqual("Choose an organisation" in note, asks, note)

	# ---- permissions --------------------------------------------------------------------------------

	def test_accounts_user_is_refused(self):
		frappe.set_user(ACCOUNTS_USER)
		calls = [
			oauth.connect,
			oauth.get_redirect_uri,
			oauth.list_organisations,
			lambda: oauth.bind_organisation(COMPANY_A, TENANT_A),
			oauth.disconnect,
			oauth.test_connection,
			lambda: oauth.load_from_xero(TENANT_A),
		]
		for call in calls:
			with self.assertRaises(frappe.PermissionError):
				call()

	# ---- organisations ------------------------------------------------------------------------------

	def test_list_and_bind_with_shared_guard(self):
		orgs = {o["tenant_id"]: o for o in oauth.list_organisations()}
		self.assertEqual(orgs[TENANT_A]["tenant_name"], "OAuth Org A")
		self.assertIn(TENANT_B, orgs)
		oauth.bind_organisation(COMPANY_A, TENANT_A)
		with self.assertRaises(oauth.SharedOrganisationError):
			oauth.bind_organisation(COMPANY_B, TENANT_A)
		result = oauth.bind_organisation(COMPANY_B, TENANT_A, confirm_shared=1)
		self.assertTrue(result["shared"])
		rows = {r.company: r for r in adapters.read_settings().tenants}
		self.assertEqual(rows[COMPANY_B].tenant_id, TENANT_A)
		self.assertTrue(rows[COMPANY_A].allow_shared_tenant and rows[COMPANY_B].allow_shared_tenant)
		oauth.bind_organisation(COMPANY_B, TENANT_B)
		self.assertEqual(
			{r.company: r.tenant_id for r in adapters.read_settings().tenants},
			{COMPANY_A: TENANT_A, COMPANY_B: TENANT_B},
		)
		with self.assertRaises(frappe.ValidationError):
			oauth.bind_organisation(COMPANY_A, "not-connected-tenant")

	def test_test_connection_stores_short_code(self):
		oauth.bind_organisation(COMPANY_A, TENANT_A)
		[result] = oauth.test_connection()
		self.assertTrue(result["ok"])
		self.assertEqual(
			(result["name"], result["short_code"], result["base_currency"]), ("OAuth Org A", "!OrgA", "NZD")
		)
		self.assertEqual(adapters.read_settings().tenants[0].short_code, "!OrgA")

	def test_settings_screens_call_xero_through_the_rate_governor(self):
		oauth.bind_organisation(COMPANY_A, TENANT_A)
		with mock.patch.object(RateGovernor, "begin", autospec=True, side_effect=RateGovernor.begin) as begin:
			oauth.test_connection()
			self.assertEqual([c.args[1] for c in begin.call_args_list], [TENANT_A])
			oauth.load_from_xero(TENANT_A)
		self.assertEqual({c.args[1] for c in begin.call_args_list}, {TENANT_A})
		self.assertEqual(len(begin.call_args_list), 4)  # organisation, tax rates, accounts, tracking

	def test_connected_resumes_rows_that_waited_for_the_connection(self):
		from nexwave_xero_connector.tests.test_jobs import queued_row

		row = queued_row(
			TENANT_A, error_class="Connection", next_attempt_at=frappe.utils.add_to_date(None, minutes=15)
		)
		connection.mark_broken("invalid_grant")
		forget_wakes()
		commits = len(self.held_commits)
		oauth.connected()
		values = frappe.db.get_value(LOG_DOCTYPE, row, ["error_class", "next_attempt_at"], as_dict=True)
		self.assertEqual((values.error_class, values.next_attempt_at), (None, None))
		self.assertEqual(len(self.held_commits), commits + 1, "connected() commits what it resumed")
		self.assertIn(TENANT_A, pending_wakes())  # woken by that commit, not at the next sweep

	def test_load_from_xero_flags_stale_mappings(self):
		oauth.bind_organisation(COMPANY_A, TENANT_A)
		settings = adapters.read_settings()
		settings.append(
			"tax_mappings",
			{
				"company": COMPANY_A,
				"template_type": "Item Tax Template",
				"tax_template": "_Whatever",
				"xero_tax_type": "NO-SUCH-TAX",
			},
		)
		adapters.save_settings(settings)
		data = oauth.load_from_xero(TENANT_A)
		self.assertTrue(data["tax_rates"] and data["accounts"])
		self.assertTrue({"tax_type", "name", "rate", "status"} <= set(data["tax_rates"][0]))
		self.assertTrue({"code", "name", "class", "status"} <= set(data["accounts"][0]))
		self.assertIsInstance(data["tracking_categories"], list)
		self.assertEqual([m["xero_tax_type"] for m in data["stale_tax_mappings"]], ["NO-SUCH-TAX"])

	def test_disconnect_deletes_connections_and_token(self):
		result = oauth.disconnect()
		self.assertEqual(result["connections_removed"], 2)
		self.assertFalse(any(t.connected for t in self.emu.tenants.values()))
		self.assertFalse(frappe.db.exists(TOKEN_CACHE_DOCTYPE, f"{self.app.name}-Administrator"))
		self.assertFalse(connection.is_connection_usable())

	# ---- refresh ------------------------------------------------------------------------------------

	def test_expiring_token_is_refreshed_once_and_stored_encrypted(self):
		self.age_token(1600)  # 200 s left: inside the 5-minute margin
		before = self.emu.token_calls
		keeper = wiring.token_keeper()
		token = keeper.current()
		self.assertEqual(self.emu.token_calls - before, 1)
		self.assertNotEqual(token["access_token"], self.token["access_token"])
		self.assertEqual(len(token), 7)
		name = f"{self.app.name}-Administrator"
		self.assertEqual(
			get_decrypted_password(TOKEN_CACHE_DOCTYPE, name, "access_token"), token["access_token"]
		)
		self.assertEqual(
			get_decrypted_password(TOKEN_CACHE_DOCTYPE, name, "refresh_token"), token["refresh_token"]
		)
		self.assertNotIn(
			token["refresh_token"], str(frappe.db.get_value(TOKEN_CACHE_DOCTYPE, name, "refresh_token"))
		)
		self.assertEqual(keeper.current()["access_token"], token["access_token"])
		self.assertEqual(self.emu.token_calls - before, 1)
		self.assertGreater(frappe.get_doc(TOKEN_CACHE_DOCTYPE, name).get_expires_in(), 1700)

	def test_invalid_grant_marks_broken_and_notifies(self):
		requests.post(self.emu.revoke_url, data={"token": self.token["refresh_token"]}, timeout=10)
		self.age_token(1800)
		with self.assertRaises(XeroError) as info:
			wiring.token_keeper().current()
		self.assertEqual(info.exception.error_class, ErrorClass.CONNECTION)
		self.assertEqual(stored("connection_status"), CONNECTION_BROKEN)
		self.assertEqual(stored("connection_note"), "Xero refused the refresh token (invalid_grant).")
		self.assertFalse(connection.is_connection_usable())
		told = frappe.get_all(
			"Notification Log", filters={"subject": "Xero connection broken"}, pluck="email_content"
		)
		self.assertIn(
			"Xero refused the refresh token (invalid_grant). Reconnect to Xero in Xero Sync Settings.", told
		)
		before = self.emu.token_calls
		with self.assertRaises(XeroError):
			wiring.token_keeper().current()
		self.assertEqual(self.emu.token_calls, before)

	def test_refresh_idle_connection(self):
		oauth.bind_organisation(COMPANY_A, TENANT_A)
		before = self.emu.token_calls
		oauth.refresh_idle_connection()
		self.assertEqual(self.emu.token_calls, before)  # refreshed minutes ago
		self.age_token(8 * 86400)
		self.emu.tenants[TENANT_A].connected = False
		oauth.refresh_idle_connection()
		self.assertEqual(self.emu.token_calls - before, 1)
		note = stored("connection_note")
		self.assertIn(COMPANY_A, note)

	# ---- gateway ------------------------------------------------------------------------------------

	def test_make_gateway_uses_keeper_and_governor(self):
		from nexwave_xero_connector.xero import governor

		adapters.set_settings_values({"xero_plan": "Starter"})
		with mock.patch.object(governor, "hooks", wraps=governor.hooks) as hooks:
			gateway = wiring.make_gateway()
		self.assertIsNotNone(gateway)
		[gov] = hooks.call_args.args
		self.assertEqual(gov.per_day, 1000)
		self.assertTrue(gov.prefix.endswith("xero-governor"))
