"""Xero's webhook endpoint: an accelerator for the status poll, never the truth.

POST /api/method/nexwave_xero_connector.webhook.receive, no session. The signature of the raw body is
checked first, in constant time, against the webhook key (a Password field of Xero Sync Settings): 401 when
it does not match, 200 when it does (that is all Xero's intent-to-receive handshake asks). A valid delivery
only records which documents changed (a Redis set per organisation) and wakes status_job.refresh_hinted,
which reads them by ID. A lost, late or replayed delivery changes nothing the poll would not do anyway.
"""

from __future__ import annotations

import frappe
from werkzeug.wrappers import Response

from nexwave_xero_connector import adapters
from nexwave_xero_connector.xero.webhooks import SIGNATURE_HEADER, by_tenant, hints, signature_valid

HINTS_KEY = "xero-webhook-hints"
REFRESH_JOB = "nexwave_xero_connector.status_job.refresh_hinted"
REFRESH_JOB_ID = "xero-webhook-refresh"


@frappe.whitelist(allow_guest=True, methods=["POST"])
def receive(**_body_fields) -> Response:
	"""Take one delivery from Xero. Frappe hands the parsed JSON in as keyword arguments: they are ignored,
	only the raw bytes as received are signed and read."""
	body = frappe.request.get_data(cache=True)
	key = adapters.get_settings().get_password("webhook_key", raise_exception=False)
	if not signature_valid(body, key, frappe.request.headers.get(SIGNATURE_HEADER)):
		return Response(status=401)
	record_hints(body)
	return Response(status=200)


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
