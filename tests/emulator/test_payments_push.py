"""What the payment push needs from the emulator's Payments, through the real SDK: a batched PUT whose
elements fail one by one (summarizeErrors=false), GET /Payments by Reference, and a reconciled payment
that refuses deletion."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from xero_python.accounting import Account, AccountingApi, Invoice, Invoices, Payment, Payments
from xero_python.exceptions import AccountingBadRequestException

from .test_emulator import NZ, emu, invoice, sdk_client  # noqa: F401

D = Decimal


@pytest.fixture
def api(emu):  # noqa: F811
	return AccountingApi(sdk_client(emu), base_url=emu.api_url)


def element(invoice_id: str, amount: str, reference: str, code: str = "090") -> Payment:
	return Payment(
		invoice=Invoice(invoice_id=invoice_id),
		account=Account(code=code),
		amount=D(amount),
		date=dt.date(2026, 11, 26),
		reference=reference,
	)


def test_a_batch_with_a_bad_element_saves_the_others_and_says_which(emu, api):  # noqa: F811
	a, b = api.create_invoices(
		NZ, Invoices(invoices=[invoice(emu.ids["tui"], "PP-1"), invoice(emu.ids["tui"], "PP-2")])
	).invoices
	answer = api.create_payments(
		NZ,
		Payments(
			payments=[
				element(a.invoice_id, "15.00", "PE-1"),
				element(b.invoice_id, "999.00", "PE-1"),  # more than is due
				element(b.invoice_id, "5.00", "PE-2", code="200"),  # not a bank account
			]
		),
		summarize_errors=False,
	).payments
	assert [p.status_attribute_string for p in answer] == ["OK", "ERROR", "ERROR"]
	assert "exceeds the amount outstanding" in answer[1].validation_errors[0].message
	assert "Account type is invalid" in answer[2].validation_errors[0].message
	assert api.get_invoice(NZ, a.invoice_id).invoices[0].amount_due == D("100.00")
	assert api.get_invoice(NZ, b.invoice_id).invoices[0].amount_due == D("115.00")


def test_payments_are_found_by_reference(emu, api):  # noqa: F811
	[a] = api.create_invoices(NZ, Invoices(invoices=[invoice(emu.ids["tui"], "PR-1")])).invoices
	api.create_payments(
		NZ,
		Payments(payments=[element(a.invoice_id, "10.00", "PE-7"), element(a.invoice_id, "1.00", "PE-8")]),
		summarize_errors=False,
	)
	found = api.get_payments(NZ, where='Reference=="PE-7" OR Reference=="PE-9"').payments
	assert [(p.reference, p.amount, p.invoice.invoice_id) for p in found] == [
		("PE-7", D("10.00"), a.invoice_id)
	]


def test_a_reconciled_payment_refuses_deletion(emu, api):  # noqa: F811
	[a] = api.create_invoices(NZ, Invoices(invoices=[invoice(emu.ids["tui"], "PX-1")])).invoices
	[made] = api.create_payments(NZ, Payments(payments=[element(a.invoice_id, "10.00", "PE-R")])).payments
	emu.reconcile_payment(NZ, made.payment_id)
	with pytest.raises(AccountingBadRequestException) as err:
		api.delete_payment(NZ, made.payment_id, {"Status": "DELETED"})
	assert "reconciled" in str(err.value.body)
	assert api.get_payment(NZ, made.payment_id).payments[0].status == "AUTHORISED"
	assert api.get_invoice(NZ, a.invoice_id).invoices[0].amount_paid == D("10.00")
