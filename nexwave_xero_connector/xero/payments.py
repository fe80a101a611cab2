"""Xero's Payments endpoint for both payment kinds (pushed and pulled), over the shared SDK plumbing.

PUT /Payments creates many in one request (summarizeErrors=false: one answer per element, in order);
GET /Payments is looked up by Reference (the Payment Entry's name) in OR-chained `where` batches;
POST /Payments/{PaymentID} {"Status": "DELETED"} deletes one (Xero has no batched delete).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ..sync.errors import XeroError
from ..sync.payment_mapping import XeroPayment
from ..sync.payments_from_xero import PAYMENT_TYPES, PaidInXero
from .plumbing import NO_ID, SdkCalls, any_of, as_date, count_mismatch, messages


class SdkPayments:
	"""The Payments endpoint (sync.ports.PaymentGateway and PaymentReader) over the shared SDK plumbing."""

	def __init__(self, sdk: SdkCalls):
		self.sdk = sdk

	def create_payments(
		self, tenant_id: str, bodies: Sequence[dict], idempotency_key: str
	) -> list[XeroPayment | tuple[str, ...]]:
		"""PUT the payments in one request; each result is the payment or Xero's messages, in input order."""
		if not bodies:
			return []
		label = ", ".join(dict.fromkeys(str(b.get("Reference") or "") for b in bodies[:5]))
		answer = self.sdk.call(
			self.sdk.api.create_payments,
			tenant_id,
			self.sdk.wrap("Payments", "Payment", bodies, label),
			summarize_errors=False,
			idempotency_key=idempotency_key,
			document=label,
		)
		found = answer.payments or []
		if len(found) != len(bodies):
			raise count_mismatch(len(found), len(bodies))
		return [_result(p) for p in found]

	def find_payments(self, tenant_id: str, references: Sequence[str]) -> list[XeroPayment]:
		"""Every payment (any status) whose Reference is one of `references`, batched and paged."""
		wanted = list(dict.fromkeys(r for r in references if r))
		found: dict[str, XeroPayment] = {}

		def query(chunk: list[str]) -> list[tuple[str, Any]]:
			return [("where", any_of("Reference", chunk)), *self.sdk.paging(1)]

		for chunk in self.sdk.chunks(wanted, query, "/Payments"):
			for payment in self.sdk.paged(
				self.sdk.api.get_payments, "payments", tenant_id, where=any_of("Reference", chunk)
			):
				record = payment_record(payment)
				if record and record.reference in wanted:
					found.setdefault(record.payment_id, record)
		return list(found.values())

	def delete_payment(
		self, tenant_id: str, payment_id: str, idempotency_key: str
	) -> XeroPayment | tuple[str, ...]:
		"""POST Status DELETED; Xero's refusal (e.g. reconciled) comes back as its messages."""
		try:
			answer = self.sdk.call(
				self.sdk.api.delete_payment,
				tenant_id,
				payment_id,
				{"Status": "DELETED"},
				idempotency_key=idempotency_key,
				document=payment_id,
			)
		except XeroError as exc:
			if exc.status == 400:
				return (exc.message,)
			raise
		found = answer.payments or []
		return _result(found[0]) if found else ("Xero returned no payment for the delete.",)

	def payments_since(self, tenant_id: str, since: datetime | None) -> list[PaidInXero]:
		"""Every payment created or changed since `since` (If-Modified-Since; all when None), deleted ones
		included, in pages of scan_page_size: a quiet organisation costs one call."""
		extra = {} if since is None else {"if_modified_since": since}
		found: dict[str, PaidInXero] = {}
		for payment in self.sdk.paged(
			self.sdk.api.get_payments, "payments", tenant_id, page_size=self.sdk.scan_page_size, **extra
		):
			paid = paid_in_xero(payment)
			if paid is not None:
				found[paid.payment_id] = paid  # a later page's copy is the newer one
		return list(found.values())


def paid_in_xero(payment: Any) -> PaidInXero | None:
	"""A listed Payment as the pull keeps it, or None without a real ID."""
	if not payment.payment_id or payment.payment_id == NO_ID:
		return None
	doc, target_id, number = None, None, ""
	if payment.invoice is not None and payment.invoice.invoice_id:
		doc, target_id, number = payment.invoice, payment.invoice.invoice_id, payment.invoice.invoice_number
	elif payment.credit_note is not None and payment.credit_note.credit_note_id:
		doc = payment.credit_note
		target_id, number = doc.credit_note_id, doc.credit_note_number
	kind = _value(payment.payment_type)
	target_type = PAYMENT_TYPES.get(kind) or (_value(doc.type) if doc is not None else None)
	account = payment.account
	return PaidInXero(
		payment_id=payment.payment_id,
		status=_value(payment.status) or "AUTHORISED",
		payment_type=kind or "",
		amount=_dec(payment.amount) or Decimal(0),
		date=as_date(payment.date) if isinstance(payment.date, date | str) else None,
		currency_rate=_dec(payment.currency_rate),
		account_id=(account.account_id if account is not None else None) or "",
		account_code=(account.code if account is not None else None) or payment.code or "",
		reference=payment.reference or "",
		target_id=target_id if target_type else None,
		target_type=target_type if target_id else None,
		target_number=number or "",
		currency=_value(getattr(doc, "currency_code", None)) or "",
		bank_amount=_dec(payment.bank_amount),
	)


def _value(value: Any) -> str | None:
	"""An SDK enum's value, or the string itself."""
	return getattr(value, "value", value) or None


def _dec(value: Any) -> Decimal | None:
	return None if value is None else Decimal(str(value))


def payment_record(payment: Any) -> XeroPayment | None:
	"""A Payment as a XeroPayment, or None without a real ID or document."""
	if not payment.payment_id or payment.payment_id == NO_ID:
		return None
	if payment.invoice is not None and payment.invoice.invoice_id:
		target = payment.invoice.invoice_id
	elif payment.credit_note is not None and payment.credit_note.credit_note_id:
		target = payment.credit_note.credit_note_id
	else:
		return None  # a prepayment or overpayment: never one of ours
	status = payment.status
	return XeroPayment(
		payment_id=payment.payment_id,
		target_id=target,
		amount=Decimal(str(payment.amount)) if payment.amount is not None else Decimal(0),
		date=as_date(payment.date) if isinstance(payment.date, date | str) else None,
		reference=payment.reference or "",
		status=getattr(status, "value", status) or "",
		reconciled=bool(payment.is_reconciled),
	)


def _result(payment: Any) -> XeroPayment | tuple[str, ...]:
	errors = messages(payment.validation_errors)
	if payment.status_attribute_string == "ERROR" and not errors:
		errors = ("Xero reported an error for this payment without a message.",)
	if errors:
		return errors
	return payment_record(payment) or ("Xero returned no ID for this payment.",)
