"""The one place the Frappe layer builds the core's collaborators: journal, governor, token keeper,
Xero clients and gateway.

Every Xero client is built here with the keeper's tokens and the rate governor's hooks, so the drain,
Test Connection, Load from Xero and the organisation list all count against the same per-organisation
limits and share one token refresh at a time.
"""

from __future__ import annotations

import os
import socket
import time

import frappe
from frappe import _
from frappe.utils import now_datetime

from nexwave_xero_connector import adapters
from nexwave_xero_connector.adapters import FrappeDb
from nexwave_xero_connector.connection import TokenCacheTable
from nexwave_xero_connector.constants import (
	CONNECTED_APP_DOCTYPE,
	DEFAULT_DAILY_LIMIT,
	GOVERNOR_KEY,
	LOG_DOCTYPE,
	XERO_PLAN_DAILY_LIMITS,
)
from nexwave_xero_connector.sync.journal import SqlJournal
from nexwave_xero_connector.xero.hosts import XeroHosts
from nexwave_xero_connector.xero.tokens import TokenKeeper, http_refresher

# Refresh the access token when it has less than this many seconds left.
REFRESH_MARGIN_SECONDS = 300


def make_journal() -> SqlJournal:
	"""The Xero Sync Log as the core's journal, owned by this worker process; unexpected failures leave
	their trace in the Error Log."""
	return SqlJournal(
		FrappeDb(),
		clock=now_datetime,
		worker=f"{socket.gethostname()}:{os.getpid()}",
		trace_sink=record_trace,
	)


def record_trace(title: str, trace: str, row_name: str) -> str | None:
	"""Keep an unexpected failure's (already scrubbed) traceback in Frappe's Error Log, linked to the log
	row; return the Error Log's name. Inserted in the journal's transaction: it commits with the outcome."""
	log = frappe.log_error(
		# one line: log_error swaps title and message when the title holds a newline
		title=" ".join((title or _("Xero sync failed")).split())[:140],
		message=trace,
		reference_doctype=LOG_DOCTYPE,
		reference_name=row_name,
	)
	return log.name if log else None


def hosts() -> XeroHosts:
	"""Xero's endpoints, or a sandbox/emulator's when site config points elsewhere."""
	return XeroHosts.from_site_config(frappe.conf)


def daily_limit(settings) -> int:
	"""Xero's daily call budget per organisation for the plan chosen in the settings."""
	return XERO_PLAN_DAILY_LIMITS.get(settings.get("xero_plan") or "", DEFAULT_DAILY_LIMIT)


def make_governor(settings=None):
	"""The site's shared Redis rate governor, sized by the settings' Xero plan."""
	from nexwave_xero_connector.xero.governor import RateGovernor

	prefix = frappe.cache.make_key(GOVERNOR_KEY)
	return RateGovernor(
		frappe.cache,
		key_prefix=prefix.decode() if isinstance(prefix, bytes) else prefix,
		per_day=daily_limit(settings or adapters.get_settings()),
	)


def require_connection(settings) -> None:
	"""Refuse to build a client before someone pressed Connect to Xero."""
	if not settings.connected_app or not settings.connected_user:
		frappe.throw(
			_(
				"Xero is not connected. Choose a Connected App and press Connect to Xero in Xero Sync Settings."
			),
			exc=frappe.AuthenticationError,
		)


def app_credentials(settings) -> tuple[str, str]:
	"""The Connected App's client id and secret."""
	app = frappe.get_cached_doc(CONNECTED_APP_DOCTYPE, settings.connected_app)
	return app.client_id or "", app.get_password("client_secret", raise_exception=False) or ""


def token_keeper(settings=None) -> TokenKeeper:
	"""TokenKeeper for the connected user's Token Cache, refreshing at the site's token URL."""
	settings = settings or adapters.get_settings()
	require_connection(settings)
	client_id, client_secret = app_credentials(settings)
	return TokenKeeper(
		FrappeDb(),
		table=TokenCacheTable(settings.connected_app, settings.connected_user),
		refresh=http_refresher(hosts().token_url, client_id, client_secret),
		clock=time.time,
		margin_seconds=REFRESH_MARGIN_SECONDS,
	)


def _client_options(settings) -> dict:
	"""Tokens from the keeper and the governor's hooks: what every SDK client of the app is built with."""
	from nexwave_xero_connector.xero.governor import hooks

	require_connection(settings)
	keeper = token_keeper(settings)
	client_id, client_secret = app_credentials(settings)
	before_request, on_response = hooks(make_governor(settings))
	return {
		"token_getter": keeper.current,
		"token_saver": keeper.store,
		"client_id": client_id,
		"client_secret": client_secret,
		"before_request": before_request,
		"on_response": on_response,
	}


def accounting_api(settings=None, counter=None):
	"""The governed AccountingApi (the drain's gateway and the settings screens use this one). With a
	`counter` (a collections.Counter), every call the governor lets through is counted by organisation."""
	from nexwave_xero_connector.xero.client import build_accounting_api

	options = _client_options(settings or adapters.get_settings())
	if counter is not None:
		governed = options["before_request"]

		def counted(tenant_id, method, url):
			governed(tenant_id, method, url)  # a call the governor refuses is not sent: not counted
			if tenant_id:
				counter[tenant_id] += 1

		options["before_request"] = counted
	return build_accounting_api(hosts(), **options)


def identity_api(settings=None):
	"""The IdentityApi (GET/DELETE /Connections) with the keeper's tokens; not counted per organisation."""
	from nexwave_xero_connector.xero.client import build_identity_api

	return build_identity_api(hosts(), **_client_options(settings or adapters.get_settings()))


def make_gateway(settings=None, counter=None):
	"""The Xero gateway the drain and the scans use (`counter`: see accounting_api)."""
	from nexwave_xero_connector.xero.gateway import SdkGateway

	return SdkGateway(accounting_api(settings, counter))
