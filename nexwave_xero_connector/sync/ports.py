"""The small interfaces the core needs from the outside world.

The Frappe layer implements ErpSource, PaymentSource, EntryBook, MasterData and SqlDb with frappe.db
(journal.SqlJournal is the Journal over any SqlDb); tests implement them with plain MariaDB or in memory.
`xero.gateway.SdkGateway` implements XeroGateway over xero-python, and its `payments` PaymentGateway.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from .batching import Pending
from .manual_journal_mapping import ManualJournalRecord
from .model import (
	ContactRecord,
	ContactRequest,
	ElementResult,
	EntryPlan,
	Kind,
	Outcome,
	SyncRow,
	Write,
	XeroRecord,
)
from .payment_mapping import Target, XeroPayment


class SqlDb(Protocol):
	"""The three things the journal needs from a database connection."""

	def query(self, sql: str, params: dict) -> list[dict]:
		"""Run a SELECT and return rows as dicts."""

	def execute(self, sql: str, params: dict) -> int:
		"""Run a write and return the number of rows it changed."""

	def commit(self, reason: str) -> None:
		"""Make everything so far durable; `reason` says why this is a commit point."""

	def rollback(self) -> None:
		"""Undo the open transaction (the database already did, after a deadlock)."""

	def is_lock_conflict(self, exc: Exception) -> bool:
		"""Whether `exc` is a deadlock or lock-wait timeout, after which the transaction may be re-run."""


class PaymentSource(Protocol):
	"""What the payments-out kind reads from ERPNext besides the Payment Entry itself (an ErpSource also)."""

	def payment_targets(self, refs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Target]:
		"""The referenced invoices: Xero ID (stored on the invoice when it was Synced), is_return, currency."""


class PaymentGateway(Protocol):
	"""Xero's Payments endpoint (xero/payments.py). Whole-call failures raise XeroError."""

	def create_payments(
		self, tenant_id: str, bodies: Sequence[dict], idempotency_key: str
	) -> list[XeroPayment | tuple[str, ...]]:
		"""PUT /Payments (summarizeErrors=false): each result is the payment or Xero's messages, in order."""

	def find_payments(self, tenant_id: str, references: Sequence[str]) -> list[XeroPayment]:
		"""Every payment whose Reference is one of `references`, any status."""

	def delete_payment(
		self, tenant_id: str, payment_id: str, idempotency_key: str
	) -> XeroPayment | tuple[str, ...]:
		"""POST /Payments/{id} Status DELETED: the deleted payment, or Xero's refusal."""


class ManualJournalGateway(Protocol):
	"""Xero's ManualJournals endpoint (xero/manual_journals.py). Whole-call failures raise XeroError."""

	def create_journals(
		self, tenant_id: str, bodies: Sequence[dict], idempotency_key: str, send_by: float | None = None
	) -> list[ManualJournalRecord | tuple[str, ...]]:
		"""PUT /ManualJournals (summarizeErrors=false): each result is the journal or Xero's messages."""

	def wire_sizes(self, bodies: Sequence[dict]) -> list[int]:
		"""The bytes each journal takes in create_journals' request body (sync.batching)."""

	def set_statuses(
		self, tenant_id: str, changes: Sequence[tuple[str, str, str]], idempotency_key: str
	) -> list[ManualJournalRecord | tuple[str, ...]]:
		"""POST (journal ID, narration, status) changes such as VOIDED in one request, results in order."""

	def find_journals(
		self, tenant_id: str, urls: Sequence[str], dates: Sequence[date], since: datetime | None
	) -> list[ManualJournalRecord]:
		"""Every journal (any status) carrying one of `urls`, dated one of `dates`, changed since `since`."""

	def system_accounts(self, tenant_id: str) -> frozenset[str]:
		"""Codes of the organisation's system accounts, which take no manual journal line."""


class XeroGateway(Protocol):
	"""Calls to one Xero organisation (tenant). Raises sync.errors.XeroError for whole-call failures."""

	payments: PaymentGateway  # Xero's Payments endpoint, for the payment kinds
	manual_journals: ManualJournalGateway  # Xero's ManualJournals endpoint, for the Journal Entry kind

	def find_documents(
		self, tenant_id: str, kind: Kind, numbers: Sequence[str], contact_ids: Sequence[str] = ()
	) -> list[XeroRecord]:
		"""Return every document of `kind` whose number is in `numbers` (any status), in as few calls as possible."""

	def removed_since(self, tenant_id: str, since: datetime) -> list[XeroRecord]:
		"""Documents voided or deleted in Xero since `since` (UTC), whoever did it."""

	def live_since(self, tenant_id: str, since: datetime) -> list[XeroRecord]:
		"""Live documents (DRAFT, SUBMITTED, AUTHORISED, PAID) created or changed since `since` (UTC), with at
		least kind, ID, number, status and UpdatedDateUTC; read one by ID before acting on it."""

	def documents_dated(self, tenant_id: str, date_from: date, date_to: date) -> list[XeroRecord]:
		"""Every invoice, bill and credit note (any status) dated in [date_from, date_to], paged."""

	def modified_since(
		self,
		tenant_id: str,
		since: datetime | None,
		statuses: Sequence[str],
		*,
		summary_only: bool = False,
		credit_notes: bool = True,
	) -> list[XeroRecord]:
		"""Documents in one of `statuses` created or changed since `since` (all of them when None); with
		summary_only, invoice records may lack AmountPaid/AmountCredited/payments; without credit_notes,
		invoices and bills only (one listing)."""

	def get_documents(self, tenant_id: str, kind: Kind, xero_ids: Sequence[str]) -> list[XeroRecord]:
		"""Return the documents with these Xero IDs (missing ones are left out)."""

	def created_by_app(self, tenant_id: str, kind: Kind, xero_ids: Sequence[str]) -> set[str]:
		"""The IDs among these that Xero says this app created (invoices and bills; none for credit notes)."""

	def wire_sizes(self, kind: Kind, bodies: Sequence[dict]) -> list[int]:
		"""The bytes each body takes in create_documents' request, serialised as it is sent (for
		sync.batching: batches under Xero's 3.5 MB cap). A body Xero's format cannot express raises a
		MAPPING XeroError, as create_documents would."""

	def create_documents(
		self,
		tenant_id: str,
		kind: Kind,
		bodies: Sequence[dict],
		idempotency_key: str,
		send_by: float | None = None,
	) -> list[ElementResult]:
		"""Create documents of one endpoint in one request (PUT, summarizeErrors=false); results in input
		order. A request that has not left by `send_by` (time.monotonic()) is dropped, unsent."""

	def set_statuses(
		self, tenant_id: str, kind: Kind, changes: Sequence[tuple[str, str]], idempotency_key: str
	) -> list[ElementResult]:
		"""Apply (xero_id, new_status) changes such as VOIDED or DELETED in one request; results in input order."""

	def allocate_credit(
		self,
		tenant_id: str,
		kind: Kind,
		credit_note_id: str,
		invoice_id: str,
		amount: Decimal,
		on: date,
		idempotency_key: str,
	) -> ElementResult:
		"""Allocate part of a credit note to an invoice/bill."""

	def delete_allocation(self, tenant_id: str, kind: Kind, credit_note_id: str, allocation_id: str) -> None:
		"""Remove one allocation of a credit note (one already gone counts as removed)."""

	def get_organisation(self, tenant_id: str):
		"""The organisation's base currency, enabled currencies and lock dates (a preflight.OrgInfo)."""

	def explain(self, messages: Sequence[str], *, document: str) -> str:
		"""Turn Xero's validation texts into what the accountant should change (ends with 'Nothing was sent.')."""

	def find_contacts(self, tenant_id: str, contact_numbers: Sequence[str]) -> list[ContactRecord]:
		"""Return the contacts whose ContactNumber is one of `contact_numbers` (archived included)."""

	def find_contacts_by_name(self, tenant_id: str, names: Sequence[str]) -> list[ContactRecord]:
		"""Return the contacts whose Name is one of `names` (archived included)."""

	def create_contacts(
		self, tenant_id: str, contacts: Sequence[ContactRequest], idempotency_key: str
	) -> list[ContactRecord | str]:
		"""Create contacts in one request; each result is the record or Xero's error message, in input order."""


class UnitOfWork(Protocol):
	"""An ERP change and its row's outcome, committed together or not at all (a payment made in Xero and
	its Payment Entry are one fact). The caller makes the change in the open transaction (EntryBook, which
	commits nothing), then `commit` records the outcome and commits both; a refused write (lease lost, or a
	cancel or deletion committed meanwhile) rolls the change back with it. Never re-run after a deadlock:
	the database already undid the change, so the error goes up."""

	def commit(self, owner: str, row: SyncRow, outcome: Outcome, *, reference: str | None = None) -> Write:
		"""Record the outcome with the change made since the last commit; answers like Journal.finish."""


class Journal(Protocol):
	"""The Xero Sync Log table: the outbox, the leases and the outcomes.

	Every method is atomic and durable when it returns (the implementation decides where it commits), and
	every write after `claim` is fenced by `owner`: a worker that lost its lease changes nothing.
	"""

	# The connection the journal writes through. A kind reads its own statements through it (the payment
	# kinds: what ERPNext and other rows say about the documents paid); status writes stay in the journal.
	db: SqlDb

	def claim(self, tenant_id: str, owner: str, limit: int, lease_seconds: int) -> list[SyncRow]:
		"""Lease up to `limit` claimable Queued rows of the tenant to `owner` (one compare-and-set UPDATE)."""

	def renew(self, owner: str, names: Sequence[str], lease_seconds: int) -> set[str]:
		"""Extend the lease on `names`; return the names still held (an expired lease is never taken back)."""

	def mark_sending(self, owner: str, sends: dict[str, tuple[int, dict]], lease_seconds: int) -> set[str]:
		"""The gate before a create: commit the write-ahead marker, key generation and sent identity of the
		rows still ours and not cancelled, renewing their lease; return the names that may be sent now."""

	def unmark_sending(self, owner: str, names: Sequence[str]) -> None:
		"""The gated create provably never left: clear the marker so no lookup is paid for it."""

	def store_xero_ids(
		self, owner: str, records: dict[str, XeroRecord], answered: Sequence[str] = ()
	) -> None:
		"""Store each row's Xero ID/number/status at once (also on the ERP document); `answered` rows got
		Xero's answer to their create, so none of their requests is in flight any more."""

	def finish(self, owner: str, row: SyncRow, outcome: Outcome, *, reference: str | None = None) -> Write:
		"""Record the outcome and release the lease (and link the row to `reference`, when given).

		Returns Write.DONE, Write.CANCELLED when a Synced outcome met a cancel that committed meanwhile (the
		caller then undoes), or Write.LEASE_LOST when another worker owns the row (the caller drops it).
		"""

	def unit_of_work(self) -> UnitOfWork:
		"""A unit of work for an ERP change and the outcome of the row it is for."""

	def wake_waiting(self, tenant_id: str, xero_types: Sequence[str]) -> int:
		"""Make the organisation's rows of these xero_types that wait for their invoice claimable now
		(invoices were synced)."""

	def rows_holding(self, xero_ids: Sequence[str]) -> set[str]:
		"""Which of these Xero IDs a log row already holds."""

	def pending(self, tenant_id: str) -> Pending:
		"""The tenant's claimable rows before a claim: how many, whether one was tried, the oldest's age
		(in a fresh snapshot, so rows queued since the last look count)."""

	def tenants_with_work(self) -> list[str]:
		"""Tenants that have claimable rows now (used by the sweep to wake drains)."""

	def now(self) -> datetime:
		"""The site's clock, for display columns (leases and retries use the database's clock)."""


class EntryBook(Protocol):
	"""Payment Entries in ERPNext (the Frappe layer: ERPNext's get_payment_entry, insert, submit, cancel).
	Neither method commits (see UnitOfWork); each undoes its own partial writes before raising
	model.EntryRefused."""

	def create_entry(self, plan: EntryPlan) -> str:
		"""Create and submit the Payment Entry; return its name."""

	def cancel_entry(self, name: str) -> None:
		"""Cancel the submitted Payment Entry."""


class ErpSource(Protocol):
	"""Reads ERP documents as plain data."""

	def load(self, doctype: str, name: str) -> dict:
		"""Return the document as `as_dict()` gives it (children included)."""

	def docstatuses(self, refs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
		"""Return the committed docstatus of each (doctype, name)."""

	def contact_id(self, party_type: str, party: str, tenant_id: str) -> str | None:
		"""Return the Xero contact ID cached on the Customer/Supplier for this organisation."""

	def set_contact_id(self, party_type: str, party: str, tenant_id: str, contact_id: str) -> None:
		"""Cache the Xero contact ID on the Customer/Supplier (one per organisation)."""

	def contact_request(self, party_type: str, party: str) -> ContactRequest:
		"""Describe the party for creating its Xero contact (name_shared: another party has its name)."""

	def xero_id_of(self, doctype: str, name: str) -> str | None:
		"""Return the Xero ID stored for another document (e.g. the invoice a credit note is against)."""


class MasterData(Protocol):
	"""ERPNext master lookups the mapper needs (implemented with ERPNext's own functions in the Frappe layer)."""

	def item_tax_template(
		self,
		item_code: str,
		company: str,
		tax_category: str | None,
		posting_date: date,
		base_net_rate: Decimal,
	) -> str | None:
		"""ERPNext's choice of Item Tax Template for the item (get_item_tax_template), or None."""

	def default_taxes_template(self, template_doctype: str, company: str) -> str | None:
		"""The company's default Sales/Purchase Taxes and Charges Template, or None."""
