"""Idempotency-Key values: deterministic, at most 128 characters, one per distinct request."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def _key(prefix: str, parts: Iterable[object]) -> str:
	digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
	return f"nxc-{prefix}-{digest[:56]}"


def create_key(tenant_id: str, kind: str, items: Iterable[tuple[str, str, int]]) -> str:
	"""Key for a batched create: tenant, kind and each (log row, payload digest, key generation).

	The log row (one per document incarnation), not the document's name, which ERPNext reuses after a delete.

	The generation only moves after a lookup proved the document absent from Xero, so a request that is
	replayed (by a proxy, or a worker that took over an expired lease) carries the same key, while a
	corrected payload or a proven-absent document gets a fresh key and never meets Xero's cached error.
	"""
	return _key("c", [tenant_id, kind, *sorted(f"{n}:{d}:{g}" for n, d, g in items)])


def status_key(tenant_id: str, kind: str, changes: Iterable[tuple[str, str, int]]) -> str:
	"""Key for a batched status change: each (xero id, new status, claim attempt)."""
	return _key("s", [tenant_id, kind, *sorted(f"{i}:{s}:{a}" for i, s, a in changes)])


def allocation_key(tenant_id: str, credit_note_id: str, invoice_id: str, amount: object) -> str:
	"""Key for one allocation of a credit note to an invoice."""
	return _key("a", [tenant_id, credit_note_id, invoice_id, amount])


def contacts_key(tenant_id: str, numbers: Iterable[str]) -> str:
	"""Key for a batched contact create."""
	return _key("p", [tenant_id, *sorted(numbers)])
