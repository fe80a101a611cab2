"""Xero's webhook endpoint: an accelerator for the status poll, never the truth.

POST /api/method/nexwave_xero_connector.webhook.receive, no session. The signature of the raw body is
checked first, in constant time, against the webhook key (a Password field of Xero Sync Settings): 401 when
it does not match, 200 when it does (that is all Xero's intent-to-receive handshake asks). A valid delivery
only records which documents changed (a Redis set per organisation) and wakes status_job.refresh_hinted,
which reads them by ID. A lost, late or replayed delivery changes nothing the poll would not do anyway.

Frappe parses a JSON body into form_dict before any app code runs (frappe.app.init_request ->
make_form_dict), so a malformed body never reaches `receive` and ends in Frappe's 500 with a traceback.
`refuse_unsigned`, an after_request hook, checks the same signature over the same raw bytes for every
request to this endpoint and turns whatever response an unsigned one got into a bare 401.
"""

from __future__ import annotations

import re

import frappe
from werkzeug.wrappers import Response

from nexwave_xero_connector import adapters
from nexwave_xero_connector.xero.webhooks import SIGNATURE_HEADER, by_tenant, hints, signature_valid

HINTS_KEY = "xero-webhook-hints"
REFRESH_JOB = "nexwave_xero_connector.status_job.refresh_hinted"
REFRESH_JOB_ID = "xero-webhook-refresh"
# The endpoint under each of Frappe 15's API prefixes (/api/method, /api/v1/method, /api/v2/method)
ENDPOINT_PATH = re.compile(r"^/api/(?:v[12]/)?method/nexwave_xero_connector\.webhook\.receive/?$")


@frappe.whitelist(allow_guest=True, methods=["POST"])
def receive(**_body_fields) -> Response:
	"""Take one delivery from Xero. Frappe hands the parsed JSON in as keyword arguments: they are ignored,
	only the raw bytes as received are signed and read."""
	body = frappe.request.get_data(cache=True)
	if not is_signed(body, frappe.request.headers.get(SIGNATURE_HEADER)):
		return Response(status=401)
	record_hints(body)
	return Response(status=200)


def is_signed(body: bytes, signature: str | None) -> bool:
	"""Whether `body` carries Xero's signature made with the webhook key of the settings."""
	key = adapters.get_settings().get_password("webhook_key", raise_exception=False)
	return signature_valid(body, key, signature)


def refuse_unsigned(response=None, request=None) -> None:
	"""after_request: a request to the endpoint not signed with the webhook key answers a bare 401, whatever
	happened to it before (a body Frappe could not parse included). Signed requests keep their response."""
	if response is None or request is None or not ENDPOINT_PATH.match(request.path or ""):
		return
	try:
		signed = is_signed(request.get_data(cache=True), request.headers.get(SIGNATURE_HEADER))
	except Exception:
		signed = False  # no database, no settings: nothing here can vouch for it
	if signed:
		return
	response.status_code = 401
	response.set_data(b"")
	response.mimetype = "text/plain"


def record_hints(body: bytes) -> int:
	"""Remember the changed documents of organisations bound here, wake the refresh; return how many."""
	bound = {t.tenant_id for t in adapters.load_config().tenants if t.tenant_id}
	count = 0
	for tenant_id, kinds in by_tenant(hints(body)).items():
		if tenant_id not in bound:
			continue
		for kind, ids in kinds.items():
			frappe.cache.sadd(hint_key(tenant_id), *(f"{kind.value}:{i}" for i in ids))
			count += len(ids)
	if count:
		frappe.enqueue(REFRESH_JOB, queue="short", job_id=REFRESH_JOB_ID, deduplicate=True)
	return count


def hint_key(tenant_id: str) -> str:
	return f"{HINTS_KEY}:{tenant_id}"
