"""Webhook deliveries as Xero sends them: the events since a sequence number, signed with the webhook key
(HMAC-SHA256 of the raw body, base64, in x-xero-signature). `tamper` signs with the wrong key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets

from .state import Tenant

SIGNATURE_HEADER = "x-xero-signature"


def delivery(
	tenant: Tenant, key: str, after: int = 0, *, tamper: bool = False
) -> tuple[bytes, dict[str, str], int]:
	"""(body, headers, last sequence) for the events after `after`; no events gives the intent-to-receive
	handshake's shape (events=[])."""
	seqs = sorted(s for s in tenant.events if s > after)
	body = json.dumps(
		{
			"events": [tenant.events[s] for s in seqs],
			"firstEventSequence": seqs[0] if seqs else 0,
			"lastEventSequence": seqs[-1] if seqs else 0,
			"entropy": secrets.token_urlsafe(15),
		},
		separators=(",", ":"),
	).encode()
	signing_key = key + "-tampered" if tamper else key
	signature = base64.b64encode(hmac.new(signing_key.encode(), body, hashlib.sha256).digest()).decode()
	headers = {SIGNATURE_HEADER: signature, "Content-Type": "application/json"}
	return body, headers, seqs[-1] if seqs else after
