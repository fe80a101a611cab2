"""sync.ports.XeroGateway over xero-python's AccountingApi: the façade the rest of the app uses.

Each Xero resource has its own module over the shared plumbing (plumbing.py: one call, paging, URL-sized
batches, request bodies): documents.py (invoices, bills, credit notes), contacts.py, payments.py. This class
only routes the port's methods to them and reads the organisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from xero_python.accounting import AccountingApi

from ..sync.model import ContactRecord, ContactRequest, ElementResult, Kind, XeroRecord
from ..sync.ports import XeroGateway
from ..sync.preflight import OrgInfo
from .contacts import SdkContacts
from .documents import SdkDocuments
from .errors import explain
from .manual_journals import SdkManualJournals
from .payments import SdkPayments
from .plumbing import SdkCalls, enum_value


class SdkGateway(XeroGateway):
	"""Calls one Xero organisation per call through an AccountingApi built by xero.client."""

	def __init__(
		self,
		api: AccountingApi,
		*,
		unitdp: int = 4,
		page_size: int = 100,
		max_batch: int = 50,
		max_url: int = 1800,
		scan_page_size: int = 1000,
	):
		self.sdk = SdkCalls(
			api,
			unitdp=unitdp,
			page_size=page_size,
			max_batch=max_batch,
			max_url=max_url,
			scan_page_size=scan_page_size,
		)
		self.documents = SdkDocuments(self.sdk)
		self.contacts = SdkContacts(self.sdk)
		# The Payments endpoint, for the payment kinds (sync.ports.PaymentGateway and PaymentReader).
		self.payments = SdkPayments(self.sdk)
		# The ManualJournals endpoint, for the Journal Entry kind (sync.ports.ManualJournalGateway).
		self.manual_journals = SdkManualJournals(self.sdk)

	@property
	def api(self) -> AccountingApi:
		return self.sdk.api

	def explain(self, messages: Sequence[str], *, document: str) -> str:
		"""Xero's validation texts as actions for an accountant (the errors catalogue)."""
		return explain(messages, document=document)

	# --- documents ------------------------------------------------------------------------------------

	def wire_sizes(self, kind: Kind, bodies: Sequence[dict]) -> list[int]:
		return self.documents.wire_sizes(kind, bodies)

	def find_documents(
		self, tenant_id: str, kind: Kind, numbers: Sequence[str], contact_ids: Sequence[str] = ()
	) -> list[XeroRecord]:
		return self.documents.find_documents(tenant_id, kind, numbers, contact_ids)

	def removed_since(self, tenant_id: str, since: datetime) -> list[XeroRecord]:
		return self.documents.removed_since(tenant_id, since)

	def live_since(self, tenant_id: str, since: datetime) -> list[XeroRecord]:
		return self.documents.live_since(tenant_id, since)

	def modified_since(
		self,
		tenant_id: str,
		since: datetime | None,
		statuses: Sequence[str],
		*,
		summary_only: bool = False,
		credit_notes: bool = True,
	) -> list[XeroRecord]:
		return self.documents.modified_since(
			tenant_id, since, statuses, summary_only=summary_only, credit_notes=credit_notes
		)

	def documents_dated(self, tenant_id: str, date_from: date, date_to: date) -> list[XeroRecord]:
		return self.documents.documents_dated(tenant_id, date_from, date_to)

	def get_documents(self, tenant_id: str, kind: Kind, xero_ids: Sequence[str]) -> list[XeroRecord]:
		return self.documents.get_documents(tenant_id, kind, xero_ids)

	def created_by_app(self, tenant_id: str, kind: Kind, xero_ids: Sequence[str]) -> set[str]:
		return self.documents.created_by_app(tenant_id, kind, xero_ids)

	def create_documents(
		self,
		tenant_id: str,
		kind: Kind,
		bodies: Sequence[dict],
		idempotency_key: str,
		send_by: float | None = None,
	) -> list[ElementResult]:
		return self.documents.create_documents(tenant_id, kind, bodies, idempotency_key, send_by)

	def set_statuses(
		self, tenant_id: str, kind: Kind, changes: Sequence[tuple[str, str]], idempotency_key: str
	) -> list[ElementResult]:
		return self.documents.set_statuses(tenant_id, kind, changes, idempotency_key)

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
		return self.documents.allocate_credit(
			tenant_id, kind, credit_note_id, invoice_id, amount, on, idempotency_key
		)

	def delete_allocation(self, tenant_id: str, kind: Kind, credit_note_id: str, allocation_id: str) -> None:
		self.documents.delete_allocation(tenant_id, kind, credit_note_id, allocation_id)

	# --- contacts -------------------------------------------------------------------------------------

	def find_contacts(self, tenant_id: str, contact_numbers: Sequence[str]) -> list[ContactRecord]:
		return self.contacts.find_contacts(tenant_id, contact_numbers)

	def find_contacts_by_name(self, tenant_id: str, names: Sequence[str]) -> list[ContactRecord]:
		return self.contacts.find_contacts_by_name(tenant_id, names)

	def create_contacts(
		self, tenant_id: str, contacts: Sequence[ContactRequest], idempotency_key: str
	) -> list[ContactRecord | str]:
		return self.contacts.create_contacts(tenant_id, contacts, idempotency_key)

	def get_organisation(self, tenant_id: str) -> OrgInfo:
		"""What the pre-flight checks against: base currency, enabled currencies, lock dates (two GETs)."""
		(org,) = self.sdk.call(self.sdk.api.get_organisations, tenant_id).organisations[:1]
		currencies = self.sdk.call(self.sdk.api.get_currencies, tenant_id).currencies or []
		return OrgInfo(
			base_currency=enum_value(org.base_currency),
			currencies=frozenset(enum_value(c.code) for c in currencies if c.code),
			period_lock_date=org.period_lock_date,
			end_of_year_lock_date=org.end_of_year_lock_date,
			timezone=enum_value(org.timezone) if org.timezone else "",
		)
