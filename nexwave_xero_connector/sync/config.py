"""Settings the core reads, as plain data (loaded from Xero Sync Settings by the Frappe layer)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

SALES_INVOICE = "Sales Invoice"
PURCHASE_INVOICE = "Purchase Invoice"

# The three kinds of ERPNext tax template a tax mapping can name. ERPNext names a template "<title> - <abbr>"
# in each doctype separately, so a stock company has all three called e.g. "New Zealand - KTL".
ITEM_TAX_TEMPLATE = "Item Tax Template"
SALES_TAXES_TEMPLATE = "Sales Taxes and Charges Template"
PURCHASE_TAXES_TEMPLATE = "Purchase Taxes and Charges Template"
TEMPLATE_DOCTYPES = (SALES_TAXES_TEMPLATE, PURCHASE_TAXES_TEMPLATE, ITEM_TAX_TEMPLATE)


def taxes_template_doctype(doctype: str) -> str:
	"""The Taxes and Charges Template doctype an invoice's `taxes_and_charges` links to."""
	return SALES_TAXES_TEMPLATE if doctype == SALES_INVOICE else PURCHASE_TAXES_TEMPLATE


# Which system a company's payments are recorded in (Xero Tenant Map.payments_owned_by). ERPNext (the
# default): nothing read back from Xero ever becomes a Payment Entry. Xero: payments made there may become
# Payment Entries here, when that (separate, off by default) setting is on.
PAYMENTS_IN_ERPNEXT = "ERPNext"
PAYMENTS_IN_XERO = "Xero"
# The default: neither system's payments are copied to the other until the admin chooses an owner, so an
# upgrade never starts pushing (or pulling) payments on its own.
PAYMENTS_NOT_SYNCED = "Not synced"


@dataclass(frozen=True)
class TenantLink:
	company: str
	tenant_id: str
	tenant_name: str = ""
	short_code: str = ""
	# Documents posted before this day are never pushed automatically (a Backfill takes them, if wanted).
	go_live: datetime.date | None = None
	payments_owned_by: str = PAYMENTS_NOT_SYNCED
	# With payments owned by Xero: payments recorded there become submitted Payment Entries here (off by
	# default; sync/payments_from_xero.py).
	pull_payments: bool = False
	# Submitted Journal Entries become Manual Journals in Xero (off by default; sync/kinds/manual_journals.py).
	send_journal_entries: bool = False


@dataclass(frozen=True)
class SyncConfig:
	"""Everything a drain needs to decide and map, for all companies of the site."""

	enabled: bool = True
	posting_status: str = "AUTHORISED"  # or DRAFT
	sync_sales_invoices: bool = True
	sync_sales_returns: bool = True
	sync_purchase_invoices: bool = True
	sync_purchase_returns: bool = True
	void_on_cancel: bool = True
	batch_size: int = 50
	stuck_after_minutes: int = 30
	max_attempts: int = 8
	# How long a create request may still reach Xero after it was let out: the read timeout, plus the time
	# Xero may take to commit a request the client gave up on, rounded up past Xero's 6-minute
	# Idempotency-Key window. Until then a lookup miss proves nothing, so nothing is created again.
	in_flight_seconds: int = 420
	site_url: str = ""
	tenants: tuple[TenantLink, ...] = ()
	# (company, template doctype, template name) -> Xero TaxType; the doctype is one of TEMPLATE_DOCTYPES.
	tax_map: dict[tuple[str, str, str], str] = field(default_factory=dict)
	# (company, ERP account) -> Xero AccountCode
	account_map: dict[tuple[str, str], str] = field(default_factory=dict)
	# company -> Xero AccountCode for ERPNext's rounding_adjustment
	rounding_account: dict[str, str] = field(default_factory=dict)
	# (company, cost center) -> (Xero tracking category name, option name)
	tracking_map: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
	# (company, Xero TaxType) -> the rate in percent Xero applies (its /TaxRates EffectiveRate, or the rate
	# the user typed next to the mapping). Lets the mapper check that a mapping taxes a line the way
	# ERPNext did; a TaxType missing here gets the rate ERPNext applied on the lines mapped to it.
	tax_rates: dict[tuple[str, str], Decimal] = field(default_factory=dict)
	# company -> Xero TaxType for amounts ERPNext charges no tax on: rounding adjustments and untaxed
	# "Actual" charges such as freight (NONE in New Zealand, BASEXCLUDED in Australia).
	no_tax_type: dict[str, str] = field(default_factory=dict)
	# (company, ERP bank/cash account) -> Xero bank account (AccountID, or Code): where payments go.
	bank_account_map: dict[tuple[str, str], str] = field(default_factory=dict)
	# (company, ERP bank/cash account) -> Mode of Payment for Payment Entries made from Xero's payments.
	mode_of_payment_map: dict[tuple[str, str], str] = field(default_factory=dict)

	def pushes_payments(self, company: str) -> bool:
		"""Whether this company's Payment Entries go to Xero as payments: ERPNext owns its payments."""
		return self.enabled and self.payments_owner(company) == PAYMENTS_IN_ERPNEXT

	def pulls_payments(self, company: str) -> bool:
		"""Whether payments made in Xero become Payment Entries of this company: Xero owns its payments and
		the company's binding asks for them (never both directions for one company)."""
		link = next((t for t in self.tenants if t.company == company), None)
		return (
			self.enabled
			and self.payments_owner(company) == PAYMENTS_IN_XERO
			and bool(link and link.pull_payments)
		)

	def tenant_pulls_payments(self, tenant_id: str) -> bool:
		"""Whether any company bound to this organisation takes Xero's payments as Payment Entries."""
		return any(t.tenant_id == tenant_id and self.pulls_payments(t.company) for t in self.tenants)

	def erp_bank_accounts(self, company: str, xero_account: set[str]) -> list[str]:
		"""The company's ERP bank/cash accounts mapped to this Xero bank account (its AccountID or Code)."""
		return sorted(
			account
			for (co, account), mapped in self.bank_account_map.items()
			if co == company and mapped in xero_account
		)

	def tax_type_for(self, company: str, template_doctype: str, template: str | None) -> str | None:
		"""The Xero TaxType mapped to this template of this doctype, or None when it is not mapped."""
		if not template:
			return None
		return self.tax_map.get((company, template_doctype, template)) or None

	def payments_owner(self, company: str) -> str:
		"""Which system owns this company's payments (PAYMENTS_NOT_SYNCED unless its binding says)."""
		link = next((t for t in self.tenants if t.company == company), None)
		owner = link.payments_owned_by if link else None
		return owner if owner in (PAYMENTS_IN_ERPNEXT, PAYMENTS_IN_XERO) else PAYMENTS_NOT_SYNCED

	def sends_journal_entries(self, company: str) -> bool:
		"""Whether this company's submitted Journal Entries go to Xero as Manual Journals (opted in on its
		binding; off by default)."""
		link = next((t for t in self.tenants if t.company == company), None)
		return self.enabled and bool(link and link.tenant_id and link.send_journal_entries)

	def tenant_for(self, company: str) -> str | None:
		"""Return the Xero tenant bound to `company`, or None when it has none."""
		return next((t.tenant_id for t in self.tenants if t.company == company and t.tenant_id), None)

	def go_live_for(self, company: str) -> datetime.date | None:
		"""The company's go-live date, or None when every posting date is pushed."""
		return next((t.go_live for t in self.tenants if t.company == company and t.go_live), None)

	def before_go_live(self, company: str, posting_date: datetime.date | str | None) -> bool:
		"""Whether a document of `company` posted on `posting_date` is older than the company's go-live date."""
		go_live = self.go_live_for(company)
		if go_live is None or not posting_date:
			return False
		if isinstance(posting_date, str):
			posting_date = datetime.date.fromisoformat(posting_date[:10])
		elif isinstance(posting_date, datetime.datetime):
			posting_date = posting_date.date()
		return posting_date < go_live

	def in_scope(self, doctype: str, is_return: bool) -> bool:
		"""Whether a submitted document of this kind is pushed at all."""
		if not self.enabled:
			return False
		if doctype == SALES_INVOICE:
			return self.sync_sales_returns if is_return else self.sync_sales_invoices
		if doctype == PURCHASE_INVOICE:
			return self.sync_purchase_returns if is_return else self.sync_purchase_invoices
		return False
