"""Deep links into Xero's web app (go.xero.com): where "View in Xero" goes. Nothing here imports frappe.

Xero's deep-link guide: `https://go.xero.com/organisationlogin/default.aspx?shortcode=<ShortCode>&redirecturl=
<path>` opens `<path>` in the organisation with that short code (GET /Organisation's ShortCode), whichever
organisation the user had open. Without a short code the bare path opens in the user's current one.

A payment has no page of its own under Accounts Receivable/Payable: Xero shows it as a transaction of its
bank account, `/Bank/ViewTransaction.aspx?bankTransactionID=<PaymentID>` (the form Xero's own MCP server
builds for a payment), so that is where a payment's link goes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

from ..sync.kinds.registry import REGISTRY
from ..sync.payment_mapping import PAYMENT

XERO_LOGIN_URL = "https://go.xero.com/organisationlogin/default.aspx"
XERO_APP_URL = "https://go.xero.com"

# The path of a document's page in Xero, by the log's xero_type, as each row kind declares it
# (sync/kinds/); the document's Xero ID is appended.
DEEP_LINK_PATHS = {xero_type: path for kind in REGISTRY for xero_type, path in kind.link_paths.items()}


def deep_link(short_code: str | None, xero_type: str | None, xero_id: str | None) -> str | None:
	"""The page of one Xero document (or payment), through the organisation's short code when known;
	None when the type has no page or there is no ID yet."""
	path = DEEP_LINK_PATHS.get(xero_type or "")
	if not path or not xero_id:
		return None
	path += quote(xero_id, safe="")
	if not short_code:
		return XERO_APP_URL + path
	return f"{XERO_LOGIN_URL}?shortcode={quote(short_code, safe='')}&redirecturl={quote(path, safe='')}"


@dataclass(frozen=True)
class PaymentLink:
	"""One Xero payment of a Payment Entry and its page: `against` is the ERPNext invoice it pays and
	`amount` the amount in that invoice's currency, as the payments-out kind recorded them (None if unknown)."""

	payment_id: str
	url: str
	against: str | None = None
	amount: str | None = None


def payment_links(short_code: str | None, response, xero_id: str | None = None) -> list[PaymentLink]:
	"""The pages of a Payment Entry's Xero payments that are still live, in the entry's reference order.

	`response` is the log row's response (a JSON string or its parsed value), where the payments-out kind
	describes every payment it made, adopted or deleted (sync/kinds/payments_out.py): {"payments": [{"payment_id",
	"against", "amount", "status"}]}. A deleted payment has no page left and gets no link. Only when the
	response names no payments at all (none recorded, or clipped) does the row's own Xero ID, the entry's
	first payment, stand for them."""
	payments = _described_payments(response)
	if payments is None:
		url = deep_link(short_code, PAYMENT, xero_id)
		return [PaymentLink(xero_id, url)] if url else []
	links, seen = [], set()
	for payment in payments:
		payment_id = payment.get("payment_id")
		if not payment_id or payment.get("status") == "DELETED" or payment_id in seen:
			continue
		seen.add(payment_id)
		url = deep_link(short_code, PAYMENT, payment_id)
		links.append(PaymentLink(payment_id, url, payment.get("against"), payment.get("amount")))
	return links


def _described_payments(response) -> list[dict] | None:
	"""The response's list of payments, or None when it holds none (absent, not JSON, another shape)."""
	if isinstance(response, str | bytes):
		try:
			response = json.loads(response)
		except ValueError:
			return None
	payments = response.get("payments") if isinstance(response, dict) else None
	if not isinstance(payments, list):
		return None
	return [p for p in payments if isinstance(p, dict)]
