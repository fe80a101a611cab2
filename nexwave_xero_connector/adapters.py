"""The core's ports implemented with Frappe: the journal's database, ERP reads, masters and settings.

Nothing here talks HTTP (that is xero/), builds clients (that is wiring.py) or decides how to sync (that
is sync/).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from contextlib import contextmanager
from decimal import Decimal

import frappe
from frappe import _
from frappe.utils import cint, flt, get_url, getdate, strip_html

from nexwave_xero_connector.constants import (
	CUSTOMER_DOCTYPE,
	PAYMENT_ENTRY_DOCTYPE,
	PURCHASE_INVOICE_DOCTYPE,
	SETTINGS_DOCTYPE,
	XERO_CONTACT_ID_FIELD,
	XERO_CONTACT_MAP_FIELD,
	XERO_ID_FIELD,
	XERO_PAYMENT_ID_FIELD,
)
from nexwave_xero_connector.sync.config import PAYMENTS_NOT_SYNCED, SyncConfig, TenantLink
from nexwave_xero_connector.sync.model import ContactRequest, EntryPlan, EntryRefused
from nexwave_xero_connector.sync.payment_mapping import Target


class FrappeDb:
	"""The journal's SqlDb over `frappe.db` (the job's own connection and transaction)."""

	def query(self, sql: str, params: dict) -> list[dict]:
		"""Run a SELECT and return rows as dicts."""
		return list(frappe.db.sql(sql, params, as_dict=True))

	def execute(self, sql: str, params: dict) -> int:
		"""Run a write and return the number of rows it changed."""
		frappe.db.sql(sql, params)
		# frappe.db.sql returns () for an UPDATE and 15.92 has no public row count (15.92 facts §3), so
		# the count is read from the cursor straight after the statement, before any other query runs.
		# It counts rows *changed* (no CLIENT.FOUND_ROWS), which is what the journal's compare-and-set needs.
		return frappe.db._cursor.rowcount

	def commit(self, reason: str) -> None:
		"""Commit; `reason` names the commit point.

		The app never calls frappe.db.commit() anywhere else. Callers: the journal (sync/journal.py) and
		the token keeper (xero/tokens.py) in workers; the bench commands and the OAuth callback, which are
		not requests Frappe commits for them."""
		frappe.db.commit()

	def rollback(self) -> None:
		"""Undo the journal's transaction before it is re-run (after a deadlock)."""
		frappe.db.rollback()

	def is_lock_conflict(self, exc: Exception) -> bool:
		"""frappe.db.sql turns MariaDB's deadlock (1213) and lock-wait timeout (1205) into these."""
		return isinstance(exc, frappe.QueryDeadlockError | frappe.QueryTimeoutError)


class FrappeErp:
	"""ErpSource: ERPNext documents and parties as plain data."""

	def load(self, doctype: str, name: str) -> dict:
		"""Return the document with its children; LookupError when it no longer exists."""
		try:
			return frappe.get_doc(doctype, name).as_dict()
		except frappe.DoesNotExistError as exc:
			raise LookupError(f"{doctype} {name} does not exist") from exc

	def docstatuses(self, refs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
		"""Return the docstatus of each (doctype, name), one query per doctype.

		The journal commits right before the engine asks, so this read opens a fresh snapshot and sees
		every cancel committed until now; a cancel still in flight is caught by the journal's FINISH_SQL.
		"""
		by_doctype: dict[str, list[str]] = {}
		for doctype, name in refs:
			by_doctype.setdefault(doctype, []).append(name)
		statuses = {}
		for doctype, names in by_doctype.items():
			rows = frappe.get_all(doctype, filters={"name": ("in", names)}, fields=["name", "docstatus"])
			statuses.update({(doctype, r.name): cint(r.docstatus) for r in rows})
		return statuses

	def contact_id(self, party_type: str, party: str, tenant_id: str) -> str | None:
		"""Return the Xero contact ID cached on the party for this organisation."""
		return _contact_map(party_type, party).get(tenant_id) or None

	def set_contact_id(self, party_type: str, party: str, tenant_id: str, contact_id: str) -> None:
		"""Cache the party's Xero contact ID for this organisation, without touching `modified`."""
		contacts = _contact_map(party_type, party)
		contacts[tenant_id] = contact_id
		frappe.db.set_value(
			party_type,
			party,
			{XERO_CONTACT_MAP_FIELD: json.dumps(contacts, sort_keys=True), XERO_CONTACT_ID_FIELD: contact_id},
			update_modified=False,
		)

	def contact_request(self, party_type: str, party: str) -> ContactRequest:
		"""Describe the Customer/Supplier for creating its Xero contact."""
		name_field = "customer_name" if party_type == CUSTOMER_DOCTYPE else "supplier_name"
		values = frappe.db.get_value(party_type, party, [name_field, "email_id", "tax_id"], as_dict=True)
		if not values:
			raise LookupError(f"{party_type} {party} does not exist")
		return ContactRequest(
			party_type=party_type,
			party=party,
			name=values.get(name_field) or party,
			email=values.email_id or None,
			tax_number=values.tax_id or None,
		)

	def xero_id_of(self, doctype: str, name: str) -> str | None:
		"""Return the Xero ID stored on another invoice (e.g. the one a return is against)."""
		return frappe.db.get_value(doctype, name, XERO_ID_FIELD) or None

	def payment_targets(self, refs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Target]:
		"""The invoices a Payment Entry references: Xero ID, kind, currency and Xero number, one query per
		doctype (sync.payments.PaymentSource)."""
		by_doctype: dict[str, list[str]] = {}
		for doctype, name in refs:
			by_doctype.setdefault(doctype, []).append(name)
		targets = {}
		for doctype, names in by_doctype.items():
			fields = ["name", "docstatus", "is_return", "currency", XERO_ID_FIELD]
			if doctype == PURCHASE_INVOICE_DOCTYPE:
				fields.append("bill_no")
			for r in frappe.get_all(doctype, filters={"name": ("in", names)}, fields=fields):
				targets[(doctype, r.name)] = Target(
					doctype=doctype,
					name=r.name,
					xero_id=r.get(XERO_ID_FIELD) or None,
					is_return=bool(cint(r.is_return)),
					currency=r.currency,
					docstatus=cint(r.docstatus),
					number=(r.get("bill_no") or "").strip() or r.name,
				)
		return targets

	# -- EntryBook: Payment Entries made from payments recorded in Xero (sync/payment_pull.py) --------

	def create_entry(self, plan: EntryPlan) -> str:
		"""Build the Payment Entry with ERPNext's own get_payment_entry (party, accounts, references,
		exchange gain/loss as the Payment button would), set what Xero recorded, insert and submit it. Not
		committed: the journal commits it with the row's outcome, or rolls it back."""
		with _entry_change():
			pe = _entry_for(plan)
			pe.insert(ignore_permissions=True)
			pe.submit()
		return pe.name

	def cancel_entry(self, name: str) -> None:
		"""Cancel a submitted Payment Entry (ERPNext restores its invoices' outstanding). Not committed."""
		with _entry_change():
			pe = frappe.get_doc(PAYMENT_ENTRY_DOCTYPE, name)
			pe.flags.ignore_permissions = True
			pe.cancel()


ENTRY_SAVEPOINT = "xero_payment_entry"


@contextmanager
def _entry_change():
	"""One Payment Entry change in a savepoint: whatever it wrote is undone when it fails, and ERPNext's
	refusal (a ValidationError) comes out as EntryRefused with its message in plain text."""
	frappe.db.savepoint(ENTRY_SAVEPOINT)
	try:
		yield
	except Exception as exc:
		frappe.db.rollback(save_point=ENTRY_SAVEPOINT)
		if isinstance(exc, frappe.ValidationError):
			raise EntryRefused(_refusal(exc)) from None
		raise


def _entry_for(plan: EntryPlan):
	"""The unsaved Payment Entry for a Xero payment."""
	from erpnext.accounts.doctype.payment_entry.payment_entry import get_payment_entry
	from erpnext.accounts.utils import get_account_currency

	pe = get_payment_entry(
		plan.against_doctype,
		plan.against_name,
		party_amount=flt(plan.allocated),
		bank_account=plan.bank_account,
		reference_date=plan.posting_date,
		ignore_permissions=True,
	)
	company_currency = frappe.get_cached_value("Company", plan.company, "default_currency")
	bank_currency = get_account_currency(plan.bank_account)
	receive = pe.payment_type == "Receive"
	party_currency = pe.paid_from_account_currency if receive else pe.paid_to_account_currency
	if bank_currency not in (party_currency, company_currency):
		frappe.throw(
			_(
				"The bank account {0} is kept in {1}, but the payment is in {2} and the company's currency is "
				"{3}. Map the Xero bank account to an account in {2} or {3}."
			).format(plan.bank_account, bank_currency, party_currency, company_currency)
		)
	party_amount = abs(flt(plan.allocated))
	party_rate = flt(plan.exchange_rate)
	bank_amount = party_amount if bank_currency == party_currency else flt(plan.base_amount)
	bank_rate = party_rate if bank_currency == party_currency else 1
	pe.posting_date = plan.posting_date
	pe.reference_date = plan.posting_date
	pe.reference_no = plan.reference_no
	pe.mode_of_payment = plan.mode_of_payment
	pe.set(XERO_PAYMENT_ID_FIELD, plan.payment_id)
	if receive:
		pe.paid_to, pe.paid_to_account_currency = plan.bank_account, bank_currency
		pe.paid_amount, pe.source_exchange_rate = party_amount, party_rate
		pe.received_amount, pe.target_exchange_rate = bank_amount, bank_rate
	else:
		pe.paid_from, pe.paid_from_account_currency = plan.bank_account, bank_currency
		pe.received_amount, pe.target_exchange_rate = party_amount, party_rate
		pe.paid_amount, pe.source_exchange_rate = bank_amount, bank_rate
	# One reference, or one per payment term when the invoice's terms allocate by term: spread the amount
	# over them in order, as far as each is open.
	sign = -1 if flt(plan.allocated) < 0 else 1
	left = party_amount
	for ref in pe.references:
		take = min(abs(flt(ref.outstanding_amount)), left)
		ref.allocated_amount = sign * take
		left = flt(left - take, ref.precision("allocated_amount"))
	pe.set("references", [ref for ref in pe.references if flt(ref.allocated_amount)])
	pe.set_amounts()
	return pe


def _refusal(exc: Exception) -> str:
	"""ERPNext's message, as plain text, without leaving it in the job's message log."""
	frappe.clear_messages()
	return strip_html(str(exc)).strip() or type(exc).__name__


def _contact_map(party_type: str, party: str) -> dict[str, str]:
	"""Read the party's {tenant_id: contact_id} map (empty when none or unreadable)."""
	raw = frappe.db.get_value(party_type, party, XERO_CONTACT_MAP_FIELD)
	try:
		value = json.loads(raw) if raw else {}
	except ValueError:
		return {}
	return value if isinstance(value, dict) else {}


class FrappeMasters:
	"""MasterData with ERPNext's own lookups."""

	def item_tax_template(
		self,
		item_code: str,
		company: str,
		tax_category: str | None,
		posting_date: datetime.date,
		base_net_rate: Decimal,
	) -> str | None:
		"""ERPNext's choice of Item Tax Template for the item (item, then item group ancestors)."""
		from erpnext.stock.get_item_details import get_item_tax_template

		if not item_code:
			return None
		# Keys read by _get_item_tax_template (erpnext version-15): company (required), tax_category,
		# bill_date/posting_date/transaction_date (validity), base_net_rate (min/max net rate).
		args = {
			"item_code": item_code,
			"company": company,
			"tax_category": tax_category or "",
			"posting_date": posting_date,
			"transaction_date": posting_date,
			"base_net_rate": flt(base_net_rate),
		}
		return get_item_tax_template(args) or None

	def default_taxes_template(self, template_doctype: str, company: str) -> str | None:
		"""The company's enabled default Sales/Purchase Taxes and Charges Template."""
		return (
			frappe.db.get_value(
				template_doctype, {"company": company, "is_default": 1, "disabled": 0}, "name"
			)
			or None
		)


# ---- Xero Sync Settings ----------------------------------------------------------------------------
# Every read and write of the settings in the Frappe layer goes through these functions (called as
# `adapters.name(...)`), so the FrappeTestCases can hand the app settings of their own
# (tests/utils.SettingsUnderTest) and never read or write the site's.


def get_settings():
	"""Return Xero Sync Settings (cached; cleared by Frappe whenever the settings are saved)."""
	return frappe.get_cached_doc(SETTINGS_DOCTYPE)


def read_settings():
	"""Return Xero Sync Settings read afresh from the database (another worker may have changed them)."""
	return frappe.get_single(SETTINGS_DOCTYPE)


def save_settings(settings, *, ignore_permissions: bool = False) -> None:
	"""Validate and save the whole settings document."""
	settings.save(ignore_permissions=ignore_permissions)


def settings_saved() -> bool:
	"""Whether the settings were ever saved: until then no field is stored and reading them gives the
	DocType's defaults (a single field written before that would be all a read finds)."""
	return bool(
		frappe.db.sql(
			"SELECT 1 FROM `tabSingles` WHERE doctype = %(doctype)s LIMIT 1", {"doctype": SETTINGS_DOCTYPE}
		)
	)


def settings_values(*fields: str, lock: bool = False) -> frappe._dict:
	"""Some fields as stored now (never the cache), as text; `lock` holds a shared lock on them until the
	transaction ends, so a writer waits for it."""
	rows = frappe.db.sql(
		"SELECT field, value FROM `tabSingles` WHERE doctype = %(doctype)s AND field IN %(fields)s"
		+ (" LOCK IN SHARE MODE" if lock else ""),
		{"doctype": SETTINGS_DOCTYPE, "fields": fields},
		as_dict=True,
	)
	stored = {r.field: r.value for r in rows}
	return frappe._dict({field: stored.get(field) for field in fields})


def set_settings_values(values: dict) -> None:
	"""Write some fields without saving the whole Single (no validation, no version); `modified` moves,
	so a form opened before refuses to save over them."""
	frappe.db.set_single_value(SETTINGS_DOCTYPE, values)
	frappe.clear_document_cache(SETTINGS_DOCTYPE, SETTINGS_DOCTYPE)


def _tenant_link(r) -> TenantLink:
	"""A company -> organisation row of the settings as the core's TenantLink (go-live date included)."""
	return TenantLink(
		r.company,
		(r.tenant_id or "").strip(),
		r.tenant_name or "",
		r.short_code or "",
		getdate(r.go_live_date) if r.get("go_live_date") else None,
		r.get("payments_owned_by") or PAYMENTS_NOT_SYNCED,
		bool(cint(r.get("pull_payments"))),
		send_journal_entries=bool(cint(r.get("send_journal_entries"))),
	)


def scope_config() -> SyncConfig:
	"""Only what the submit and cancel hooks need (what is pushed, which organisation), from the cached
	settings: no mapping tables, no lookups, so a submit stays cheap."""
	s = get_settings()
	return SyncConfig(
		enabled=bool(cint(s.enabled)),
		sync_sales_invoices=bool(cint(s.sync_sales_invoices)),
		sync_sales_returns=bool(cint(s.sync_sales_returns)),
		sync_purchase_invoices=bool(cint(s.sync_purchase_invoices)),
		sync_purchase_returns=bool(cint(s.sync_purchase_returns)),
		tenants=tuple(_tenant_link(r) for r in s.tenants),
	)


def load_config() -> SyncConfig:
	"""Build the core's SyncConfig from Xero Sync Settings."""
	s = get_settings()
	# (company, account) of each bank account mapping row, with the row: where payments go or come from
	banks = [
		((r.company or _company_of("Account", r.account), r.account), r)
		for r in s.get("bank_account_mappings") or []
		if r.account
	]
	return SyncConfig(
		enabled=bool(cint(s.enabled)),
		posting_status=s.posting_status or "AUTHORISED",
		sync_sales_invoices=bool(cint(s.sync_sales_invoices)),
		sync_sales_returns=bool(cint(s.sync_sales_returns)),
		sync_purchase_invoices=bool(cint(s.sync_purchase_invoices)),
		sync_purchase_returns=bool(cint(s.sync_purchase_returns)),
		void_on_cancel=bool(cint(s.void_on_cancel)),
		batch_size=cint(s.batch_size) or 50,
		stuck_after_minutes=cint(s.stuck_after_minutes) or 30,
		max_attempts=cint(s.max_attempts) or 8,
		site_url=get_url(),
		tenants=tuple(_tenant_link(r) for r in s.tenants),
		tax_map={(r.company, r.template_type, r.tax_template): r.xero_tax_type for r in s.tax_mappings},
		account_map={
			(r.company or _company_of("Account", r.account), r.account): r.xero_account_code
			for r in s.account_mappings
		},
		rounding_account={r.company: r.rounding_account_code for r in s.tenants if r.rounding_account_code},
		# A Percent field cannot be blank (it reads 0), so 0 means "not given": the mapper then uses the
		# rate ERPNext applied, which for a zero-rated line is 0 anyway.
		tax_rates={
			(r.company, r.xero_tax_type): Decimal(str(r.tax_rate)) for r in s.tax_mappings if flt(r.tax_rate)
		},
		no_tax_type={r.company: r.no_tax_type for r in s.tenants if r.no_tax_type},
		bank_account_map={key: r.xero_bank_account.strip() for key, r in banks if r.xero_bank_account},
		mode_of_payment_map={key: r.mode_of_payment for key, r in banks if r.get("mode_of_payment")},
		tracking_map={
			(r.company or _company_of("Cost Center", r.cost_center), r.cost_center): (
				r.tracking_category,
				r.tracking_option,
			)
			for r in s.tracking_mappings
			if r.cost_center and r.tracking_category and r.tracking_option
		},
	)


def _company_of(doctype: str, name: str) -> str:
	"""The company an Account or Cost Center belongs to (for mapping rows that leave company blank)."""
	return frappe.get_cached_value(doctype, name, "company") or ""
