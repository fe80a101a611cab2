"""The webhook signature check and the hints a delivery gives (framework-free)."""

import base64
import hashlib
import hmac
import json

from nexwave_xero_connector.sync.model import Kind
from nexwave_xero_connector.xero.webhooks import by_tenant, hints, sign, signature_valid

KEY = "wh-key-for-tests-only"


def delivery(*events: dict) -> bytes:
	return json.dumps(
		{"events": list(events), "firstEventSequence": 1, "lastEventSequence": len(events), "entropy": "XYZ"},
		separators=(",", ":"),
	).encode()


def event(resource_id: str, category="INVOICE", tenant_id="t-1") -> dict:
	return {
		"resourceUrl": f"https://api.xero.com/api.xro/2.0/Invoices/{resource_id}",
		"resourceId": resource_id,
		"eventDateUtc": "2026-11-29T15:00:00.000",
		"eventType": "UPDATE",
		"eventCategory": category,
		"tenantId": tenant_id,
		"tenantType": "ORGANISATION",
	}


def test_a_signature_made_the_way_xero_makes_it_is_valid():
	body = delivery(event("i-1"))
	expected = base64.b64encode(hmac.new(KEY.encode(), body, hashlib.sha256).digest()).decode()
	assert sign(body, KEY) == expected
	assert signature_valid(body, KEY, expected)


def test_bad_signatures_are_refused():
	body = delivery(event("i-1"))
	good = sign(body, KEY)
	assert not signature_valid(body, KEY, sign(body, "another-key"))
	assert not signature_valid(body + b" ", KEY, good)  # the raw bytes are signed, not the JSON's meaning
	assert not signature_valid(body, KEY, "")
	assert not signature_valid(body, KEY, None)
	assert not signature_valid(body, "", good)
	assert not signature_valid(body, None, good)
	assert not signature_valid(body, KEY, "bön≠ascii")


def test_the_intent_to_receive_handshake_is_signed_and_carries_no_hints():
	body = delivery()
	assert signature_valid(body, KEY, sign(body, KEY))
	assert hints(body) == []


def test_hints_keep_invoices_and_credit_notes_once_per_tenant():
	body = delivery(
		event("i-1"),
		event("i-1"),  # Xero may repeat an event
		event("c-1", "CREDITNOTE"),
		event("k-1", "CONTACT"),
		event("i-2", tenant_id="t-2"),
		{"eventCategory": "INVOICE", "tenantId": "t-1"},  # no resource
		"junk",
	)
	assert by_tenant(hints(body)) == {
		"t-1": {Kind.SALES_INVOICE: ["i-1"], Kind.SALES_CREDIT: ["c-1"]},
		"t-2": {Kind.SALES_INVOICE: ["i-2"]},
	}
	assert hints(b"not json") == [] and hints(b"[]") == []


def test_a_replayed_delivery_gives_the_same_hints():
	body = delivery(event("i-1"), event("c-1", "CREDITNOTE"))
	assert hints(body) == hints(body) and signature_valid(body, KEY, sign(body, KEY))
