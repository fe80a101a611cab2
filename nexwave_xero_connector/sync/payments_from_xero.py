"""Payments made in Xero, recorded in ERPNext as submitted Payment Entries. No framework here.

Only for a company whose payments Xero owns and whose binding asks for it (`SyncConfig.pulls_payments`);
a company whose payments ERPNext owns pushes them instead (sync/kinds/payments_out.py), never both.
Here: what a payment made in Xero is, how it becomes a Payment Entry, and how the poll finds it; the
payments-in kind (sync/kinds/payments_in.py) records and undoes them in the drain.

Discovery runs in the status poll (`discover`): one GET /Payments with If-Modified-Since per organisation
(pages of 1,000; a quiet poll costs that one call). Each new live payment gets its own log row, xero_type
XERO PAYMENT, named after the PaymentID (a replayed or overlapping listing inserts nothing), holding the
payment as Xero listed it in `response`. A payment deleted in Xero flags its row to be undone, like a
cancel; one whose row was cleared but whose Payment Entry stands gets a row that undoes it. A payment an
ERPNext Payment Entry pushed (its Reference names a pushed entry) is never taken back.

The drain (the payments-in kind, under the claim's leases) makes one Xero call, a
read of the documents the payments are on (what Xero has due now), and writes nothing to Xero:
  - the Payment Entry that carries the PaymentID (a unique custom field, `xero_payment_id`) is the durable
    link: if it exists, the row adopts it; so a crash between creating the entry and recording it, a
    cleared row or a replayed listing never makes a second one;
  - otherwise the entry is planned (`plan_entry`) against the invoice, bill or return that holds the Xero
    document's ID, and created and submitted in the same transaction as the row's Synced outcome
    (one unit of work, ports.UnitOfWork): either both are committed or neither, and a row another worker
    took meanwhile, or a deletion that committed meanwhile, rolls the entry back;
  - a payment deleted in Xero cancels its entry (again in the outcome's transaction);
  - what cannot be recorded faithfully is reported on the row, never guessed: an overpayment or
    prepayment, a payment on a document ERPNext did not send, more than ERPNext still has outstanding, a
    payment ERPNext's own entries already cover (ERPNext would show less outstanding than Xero has due:
    `check_ledgers`), an unmapped Xero bank account, a cancelled invoice, or an entry someone cancelled
    here while Xero keeps the payment.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Protocol

from .config import PURCHASE_INVOICE, SALES_INVOICE, SyncConfig
from .journal import (
	LOG_TABLE,
	SqlDb,
	flag_payment_deleted,
	insert_pulled_row,
	retake_untracked_payments,
)
from .model import EntryPlan, ErrorClass, Status
from .money import ZERO, dec, money, shown
from .payment_mapping import PAYMENT, PULLED
from .status_poll import OVERLAP

ENTRY_TABLE = "`tabPayment Entry`"
RATE_PLACES = Decimal("0.000000001")  # ERPNext keeps exchange rates to 9 places
WAIT_SECONDS = 300  # a payment on a document whose push has not finished: look again in five minutes
UNDO_WAIT_SECONDS = 30  # a payment waiting for a deleted one's entry to be cancelled (its row is queued)

# Xero's PaymentType -> the document type the payment is on; the rest (AROVERPAYMENTPAYMENT,
# ARPREPAYMENTPAYMENT and their AP twins) pay an overpayment or prepayment, which ERPNext keeps as an
# unallocated advance: reported, never guessed.
PAYMENT_TYPES = {
	"ACCRECPAYMENT": "ACCREC",
	"ACCPAYPAYMENT": "ACCPAY",
	"ARCREDITPAYMENT": "ACCRECCREDIT",
	"APCREDITPAYMENT": "ACCPAYCREDIT",
}
# The ERPNext side of each: which doctype holds it, whether it is a return, and the entry's direction.
ENTRY_KINDS = {
	"ACCREC": (SALES_INVOICE, False, "Receive"),
	"ACCPAY": (PURCHASE_INVOICE, False, "Pay"),
	"ACCRECCREDIT": (SALES_INVOICE, True, "Pay"),  # a refund paid out against a sales return
	"ACCPAYCREDIT": (PURCHASE_INVOICE, True, "Receive"),  # a refund received against a purchase return
}


@dataclass(frozen=True)
class PaidInXero:
	"""A payment as GET /Payments lists it (kept as JSON on its log row)."""

	payment_id: str
	status: str  # AUTHORISED or DELETED
	payment_type: str
	amount: Decimal  # in the document's currency
	date: date | None
	currency_rate: Decimal | None  # Xero's direction: document currency units per base unit
	account_id: str
	account_code: str
	reference: str
	target_id: str | None  # InvoiceID or CreditNoteID; None for an overpayment or prepayment
	target_type: str | None  # ACCREC, ACCPAY, ACCRECCREDIT or ACCPAYCREDIT
	target_number: str = ""
	currency: str = ""
	bank_amount: Decimal | None = None

	@property
	def is_live(self) -> bool:
		return self.status != "DELETED"

	def to_json(self) -> str:
		"""As kept in the row's response (money and dates as text; `of` reads it back)."""
		return json.dumps(asdict(self), sort_keys=True, default=str)

	@classmethod
	def of(cls, value: dict) -> PaidInXero:
		def opt(key: str) -> Decimal | None:
			return None if value.get(key) in (None, "") else Decimal(str(value[key]))

		return cls(
			payment_id=value["payment_id"],
			status=value.get("status") or "",
			payment_type=value.get("payment_type") or "",
			amount=Decimal(str(value.get("amount") or 0)),
			date=date.fromisoformat(value["date"]) if value.get("date") else None,
			currency_rate=opt("currency_rate"),
			account_id=value.get("account_id") or "",
			account_code=value.get("account_code") or "",
			reference=value.get("reference") or "",
			target_id=value.get("target_id") or None,
			target_type=value.get("target_type") or None,
			target_number=value.get("target_number") or "",
			currency=value.get("currency") or "",
			bank_amount=opt("bank_amount"),
		)

	def describe(self) -> str:
		on = self.target_number or self.target_id or "no document"
		return f"Xero payment of {shown(self.amount, self.currency)} on {on}"


@dataclass(frozen=True)
class Payable:
	"""The ERPNext invoice, bill or return that holds a Xero document's ID (read by SQL, see PAYABLE_SQL)."""

	doctype: str
	name: str
	company: str
	docstatus: int
	is_return: bool
	currency: str
	party_account_currency: str
	company_currency: str
	outstanding: Decimal  # in the party account's currency, negative on a return, as ERPNext keeps it


class Refused(Exception):
	"""A payment that cannot be recorded as it is: the row ends in `status` with the message."""

	def __init__(self, message: str, status: Status = Status.FAILED, error_class: ErrorClass | None = None):
		super().__init__(message)
		self.status = status
		self.error_class = error_class


# -- reading ERPNext ---------------------------------------------------------------------------------

ENTRIES_SQL = f"""
SELECT name, docstatus, xero_payment_id FROM {ENTRY_TABLE}
WHERE xero_payment_id IN %(ids)s ORDER BY docstatus
"""

PAYABLE_SQL = """
SELECT d.name, d.company, d.docstatus, d.is_return, d.currency, d.party_account_currency,
	d.outstanding_amount, d.xero_id, c.default_currency AS company_currency
FROM {table} d LEFT JOIN `tabCompany` c ON c.name = d.company
WHERE d.xero_id IN %(ids)s AND d.docstatus > 0
ORDER BY d.docstatus
"""

# A push still under way for a document of that number: its Xero ID is not on the invoice yet.
PUSH_PENDING_SQL = f"""
SELECT COUNT(*) AS n FROM {LOG_TABLE}
WHERE tenant_id = %(tenant_id)s AND status = 'Queued' AND xero_type = %(xero_type)s
	AND (reference_name = %(number)s OR xero_number = %(number)s)
"""

# Entries of payments deleted in Xero, still submitted here until their queued rows cancel them: until
# then ERPNext shows that much less outstanding on the document than Xero does.
UNDO_PENDING_SQL = f"""
SELECT DISTINCT e.name FROM {LOG_TABLE} l
JOIN {ENTRY_TABLE} e ON e.xero_payment_id = l.xero_id AND e.docstatus = 1
JOIN `tabPayment Entry Reference` r ON r.parent = e.name
WHERE l.tenant_id = %(tenant_id)s AND l.xero_type = '{PULLED}' AND l.status = 'Queued'
	AND l.cancel_requested = 1 AND l.name != %(row)s
	AND r.reference_doctype = %(doctype)s AND r.reference_name = %(name)s
"""

# Every Xero payment the poll found on these Xero documents (live or deleted), as its row holds it.
PAYMENTS_ON_SQL = f"""
SELECT response FROM {LOG_TABLE}
WHERE tenant_id = %(tenant_id)s AND xero_type = '{PULLED}' AND JSON_VALUE(response, '$.target_id') IN %(ids)s
"""

# A return against the document still on its way to Xero: ERPNext already counts its credit, Xero not yet.
RETURN_PENDING_SQL = f"""
SELECT COUNT(*) AS n FROM {LOG_TABLE} l JOIN {{table}} d ON d.name = l.reference_name
WHERE l.tenant_id = %(tenant_id)s AND l.status = 'Queued' AND d.return_against = %(name)s
"""

PUSHED_REFERENCES_SQL = f"""
SELECT COALESCE(reference_name, deleted_reference) AS ref FROM {LOG_TABLE}
WHERE xero_type = '{PAYMENT}' AND (reference_name IN %(refs)s OR deleted_reference IN %(refs)s)
"""


def entries_by_payment(db: SqlDb, payment_ids: Sequence[str]) -> dict[str, tuple[str, int]]:
	"""PaymentID -> (Payment Entry, docstatus) of the entries carrying it; a submitted one wins."""
	ids = tuple(dict.fromkeys(i for i in payment_ids if i))
	if not ids:
		return {}
	out: dict[str, tuple[str, int]] = {}
	for r in db.query(ENTRIES_SQL, {"ids": ids}):
		if r["docstatus"] == 1 or r["xero_payment_id"] not in out:
			out[r["xero_payment_id"]] = (r["name"], int(r["docstatus"]))
	return out


def payables(db: SqlDb, xero_ids: Sequence[str]) -> dict[str, Payable]:
	"""Xero document ID -> the submitted (else cancelled) ERPNext document holding it."""
	ids = tuple(dict.fromkeys(i for i in xero_ids if i))
	out: dict[str, Payable] = {}
	if not ids:
		return out
	for doctype in (SALES_INVOICE, PURCHASE_INVOICE):
		for r in db.query(PAYABLE_SQL.format(table=f"`tab{doctype}`"), {"ids": ids}):
			if r["docstatus"] == 1 or r["xero_id"] not in out:
				currency = r["currency"] or r["company_currency"] or ""
				out[r["xero_id"]] = Payable(
					doctype=doctype,
					name=r["name"],
					company=r["company"],
					docstatus=int(r["docstatus"]),
					is_return=bool(r["is_return"]),
					currency=currency,
					party_account_currency=r["party_account_currency"] or currency,
					company_currency=r["company_currency"] or currency,
					outstanding=dec(r["outstanding_amount"] or 0),
				)
	return out


# -- planning ---------------------------------------------------------------------------------------


def plan_entry(paid: PaidInXero, payable: Payable, config: SyncConfig) -> EntryPlan:
	"""The Payment Entry for a live payment on a document ERPNext holds; raises Refused with what to do."""
	doctype, is_return, payment_type = ENTRY_KINDS[paid.target_type]
	doc = payable.name
	if payable.docstatus != 1:
		raise Refused(
			f"{doc} is cancelled in ERPNext, but Xero has a payment of {shown(paid.amount, paid.currency)} on it. "
			"Delete the payment "
			"in Xero (or void the document there); this row then closes by itself.",
			error_class=ErrorClass.CONFLICT,
		)
	if (doctype, is_return) != (payable.doctype, payable.is_return):
		raise Refused(
			f"The Xero document this payment is on belongs to {payable.doctype} {doc}, which does not match "
			f"a {paid.target_type} payment. Check the payment in Xero.",
			error_class=ErrorClass.CONFLICT,
		)
	if not paid.date:
		raise Refused(f"Xero gave no date for {paid.describe()}.", error_class=ErrorClass.VALIDATION)
	amount = money(paid.amount)
	if amount <= ZERO:
		raise Refused(f"{paid.describe()} has no amount.", error_class=ErrorClass.VALIDATION)
	accounts = config.erp_bank_accounts(payable.company, {paid.account_id, paid.account_code} - {""})
	label = paid.account_code or paid.account_id
	if not accounts:
		raise Refused(
			f"Xero bank account {label} is not mapped to an ERPNext bank or cash account of "
			f"{payable.company}. Map it under Xero Sync Settings > Bank Accounts, then press Retry.",
			error_class=ErrorClass.MAPPING,
		)
	if len(accounts) > 1:
		raise Refused(
			f"Xero bank account {label} is mapped to several ERPNext accounts ({', '.join(accounts)}). Keep "
			"one mapping for it in Xero Sync Settings > Bank Accounts, then press Retry.",
			error_class=ErrorClass.MAPPING,
		)
	rate, base = _rates(paid, amount, payable)
	# ERPNext allocates in the party account's currency: the document's, or the company's when the party
	# account is kept in company currency.
	in_party = amount if payable.party_account_currency == payable.currency else base
	open_amount = -payable.outstanding if is_return else payable.outstanding
	if in_party > money(open_amount):
		raise Refused(
			f"Xero recorded {shown(amount, paid.currency or payable.currency)} against {doc}, but ERPNext has only "
			f"{shown(open_amount)} outstanding on it (was it also paid here?). Cancel the extra Payment Entry "
			"in ERPNext or delete the payment in Xero, then press Retry.",
			error_class=ErrorClass.CONFLICT,
		)
	return EntryPlan(
		payment_id=paid.payment_id,
		company=payable.company,
		payment_type=payment_type,
		against_doctype=payable.doctype,
		against_name=doc,
		allocated=-in_party if is_return else in_party,
		posting_date=paid.date,
		bank_account=accounts[0],
		mode_of_payment=config.mode_of_payment_map.get((payable.company, accounts[0])) or None,
		exchange_rate=rate if payable.party_account_currency != payable.company_currency else Decimal(1),
		base_amount=base,
		reference_no=(paid.reference or paid.payment_id)[:140],
	)


def _rates(paid: PaidInXero, amount: Decimal, payable: Payable) -> tuple[Decimal, Decimal]:
	"""(company currency per document currency unit, the amount in company currency)."""
	if payable.currency == payable.company_currency:
		return Decimal(1), amount
	if paid.currency_rate and paid.currency_rate > ZERO:
		return (Decimal(1) / paid.currency_rate).quantize(RATE_PLACES), money(amount / paid.currency_rate)
	if paid.bank_amount and paid.bank_amount > ZERO:
		return (paid.bank_amount / amount).quantize(RATE_PLACES), money(paid.bank_amount)
	raise Refused(
		f"Xero gave no currency rate for {paid.describe()}, so its value in {payable.company_currency} is "
		"unknown. Check the payment in Xero, then press Retry.",
		error_class=ErrorClass.VALIDATION,
	)


# -- discovery (the status poll) ---------------------------------------------------------------------

ROWS_SQL = f"""
SELECT name, status, xero_id, xero_status, cancel_requested FROM {LOG_TABLE}
WHERE tenant_id = %(tenant_id)s AND xero_type = '{PULLED}' AND xero_id IN %(ids)s
"""


def check_ledgers(paid: PaidInXero, payable: Payable, xero_due: Decimal | None, unrecorded: Decimal) -> None:
	"""Refuse (Conflict) a payment that ERPNext's own entries already cover.

	Before it is recorded, ERPNext's outstanding must be what Xero has due plus the Xero payments on the
	document that ERPNext has not recorded yet (this one included). Less means ERPNext counts money Xero
	does not: a Payment Entry made here by hand for a payment Xero also holds would be counted twice. More
	means Xero knows of payments or credits not copied yet (a later poll brings them): no double count.
	Not checked when Xero's figure is unknown or kept in another currency than ERPNext's outstanding."""
	if xero_due is None or payable.party_account_currency != payable.currency:
		return
	_, is_return, _ = ENTRY_KINDS[paid.target_type]
	open_here = money(-payable.outstanding if is_return else payable.outstanding)
	expected = money(xero_due + unrecorded)
	if open_here >= expected:
		return
	currency = paid.currency or payable.currency
	raise Refused(
		f"ERPNext already shows {shown(expected - open_here, currency)} more paid on {payable.name} than Xero: "
		f"Xero has {money(xero_due)} due, and with the Xero payments not yet copied here ({money(unrecorded)}, "
		f"this {shown(paid.amount)} included) ERPNext should have {expected} outstanding, but it has {open_here}. "
		"A Payment "
		"Entry made in ERPNext by hand for money Xero also recorded would be counted twice, so this payment was "
		"not recorded. If a hand-made entry is this same payment, cancel it and press Retry; if both are real, "
		"record the hand-made one in Xero too (Xero owns this company's payments), then press Retry.",
		error_class=ErrorClass.CONFLICT,
	)


class PaymentReader(Protocol):
	def payments_since(self, tenant_id: str, since: datetime | None) -> list[PaidInXero]:
		"""Every payment created or changed since `since` (UTC; all when None), deleted ones included."""


@dataclass
class Discovery:
	listed: int = 0
	queued: list[str] = field(default_factory=list)  # PaymentIDs given a row to record
	undone: list[str] = field(default_factory=list)  # PaymentIDs whose row was flagged to undo its entry


def row_name(payment_id: str) -> str:
	"""A payment's row is named after it: a listing seen twice inserts nothing the second time."""
	return f"XP-{payment_id}"


def discover(
	db: SqlDb, tenant_id: str, listed: Sequence[PaidInXero], *, config: SyncConfig, now: datetime
) -> Discovery:
	"""Queue the payments Xero listed that ERPNext should record or undo. Does not commit (the poll does,
	with its watermark)."""
	found = Discovery(listed=len(listed))
	if not listed:
		return found
	ids = tuple(dict.fromkeys(p.payment_id for p in listed))
	rows = {r["xero_id"]: r for r in db.query(ROWS_SQL, {"tenant_id": tenant_id, "ids": ids})}
	entries = entries_by_payment(db, ids)
	pushed = _pushed_references(db, [p.reference for p in listed])
	# The row belongs to the company of the document the payment is on (an organisation may be shared by
	# companies); one on a document ERPNext does not hold goes to the organisation's first pulling company.
	companies = {
		t.company for t in config.tenants if t.tenant_id == tenant_id and config.pulls_payments(t.company)
	}
	fallback = sorted(companies)[0] if companies else ""
	owners = {x: p.company for x, p in payables(db, [p.target_id for p in listed if p.target_id]).items()}
	for paid in listed:
		if paid.reference in pushed:
			continue  # ERPNext's own payment, pushed from a Payment Entry: never taken back
		response = paid.to_json()
		row = rows.get(paid.payment_id)
		entry = entries.get(paid.payment_id)
		if row is not None:
			if not paid.is_live and row["xero_status"] != "DELETED":
				flag_payment_deleted(db, row["name"], response, now)
				found.undone.append(paid.payment_id)
			continue
		if paid.is_live and entry is None:
			reference, cancel = None, 0
		elif not paid.is_live and entry is not None and entry[1] == 1:
			reference, cancel = entry[0], 1  # its row was cleared; its entry still stands
		else:
			continue  # recorded already, or deleted before anything was recorded
		insert_pulled_row(
			db,
			{
				"name": row_name(paid.payment_id),
				"now": now,
				"title": (f"{paid.describe()} to record" if cancel == 0 else f"{paid.describe()} deleted")[
					:140
				],
				"reference_name": reference,
				"company": owners.get(paid.target_id or "", fallback),
				"tenant_id": tenant_id,
				"xero_id": paid.payment_id,
				"xero_status": paid.status,
				"cancel_requested": cancel,
				"response": response,
			},
		)
		(found.undone if cancel else found.queued).append(paid.payment_id)
	return found


FIRST_ROW_SQL = f"SELECT MIN(creation) AS first FROM {LOG_TABLE} WHERE tenant_id = %(tenant_id)s"
# The first payments poll of an organisation starts a day before its first log row (site time vs UTC):
# a payment on a document this connector sent cannot be older than the document's row.
FIRST_POLL_MARGIN = timedelta(days=1)


def poll_payments(
	tenant_id: str,
	*,
	reader: PaymentReader,
	db: SqlDb,
	watermarks,
	started: datetime,
	now: datetime,
	config: SyncConfig,
) -> Discovery:
	"""One organisation's payments poll: list what changed since its watermark, queue it, move the
	watermark (an aware UTC `started`, taken before the call, minus the status poll's overlap). A failing
	call raises before the watermark moves. Does not commit."""
	key = f"{tenant_id}:payments"
	since = watermarks.get(key)
	if since is None:
		first = db.query(FIRST_ROW_SQL, {"tenant_id": tenant_id})[0]["first"]
		since = (first.replace(tzinfo=timezone.utc) if first else started) - FIRST_POLL_MARGIN
	found = discover(db, tenant_id, reader.payments_since(tenant_id, since), config=config, now=now)
	watermarks.put(key, started - OVERLAP)
	return found


def _pushed_references(db: SqlDb, references: Sequence[str]) -> set[str]:
	refs = tuple(dict.fromkeys(r for r in references if r))
	if not refs:
		return set()
	return {r["ref"] for r in db.query(PUSHED_REFERENCES_SQL, {"refs": refs})}


def retake_untracked(db: SqlDb, tenant_id: str, xero_ids: Sequence[str], now: datetime) -> int:
	"""Queue again the skipped payments on these Xero documents, just adopted. Does not commit."""
	ids = tuple(dict.fromkeys(i for i in xero_ids if i))
	if not ids:
		return 0
	return retake_untracked_payments(db, tenant_id, ids, now)


def flag_deleted(db: SqlDb, name: str, paid: PaidInXero, now: datetime) -> int:
	"""Flag one payment row to undo what it recorded (the poll's statement, also for the state tests)."""
	return flag_payment_deleted(db, name, paid.to_json(), now)
