"""Payments: PUT /Payments on invoices, bills and credit notes (refunds), POST /Payments/{id} to delete.

A payment moves its document's AmountPaid/AmountDue (RemainingCredit for a credit note), flips AUTHORISED
to PAID at zero (FullyPaidOnDate) and back when deleted, and touches the document's UpdatedDateUTC, so a
poll with If-Modified-Since sees it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from . import documents
from .documents import CREDIT_NOTE, INVOICE, ZERO, DocKind
from .state import Ctx, Tenant, new_id
from .wire import ms_datetime, parse_date, round2, round_dp, to_decimal

PAYMENT_TYPES = {
	"ACCREC": "ACCRECPAYMENT",
	"ACCPAY": "ACCPAYPAYMENT",
	"ACCRECCREDIT": "ARCREDITPAYMENT",
	"ACCPAYCREDIT": "APCREDITPAYMENT",
}
TOO_MUCH = "Payment amount exceeds the amount outstanding on this document"
NOT_PAYABLE = "Payment can only be made against AUTHORISED documents"
BAD_ACCOUNT = "Account type is invalid for making a payment to/from"
# Assumed wording (not captured from Xero): a payment matched to a bank statement line cannot be deleted.
RECONCILED = "This payment has been reconciled and cannot be deleted"


def store(tenant: Tenant) -> dict[str, dict]:
	"""The tenant's payments by PaymentID."""
	return tenant.payments


def _target(tenant: Tenant, element: dict) -> tuple[DocKind | None, dict | None, str]:
	"""The invoice or credit note a payment element names (by ID or number)."""
	for kind, key in ((INVOICE, "Invoice"), (CREDIT_NOTE, "CreditNote")):
		ref = element.get(key)
		if isinstance(ref, dict):
			doc = documents.find_doc(tenant, kind, ref.get(kind.id_key) or ref.get(kind.number_key))
			return kind, doc, key
	return None, None, ""


def _account(tenant: Tenant, raw: Any) -> dict | None:
	"""A bank account, or one with EnablePaymentsToAccount, by AccountID or Code."""
	raw = raw if isinstance(raw, dict) else {}
	for account in tenant.accounts.values():
		if raw.get("AccountID") == account["AccountID"] or (
			raw.get("Code") and raw["Code"] == account["Code"]
		):
			if account["Type"] == "BANK" or account.get("EnablePaymentsToAccount"):
				return account
			return None
	return None


def create_payment(ctx: Ctx, element: Any) -> tuple[dict | None, list[str]]:
	"""Apply one payment element; returns the stored payment or the errors Xero would give."""
	element = element if isinstance(element, dict) else {}
	tenant = ctx.tenant
	kind, doc, key = _target(tenant, element)
	if kind is None:
		return None, ["You must specify either an Invoice or a Credit Note for a payment"]
	if doc is None:
		return None, [f"{kind.label} could not be found"]
	account = _account(tenant, element.get("Account"))
	if account is None:
		return None, [BAD_ACCOUNT]
	try:
		amount = round2(to_decimal(element.get("Amount"), ZERO))
		date = parse_date(element.get("Date")) or ctx.today
		rate = to_decimal(element.get("CurrencyRate"))
	except ValueError as exc:
		return None, [f"Invalid payment: {exc}"]
	if doc["Status"] != "AUTHORISED":
		return None, [NOT_PAYABLE]
	outstanding = doc["AmountDue"] if kind is INVOICE else doc["RemainingCredit"]
	if amount <= ZERO:
		return None, ["Payment amount must be greater than zero"]
	if amount > outstanding:
		return None, [TOO_MUCH]
	payment_id = new_id()
	rate = round_dp(rate, 6) if rate else doc.get("CurrencyRate") or Decimal("1.000000")
	entry = {"PaymentID": payment_id, "Amount": amount, "Date": date, "CurrencyRate": rate}
	new_doc = dict(doc)
	new_doc["_payments"] = [*doc.get("_payments", []), entry]
	if kind is INVOICE:
		new_doc["AmountPaid"] = doc.get("AmountPaid", ZERO) + amount
	documents._store(ctx, kind, new_doc)
	payment = {
		"PaymentID": payment_id,
		"Date": date,
		"Amount": amount,
		"CurrencyRate": rate,
		"Reference": str(element.get("Reference") or ""),
		"Status": "AUTHORISED",
		"PaymentType": PAYMENT_TYPES[doc["Type"]],
		"IsReconciled": bool(element.get("IsReconciled")),
		"Account": {"AccountID": account["AccountID"], "Code": account["Code"]},
		"_kind": key,
		"_doc_id": doc[kind.id_key],
		"_updated": ctx.now,
	}
	ctx.txn.put(store(tenant), payment_id, payment)
	return payment, []


def delete_payment(ctx: Ctx, payment_id: str, element: Any) -> tuple[dict | None, list[str]]:
	"""POST /Payments/{id} {"Status": "DELETED"}: undo the payment on its document."""
	tenant = ctx.tenant
	payment = store(tenant).get(payment_id)
	if payment is None:
		return None, []
	element = element if isinstance(element, dict) else {}
	if element.get("Status") != "DELETED":
		return None, ["Payments can only be deleted (Status DELETED)"]
	if payment["Status"] == "DELETED":
		return None, ["This payment has already been deleted"]
	if payment.get("IsReconciled"):
		return None, [RECONCILED]
	kind = INVOICE if payment["_kind"] == "Invoice" else CREDIT_NOTE
	doc = tenant.store(kind.store)[payment["_doc_id"]]
	new_doc = dict(doc)
	new_doc["_payments"] = [p for p in doc.get("_payments", []) if p["PaymentID"] != payment_id]
	if kind is INVOICE:
		new_doc["AmountPaid"] = doc["AmountPaid"] - payment["Amount"]
	if new_doc["Status"] == "PAID":
		new_doc["Status"] = "AUTHORISED"  # _settle flips it back to PAID if something else still pays it
		new_doc.pop("FullyPaidOnDate", None)
	documents._store(ctx, kind, new_doc)
	deleted = {**payment, "Status": "DELETED", "_updated": ctx.now}
	ctx.txn.put(store(tenant), payment_id, deleted)
	return deleted, []


def render(tenant: Tenant, payment: dict) -> dict:
	"""A payment as GET/PUT /Payments returns it, with its document summarised."""
	kind = INVOICE if payment["_kind"] == "Invoice" else CREDIT_NOTE
	doc = tenant.store(kind.store)[payment["_doc_id"]]
	out = {k: v for k, v in payment.items() if not k.startswith("_")}
	out[payment["_kind"]] = {
		kind.id_key: doc[kind.id_key],
		kind.number_key: doc.get(kind.number_key),
		"Type": doc["Type"],
		"CurrencyCode": doc.get("CurrencyCode"),
		"Contact": {"ContactID": doc["Contact"]["ContactID"]},
	}
	out["UpdatedDateUTC"] = ms_datetime(payment["_updated"])
	return out


def listed(tenant: Tenant, since: float | None) -> list[dict]:
	"""Payments changed after `since` (If-Modified-Since), oldest first."""
	rows = sorted(store(tenant).values(), key=lambda p: p["_updated"])
	return [render(tenant, p) for p in rows if since is None or p["_updated"] > since]
