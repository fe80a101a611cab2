"""Xero webhooks, framework-free: the signature check and the hints a delivery carries.

Xero signs the raw request body with HMAC-SHA256 keyed on the app's webhook key and sends the base64 digest
in `x-xero-signature`. The check runs on the exact bytes received, in constant time, before the body is
read for anything; a delivery is only a hint ("these documents changed"), never a fact: the poll reads the
documents themselves, so a missed, late or replayed delivery changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass

from ..sync.model import Kind

SIGNATURE_HEADER = "x-xero-signature"
# Event categories whose resources the status poll can read by ID, and the Kind that reads them (the kind
# only picks the endpoint; the records carry their real type)
CATEGORIES = {"INVOICE": Kind.SALES_INVOICE, "CREDITNOTE": Kind.SALES_CREDIT}


def sign(body: bytes, key: str) -> str:
	"""The signature Xero sends for `body`: base64 of HMAC-SHA256(key, body)."""
	return base64.b64encode(hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def signature_valid(body: bytes, key: str | None, signature: str | None) -> bool:
	"""Whether `signature` is Xero's for these exact bytes; False without a key or a signature."""
	if not key or not signature:
		return False
	return hmac.compare_digest(sign(body, key).encode("ascii"), signature.strip().encode("utf-8"))


@dataclass(frozen=True)
class Hint:
	"""One event: this document of this organisation changed."""

	tenant_id: str
	kind: Kind
	resource_id: str


def hints(body: bytes) -> list[Hint]:
	"""The documents a (signature-checked) delivery says changed; anything malformed is left out. The
	intent-to-receive handshake carries no events and gives no hints."""
	try:
		events = json.loads(body.decode("utf-8")).get("events") or []
	except (ValueError, AttributeError, UnicodeDecodeError):
		return []
	found = []
	for event in events if isinstance(events, list) else []:
		if not isinstance(event, dict):
			continue
		kind = CATEGORIES.get(str(event.get("eventCategory") or "").upper())
		tenant_id, resource_id = event.get("tenantId"), event.get("resourceId")
		if kind and isinstance(tenant_id, str) and isinstance(resource_id, str) and tenant_id and resource_id:
			found.append(Hint(tenant_id, kind, resource_id))
	return list(dict.fromkeys(found))


def by_tenant(found: Iterable[Hint]) -> dict[str, dict[Kind, list[str]]]:
	"""Hints grouped as {tenant: {kind: [ids]}}, without repeats."""
	grouped: dict[str, dict[Kind, list[str]]] = {}
	for hint in found:
		ids = grouped.setdefault(hint.tenant_id, {}).setdefault(hint.kind, [])
		if hint.resource_id not in ids:
			ids.append(hint.resource_id)
	return grouped
