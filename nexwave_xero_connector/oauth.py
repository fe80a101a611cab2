"""Connecting to Xero: OAuth2 through Frappe's Connected App, organisations per Company, token refresh.

Flow: Xero Sync Settings (client id/secret, scope set) -> a Connected App record kept in step with the
settings -> Connected App's own authorization-code flow (its callback checks `state`, exchanges the code
and stores the token in Token Cache "{connected_app}-{user}") -> `connected` marks the settings Connected
and resumes the rows that waited for the connection.

Token refresh never goes through Connected App / Token Cache.update_data (see connection.py); every Xero
client here is the governed one built by wiring.py.
"""

from __future__ import annotations

import time
from typing import Any

import frappe
import requests
from frappe import _
from frappe.utils import cint, get_url
from frappe.utils.password import get_decrypted_password

from nexwave_xero_connector import adapters
from nexwave_xero_connector.adapters import FrappeDb
from nexwave_xero_connector.connection import (
	is_connection_usable,
	set_status,
	token_cache_name,
)
from nexwave_xero_connector.constants import (
	CONNECTED_APP_DOCTYPE,
	CONNECTION_BROKEN,
	CONNECTION_CONNECTED,
	CONNECTION_NOT_CONNECTED,
	DEFAULT_SCOPE_SET,
	IDLE_REFRESH_DAYS,
	OAUTH_SCOPE_SETS,
	TOKEN_CACHE_DOCTYPE,
	XERO_PROVIDER_NAME,
)
from nexwave_xero_connector.permissions import require_manager
from nexwave_xero_connector.sync.errors import XeroError
from nexwave_xero_connector.wiring import accounting_api, app_credentials, hosts, identity_api, token_keeper

SETTINGS_ROUTE = "/app/xero-sync-settings"
CONNECTED_METHOD = "/api/method/nexwave_xero_connector.oauth.connected"


class SharedOrganisationError(frappe.ValidationError):
	"""The organisation is already bound to another Company and sharing was not confirmed."""


# ---- permissions, settings -----------------------------------------------------------------------


def _settings():
	"""Xero Sync Settings read afresh (not the cached copy: another worker may have changed it)."""
	return adapters.read_settings()


def scopes_for(scope_set: str | None) -> tuple[str, ...]:
	"""The OAuth scopes of a scope set (Granular by default)."""
	return OAUTH_SCOPE_SETS.get(scope_set or DEFAULT_SCOPE_SET, OAUTH_SCOPE_SETS[DEFAULT_SCOPE_SET])


# ---- Connected App and the authorization-code flow ---------------------------------------------


def ensure_connected_app(settings) -> Any:
	"""Create or update the Connected App from the settings (client, scopes, hosts from site config)."""
	secret = settings.get_password("client_secret", raise_exception=False)
	if settings.connected_app and frappe.db.exists(CONNECTED_APP_DOCTYPE, settings.connected_app):
		app = frappe.get_doc(CONNECTED_APP_DOCTYPE, settings.connected_app)
	else:
		app = frappe.new_doc(CONNECTED_APP_DOCTYPE)
	endpoints = hosts()
	app.provider_name = XERO_PROVIDER_NAME
	app.client_id = settings.client_id
	if secret:
		app.client_secret = secret
	app.authorization_uri = endpoints.authorize_url
	app.token_uri = endpoints.token_url
	app.revocation_uri = endpoints.revoke_url
	app.set("scopes", [{"scope": scope} for scope in scopes_for(settings.scope_set)])
	app.save(ignore_permissions=True)
	if settings.connected_app != app.name:
		settings.connected_app = app.name
		if adapters.settings_saved():
			adapters.set_settings_values({"connected_app": app.name})
		else:
			# Show Redirect URI on a new site: nothing is stored yet, and the one field alone would be all the
			# next read finds (the form would reload with every default empty). Store the defaults with it.
			adapters.save_settings(settings, ignore_permissions=True)
	return app


@frappe.whitelist(methods=["POST"])
def get_redirect_uri() -> str:
	"""Save the Connected App and return the redirect URI to register in the Xero developer portal."""
	require_manager()
	return ensure_connected_app(_settings()).redirect_uri


@frappe.whitelist(methods=["POST"])
def connect() -> str:
	"""Start the authorization-code flow as the current user; returns the Xero consent URL.

	Connected App stores `state` in the user's Token Cache (and commits); its callback checks it, stores
	the token and redirects to `connected`, which marks the settings Connected.
	"""
	require_manager()
	settings = _settings()
	if not settings.client_id or not settings.get_password("client_secret", raise_exception=False):
		frappe.throw(_("Enter the Xero Client ID and Client Secret first."))
	app = ensure_connected_app(settings)
	user = frappe.session.user
	adapters.set_settings_values({"connected_user": user})
	return app.initiate_web_application_flow(user=user, success_uri=get_url(CONNECTED_METHOD))


@frappe.whitelist(methods=["GET"])
def connected() -> None:
	"""Connected App's callback lands here after storing the token: mark Connected, resume the rows that
	waited for the connection (their drains wake once this commits), go to the settings."""
	from nexwave_xero_connector.jobs import resume_after_reconnect

	require_manager()
	settings = _settings()
	if settings.connected_user == frappe.session.user and token_cache_name(settings):
		bound = any(row.tenant_id for row in settings.tenants)
		note = (
			_("Connected by {0}.")
			if bound
			else _("Connected by {0}. Choose an organisation for each company.")
		)
		set_status(CONNECTION_CONNECTED, note.format(frappe.session.user))
		resume_after_reconnect()
		FrappeDb().commit("xero connected: the new login and the resumed queue")  # a GET is not committed
	frappe.local.response["type"] = "redirect"
	frappe.local.response["location"] = SETTINGS_ROUTE


def _explain(exc: Exception) -> str:
	"""A person-readable message for a failed call (scrubbed: no tokens, no secrets)."""
	from nexwave_xero_connector.xero.errors import classify

	return classify(exc).message


def _val(value) -> Any:
	return getattr(value, "value", value)


# ---- organisations ----------------------------------------------------------------------------


@frappe.whitelist()
def list_organisations() -> list[dict]:
	"""The organisations this login may use (GET /Connections), with the Company each is bound to."""
	require_manager()
	settings = _settings()
	try:
		connections = identity_api(settings).get_connections() or []
	except Exception as exc:
		frappe.throw(_explain(exc), title=_("Could not list Xero organisations"))
	bound: dict[str, list[str]] = {}
	for row in settings.tenants:
		bound.setdefault((row.tenant_id or "").strip(), []).append(row.company)
	return [
		{
			"connection_id": str(c.id),
			"tenant_id": str(c.tenant_id),
			"tenant_name": c.tenant_name,
			"tenant_type": c.tenant_type,
			"companies": bound.get(str(c.tenant_id), []),
		}
		for c in connections
	]


@frappe.whitelist(methods=["POST"])
def bind_organisation(company: str, tenant_id: str, confirm_shared: bool | int | str = False) -> dict:
	"""Bind a Company to one organisation; refuse one bound to another Company unless confirmed."""
	require_manager()
	tenant_id = (tenant_id or "").strip()
	if not frappe.db.exists("Company", company):
		frappe.throw(_("Company {0} does not exist.").format(frappe.bold(company)))
	settings = _settings()
	organisation = next((o for o in list_organisations() if o["tenant_id"] == tenant_id), None)
	if organisation is None:
		frappe.throw(
			_("Xero organisation {0} is not connected to this login.").format(frappe.bold(tenant_id))
		)
	others = [
		r for r in settings.tenants if (r.tenant_id or "").strip() == tenant_id and r.company != company
	]
	shared = cint(confirm_shared) if not isinstance(confirm_shared, str) else confirm_shared in ("1", "true")
	if others and not shared:
		frappe.throw(
			_(
				"Xero organisation {0} is already bound to {1}. Confirm only if these companies really post "
				"to the same Xero organisation."
			).format(
				frappe.bold(organisation["tenant_name"]), ", ".join(frappe.bold(r.company) for r in others)
			),
			SharedOrganisationError,
			title=_("Organisation Already Bound"),
		)
	row = next((r for r in settings.tenants if r.company == company), None)
	if row is None:
		row = settings.append("tenants", {"company": company})
	if row.tenant_id != tenant_id:
		row.short_code = None
	row.tenant_id = tenant_id
	row.tenant_name = organisation["tenant_name"]
	for r in [row, *others]:
		r.allow_shared_tenant = 1 if others else r.allow_shared_tenant
	adapters.save_settings(settings)
	return {
		"company": company,
		"tenant_id": tenant_id,
		"tenant_name": row.tenant_name,
		"shared": bool(others),
	}


@frappe.whitelist(methods=["POST"])
def disconnect() -> dict:
	"""Delete the connections in Xero (DELETE /Connections/{id}), revoke, and delete the local token."""
	require_manager()
	settings = _settings()
	removed, problem = 0, ""
	name = token_cache_name(settings)
	if name and settings.connection_status != CONNECTION_BROKEN:
		try:
			api = identity_api(settings)
			for connection in api.get_connections() or []:
				api.delete_connection(connection.id)
				removed += 1
		except Exception as exc:
			problem = _explain(exc)
		_revoke(settings, name)
	if name:
		frappe.delete_doc(TOKEN_CACHE_DOCTYPE, name, ignore_permissions=True, force=True)
	adapters.set_settings_values({"connected_user": None})
	set_status(CONNECTION_NOT_CONNECTED, problem)
	return {"connections_removed": removed, "problem": problem}


def _revoke(settings, name: str) -> None:
	"""Best effort: revoke the refresh token (RFC 7009). Failures are ignored and never logged with it."""
	token = get_decrypted_password(TOKEN_CACHE_DOCTYPE, name, "refresh_token", raise_exception=False)
	if not token:
		return
	client_id, client_secret = app_credentials(settings)
	try:
		requests.post(
			hosts().revoke_url,
			data={"token": token},
			auth=(client_id, client_secret),
			timeout=(10, 30),
		)
	except requests.RequestException:
		pass


# ---- checks and mapping helpers --------------------------------------------------------------------


@frappe.whitelist(methods=["POST"])
def test_connection() -> list[dict]:
	"""GET /Organisation for each bound organisation; stores the short code on the Tenant Map row."""
	require_manager()
	settings = _settings()
	api = accounting_api(settings)
	results, changed = [], False
	for row in settings.tenants:
		tenant_id = (row.tenant_id or "").strip()
		if not tenant_id:
			continue
		try:
			org = (api.get_organisations(tenant_id).organisations or [None])[0]
		except Exception as exc:
			results.append(
				{"company": row.company, "tenant_id": tenant_id, "ok": False, "error": _explain(exc)}
			)
			continue
		short_code = getattr(org, "short_code", None) or ""
		if row.short_code != short_code or (org.name and row.tenant_name != org.name):
			row.short_code, row.tenant_name, changed = short_code, org.name or row.tenant_name, True
		results.append(
			{
				"company": row.company,
				"tenant_id": tenant_id,
				"ok": True,
				"name": org.name,
				"short_code": short_code,
				"base_currency": _val(org.base_currency),
			}
		)
	if changed:
		adapters.save_settings(settings)
	return results


@frappe.whitelist(methods=["POST"])
def load_from_xero(tenant_id: str) -> dict:
	"""Tax rates, accounts and tracking categories of an organisation, and the mappings Xero now refuses."""
	from nexwave_xero_connector.nexwave_xero_connector.doctype.xero_sync_settings.xero_sync_settings import (
		tax_mapping_proposals,
	)

	require_manager()
	settings = _settings()
	tenant_id = (tenant_id or "").strip()
	companies = {r.company for r in settings.tenants if (r.tenant_id or "").strip() == tenant_id}
	if not companies:
		frappe.throw(_("No company is bound to Xero organisation {0}.").format(frappe.bold(tenant_id)))
	api = accounting_api(settings)
	try:
		tax_rates = api.get_tax_rates(tenant_id).tax_rates or []
		accounts = api.get_accounts(tenant_id).accounts or []
		tracking = api.get_tracking_categories(tenant_id).tracking_categories or []
	except Exception as exc:
		frappe.throw(_explain(exc), title=_("Could not read from Xero"))
	taxes = [
		{
			"tax_type": t.tax_type,
			"name": t.name,
			"rate": float(t.effective_rate if t.effective_rate is not None else (t.display_tax_rate or 0)),
			"status": _val(t.status),
			"revenue": bool(t.can_apply_to_revenue),
			"expenses": bool(t.can_apply_to_expenses),
		}
		for t in tax_rates
	]
	accts = [
		{"code": a.code, "name": a.name, "class": _val(a._class), "status": _val(a.status)} for a in accounts
	]
	categories = [
		{
			"name": c.name,
			"status": _val(c.status),
			"options": [{"name": o.name, "status": _val(o.status)} for o in (c.options or [])],
		}
		for c in tracking
	]
	active_taxes = {t["tax_type"] for t in taxes if t["status"] == "ACTIVE"}
	account_status = {a["code"]: a["status"] for a in accts if a["code"]}
	stale_taxes = [
		{"row": r.idx, "company": r.company, "tax_template": r.tax_template, "xero_tax_type": r.xero_tax_type}
		for r in settings.tax_mappings
		if r.company in companies and r.xero_tax_type and r.xero_tax_type not in active_taxes
	]
	stale_accounts = [
		{
			"row": r.idx,
			"company": r.company,
			"account": r.account,
			"xero_account_code": r.xero_account_code,
			"status": account_status.get(r.xero_account_code) or "MISSING",
		}
		for r in settings.account_mappings
		if (r.company or frappe.get_cached_value("Account", r.account, "company")) in companies
		and r.xero_account_code
		and account_status.get(r.xero_account_code) != "ACTIVE"
	]
	return {
		"tax_rates": taxes,
		"accounts": accts,
		"tracking_categories": categories,
		"stale_tax_mappings": stale_taxes,
		"stale_account_mappings": stale_accounts,
		"tax_mapping_proposals": tax_mapping_proposals(settings, companies, taxes),
	}


# ---- health (scheduled daily) ---------------------------------------------------------------------


def refresh_idle_connection() -> None:
	"""Daily: refresh a login unused for 7 days (Xero drops it after 60) and warn about missing access."""
	if not is_connection_usable():
		return
	settings = _settings()
	keeper = token_keeper(settings)
	try:
		token = keeper.renew(refreshed_before=time.time() - IDLE_REFRESH_DAYS * 86400)
	except XeroError:
		return  # invalid_grant already marked the connection Broken and told the System Managers
	notes = []
	missing_scopes = sorted(set(scopes_for(settings.scope_set)) - set(token.get("scope") or []))
	if missing_scopes:
		notes.append(
			_("Xero did not grant the scopes {0}: press Connect to Xero again.").format(
				", ".join(missing_scopes)
			)
		)
	try:
		connected_ids = {str(c.tenant_id) for c in identity_api(settings).get_connections() or []}
	except Exception as exc:
		notes.append(_explain(exc))
	else:
		lost = [
			r.company for r in settings.tenants if r.tenant_id and r.tenant_id.strip() not in connected_ids
		]
		if lost:
			notes.append(
				_("These companies' Xero organisations are no longer connected: {0}.").format(", ".join(lost))
			)
	set_status(CONNECTION_CONNECTED, " ".join(notes))
