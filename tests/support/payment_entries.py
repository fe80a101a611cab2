"""HAND-BUILT Payment Entry dicts, NOT dumped from a bench.

Field names and meanings are ERPNext 15.92.1's (erpnext/accounts/doctype/payment_entry/payment_entry.json
and payment_entry_reference/payment_entry_reference.json, checked on /work/bench/apps/erpnext): a Receive
takes money from `paid_from` (the party account) into `paid_to` (the bank); a Pay the reverse; `references[]`
carry `reference_doctype`, `reference_name`, `allocated_amount` (party account currency; negative against a
return, whose outstanding is negative: see `allocate_amount_to_references`, which multiplies by -1) and
`exchange_rate` (the invoice's). The figures are chosen to match the invoice fixtures in
tests/fixtures/erpnext (Kiwi Test Ltd); they are not ERPNext's output, so golden tests built on them only
check our mapping, not ERPNext's arithmetic.
"""

from __future__ import annotations

from decimal import Decimal

COMPANY = "Kiwi Test Ltd"
BANK = "ASB Cheque - KTL"
BANK_USD = "ASB USD - KTL"
DEBTORS = "Debtors - KTL"
DEBTORS_USD = "Debtors USD - KTL"
CREDITORS = "Creditors - KTL"


def payment_entry(
	name: str,
	*,
	payment_type: str = "Receive",
	party_type: str = "Customer",
	party: str = "Tui Hardware Ltd",
	refs: list[tuple[str, str, str]] = (),
	posting_date: str = "2026-11-26",
	bank: str = BANK,
	party_account: str | None = None,
	currency: str = "NZD",
	bank_currency: str | None = None,
	party_rate: str = "1",
	unallocated: str = "0",
	other_refs: list[tuple[str, str, str]] = (),
) -> dict:
	"""A submitted Payment Entry as `as_dict()` shows it (the fields the connector reads, plus context).

	`refs`: (reference_doctype, reference_name, allocated_amount)."""
	party_account = party_account or (
		CREDITORS if party_type == "Supplier" else (DEBTORS_USD if currency == "USD" else DEBTORS)
	)
	bank_currency = bank_currency or currency
	allocated = sum((abs(Decimal(a)) for _, _, a in refs), Decimal(0))
	paid = allocated + Decimal(unallocated)
	receive = payment_type == "Receive"
	rows = [
		{
			"doctype": "Payment Entry Reference",
			"parent": name,
			"parentfield": "references",
			"parenttype": "Payment Entry",
			"idx": n,
			"reference_doctype": doctype,
			"reference_name": ref,
			"allocated_amount": float(amount),
			"total_amount": float(amount),
			"outstanding_amount": float(amount),
			"exchange_rate": float(party_rate),
			"account": party_account,
			"payment_type": payment_type,
		}
		for n, (doctype, ref, amount) in enumerate([*refs, *other_refs], start=1)
	]
	rate = float(party_rate)
	return {
		"doctype": "Payment Entry",
		"name": name,
		"naming_series": "ACC-PAY-.YYYY.-",
		"docstatus": 1,
		"payment_type": payment_type,
		"posting_date": posting_date,
		"company": COMPANY,
		"mode_of_payment": "Wire Transfer",
		"party_type": party_type,
		"party": party,
		"party_name": party,
		"paid_from": party_account if receive else bank,
		"paid_from_account_currency": currency if receive else bank_currency,
		"paid_to": bank if receive else party_account,
		"paid_to_account_currency": bank_currency if receive else currency,
		"paid_amount": float(paid),
		"received_amount": float(paid),
		"source_exchange_rate": rate if receive else 1.0,
		"target_exchange_rate": 1.0 if receive else rate,
		"base_paid_amount": float(paid * Decimal(party_rate)),
		"references": rows,
		"total_allocated_amount": float(allocated),
		"unallocated_amount": float(unallocated),
		"difference_amount": 0.0,
		"deductions": [],
		"reference_no": f"{name}-REF",
		"reference_date": posting_date,
		"status": "Submitted",
	}
