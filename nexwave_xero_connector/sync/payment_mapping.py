"""ERPNext Payment Entry (as `as_dict()` gives it) -> the Xero payments it stands for. No framework here.

One Xero payment per reference the Payment Entry allocates to a Sales or Purchase Invoice that is in Xero:
on the invoice or bill (InvoiceID), or, for a return (a refund paid out against a sales return, or
received against a purchase return), on its credit note (CreditNoteID). The Xero IDs come from the
referenced documents (their stored xero_id), never from a number.

Fields (ERPNext 15 Payment Entry): `payment_type` Receive/Pay; the bank side is `paid_to` for a Receive
and `paid_from` for a Pay (the other side is the party account); `references[]` carry `reference_doctype`,
`reference_name` and `allocated_amount` in the party account's currency (negative against a return, whose
outstanding is negative); the party side's exchange rate to the company currency is
`source_exchange_rate` for a Receive, `target_exchange_rate` for a Pay.

Xero payment: Amount = |allocated_amount| (the invoice's currency), Date = posting_date, Reference = the
Payment Entry's name (so an accountant finds it, and a lookup finds what an interrupted attempt sent),
Account = the mapped Xero bank account (AccountID when the mapping holds a GUID, else Code), CurrencyRate =
Xero's direction (foreign units per base unit) = 1 / the party-side rate, to 6 dp, for a foreign invoice.

Out of scope, never silently dropped: references to Journal Entries, Orders and other doctypes, and
unallocated advances are listed in the plan's notes; a Payment Entry with nothing in scope is skipped with
the reason (`NothingToSend`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from .config import PURCHASE_INVOICE, SALES_INVOICE, SyncConfig
from .errors import MappingError
from .model import Kind
from .money import RATE_STEP, ZERO, dec, money
from .preflight import OrgInfo, check_org

PAYMENT_ENTRY = "Payment Entry"
PAYMENT = "PAYMENT"  # the Xero Sync Log's xero_type for a Payment Entry's row
PULLED = "XERO PAYMENT"  # the xero_type of a payment made in Xero, recorded here (sync/payments_from_xero.py)
# How the message of a payment row waiting for its invoice starts (the workspace card and the list filter
# on it; a drain that syncs invoices wakes such rows at once).
WAITING_PREFIX = "Waiting for "
INVOICE_DOCTYPES = (SALES_INVOICE, PURCHASE_INVOICE)
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class NothingToSend(Exception):
	"""The Payment Entry has nothing Xero takes as a payment; the message says why (row ends Skipped)."""


@dataclass(frozen=True)
class Target:
	"""What ERPNext knows about a referenced invoice: its Xero ID (None until it is Synced) and kind."""

	doctype: str
	name: str
	xero_id: str | None
	is_return: bool
	currency: str
	docstatus: int = 1
	# Its number in Xero (the name; a bill's bill_no when set): lets one GET by number read a batch's
	# invoices, where fifty IDs would not fit one URL.
	number: str = ""

	@property
	def kind(self) -> Kind:
		if self.doctype == PURCHASE_INVOICE:
			return Kind.BILL_CREDIT if self.is_return else Kind.BILL
		return Kind.SALES_CREDIT if self.is_return else Kind.SALES_INVOICE


@dataclass(frozen=True)
class PaymentLine:
	"""One Xero payment: on `target_id` (an invoice, bill or credit note), `amount` in its currency."""

	against_doctype: str
	against_name: str
	target_id: str
	on_credit_note: bool
	amount: Decimal
	date: date
	reference: str
	account: str  # Xero AccountID or Code
	currency_rate: Decimal | None = None
	target_kind: Kind = Kind.SALES_INVOICE
	target_number: str = ""

	def body(self) -> dict:
		"""The Payment element for PUT /Payments."""
		target = {"CreditNote": {"CreditNoteID": self.target_id}} if self.on_credit_note else None
		body = target or {"Invoice": {"InvoiceID": self.target_id}}
		body["Account"] = {"AccountID": self.account} if _GUID.match(self.account) else {"Code": self.account}
		body.update(Amount=self.amount, Date=self.date, Reference=self.reference)
		if self.currency_rate is not None:
			body["CurrencyRate"] = self.currency_rate
		return body

	def identity(self) -> dict:
		"""What recognises this payment in Xero: document, amount, date and reference."""
		return {
			"target_id": self.target_id,
			"amount": str(self.amount),
			"date": self.date.isoformat(),
			"reference": self.reference,
		}


@dataclass(frozen=True)
class PaymentPlan:
	"""What a Payment Entry becomes in Xero: its lines, plus notes on what stays in ERPNext only."""

	name: str
	lines: tuple[PaymentLine, ...]
	notes: tuple[str, ...] = ()
	# References whose invoice is not in Xero yet: the row waits for them (never fails).
	waiting_for: tuple[str, ...] = ()

	def identity(self) -> dict:
		"""Kept on the log row before the request leaves (the journal's sent identity)."""
		return {"kind": PAYMENT, "reference": self.name, "payments": [line.identity() for line in self.lines]}


@dataclass(frozen=True)
class XeroPayment:
	"""A payment as Xero holds it (from a lookup or a create answer)."""

	payment_id: str
	target_id: str  # the InvoiceID or CreditNoteID it pays
	amount: Decimal
	date: date | None
	reference: str
	status: str  # AUTHORISED or DELETED
	reconciled: bool = False

	@property
	def is_live(self) -> bool:
		return self.status != "DELETED"

	def is_line(self, line: dict) -> bool:
		"""Whether this is the payment a line (PaymentLine.identity()) asked for."""
		return (
			self.target_id == line["target_id"]
			and self.amount == Decimal(line["amount"])
			and (self.date is None or self.date.isoformat() == line["date"])
			and self.reference == line["reference"]
		)


def match_lines(lines: list[dict], found: list[XeroPayment]) -> list[XeroPayment | None]:
	"""For each line, the live Xero payment that is it, or None; each payment answers one line only."""
	free = [p for p in found if p.is_live]
	out: list[XeroPayment | None] = []
	for line in lines:
		hit = next((p for p in free if p.is_line(line)), None)
		if hit is not None:
			free.remove(hit)
		out.append(hit)
	return out


def in_scope_refs(doc: dict) -> list[tuple[str, str]]:
	"""The (doctype, name) of the invoices a Payment Entry allocates to, in reference order."""
	return [
		(r["reference_doctype"], r["reference_name"])
		for r in doc.get("references") or []
		if r.get("reference_doctype") in INVOICE_DOCTYPES and dec(r.get("allocated_amount")) != ZERO
	]


def bank_account_of(doc: dict) -> str:
	"""The ERPNext bank/cash account the money moved through: paid_to for a Receive, paid_from for a Pay."""
	return doc.get("paid_to") if doc.get("payment_type") == "Receive" else doc.get("paid_from")


def plan_payment(
	doc: dict, *, config: SyncConfig, targets: dict[tuple[str, str], Target], org: OrgInfo | None = None
) -> PaymentPlan:
	"""Map a submitted Payment Entry to the Xero payments it stands for.

	Raises NothingToSend (nothing in scope: the row is Skipped with the reason) or MappingError (something
	to fix first: the message names it). References whose invoice has no Xero ID yet are listed in
	`waiting_for` and get no line: the caller waits for them rather than sending part of the entry."""
	name = doc["name"]
	payment_type = doc.get("payment_type")
	if payment_type not in ("Receive", "Pay"):
		raise NothingToSend(
			f"{name} is an {payment_type or 'unknown'} payment; only Receive and Pay go to Xero."
		)
	notes = _out_of_scope_notes(doc)
	refs = [r for r in doc.get("references") or [] if r.get("reference_doctype") in INVOICE_DOCTYPES]
	refs = [r for r in refs if dec(r.get("allocated_amount")) != ZERO]
	if not refs:
		raise NothingToSend(
			" ".join(
				[f"{name} allocates nothing to a Sales or Purchase Invoice, so nothing goes to Xero.", *notes]
			)
		)
	company = doc.get("company") or ""
	account = bank_account_of(doc)
	code = config.bank_account_map.get((company, account)) if account else None
	if not code:
		raise MappingError(
			f"{name}: the {'receiving' if payment_type == 'Receive' else 'paying'} account {account or '(none)'} "
			f"of {company} is not mapped to a Xero bank account. Map it under Bank Account Mapping in Xero Sync "
			"Settings, then press Retry."
		)
	posted = _as_date(doc.get("posting_date"))
	# A refund pays out against a sales return, or takes in against a purchase return.
	wants_return = (doc.get("party_type") == "Customer") == (payment_type == "Pay")
	party_rate = dec(
		doc.get("source_exchange_rate" if payment_type == "Receive" else "target_exchange_rate") or 1
	)
	party_currency = doc.get(
		"paid_from_account_currency" if payment_type == "Receive" else "paid_to_account_currency"
	)
	lines, waiting = [], []
	for ref in refs:
		key = (ref["reference_doctype"], ref["reference_name"])
		target = targets.get(key)
		label = f"{name} (against {key[1]})"
		if target is None or target.docstatus != 1:
			raise MappingError(
				f"{label}: {key[0]} {key[1]} is not a submitted document in ERPNext, so its payment cannot go to "
				"Xero. Correct the Payment Entry's references."
			)
		allocated = money(ref.get("allocated_amount"))
		if target.is_return != wants_return or (allocated < ZERO) != target.is_return:
			raise MappingError(
				f"{label}: this {payment_type} nets a return against an invoice within one Payment Entry. Xero "
				"records that as a credit note allocation, not a payment: allocate the credit note in Xero, and "
				"enter the money that moved as its own Payment Entry. Nothing was sent."
			)
		if party_currency and party_currency != target.currency:
			raise MappingError(
				f"{label}: the amount is allocated in {party_currency} (the party account's currency) to an invoice "
				f"in {target.currency}, and Xero takes a payment in the invoice's currency. Record this payment in "
				"Xero by hand. Nothing was sent."
			)
		if not target.xero_id:
			waiting.append(key[1])
			continue
		if org is not None:
			check_org(label, target.currency, party_rate, posted, org)
		# Foreign: not the organisation's base currency when known, else any rate but 1 (as for invoices).
		foreign = target.currency != org.base_currency if org is not None else party_rate != 1
		rate = (Decimal(1) / party_rate).quantize(RATE_STEP, rounding=ROUND_HALF_EVEN) if foreign else None
		lines.append(
			PaymentLine(
				against_doctype=key[0],
				against_name=key[1],
				target_id=target.xero_id,
				on_credit_note=target.is_return,
				target_kind=target.kind,
				target_number=target.number or key[1],
				amount=abs(allocated),
				date=posted,
				reference=name,
				account=code,
				currency_rate=rate,
			)
		)
	if dec(doc.get("unallocated_amount")) > ZERO:
		notes.append(
			f"{money(doc['unallocated_amount'])} is unallocated (an advance): it stays in ERPNext and is not "
			"sent to Xero."
		)
	notes += _deduction_notes(doc, sum((line.amount for line in lines), ZERO))
	return PaymentPlan(name=name, lines=tuple(lines), notes=tuple(notes), waiting_for=tuple(waiting))


def _deduction_notes(doc: dict, sent: Decimal) -> list[str]:
	"""What Xero's bank reconciliation needs when deductions (write-off, bank charges, discount) make the
	bank line differ from the payments sent. ERPNext's own exchange gain or loss rows move no money."""
	rows = [d for d in doc.get("deductions") or [] if not int(d.get("is_exchange_gain_loss") or 0)]
	deducted = money(sum((dec(d.get("amount")) for d in rows), ZERO))
	if not deducted:
		return []
	receive = doc.get("payment_type") == "Receive"
	bank = money(doc.get("received_amount") if receive else doc.get("paid_amount"))
	accounts = ", ".join(dict.fromkeys(str(d.get("account") or "?") for d in rows))
	money_kind = "Spend Money" if receive else "Receive Money"
	return [
		f"Deductions of {deducted} ({accounts}) are not sent: Xero gets payments of {money(sent)}, while the "
		f"bank line shows {bank}. In Xero's bank reconciliation, match that line with these payments and add "
		f"an adjustment of {deducted} to the account Xero uses for {accounts}, or record a {money_kind} of "
		f"{deducted} on the same bank account dated {doc.get('posting_date')}."
	]


def _out_of_scope_notes(doc: dict) -> list[str]:
	others = [
		f"{r.get('reference_doctype')} {r.get('reference_name')}"
		for r in doc.get("references") or []
		if r.get("reference_doctype") not in INVOICE_DOCTYPES
	]
	if not others:
		return []
	return [
		f"Not sent to Xero (only payments on Sales and Purchase Invoices are): {', '.join(others)}. Record them "
		"in Xero by hand if Xero needs them."
	]


def _as_date(value) -> date:
	if isinstance(value, date):
		return value
	return date.fromisoformat(str(value)[:10])
