"""Payments in the emulator through the real SDK: create and delete on invoices, bills and credit notes,
the documents' amounts and status moved by them, and If-Modified-Since seeing the change."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from xero_python.accounting import (
	Account,
	AccountingApi,
	CreditNote,
	CreditNotes,
	Invoice,
	Invoices,
	Payment,
	Payments,
)
from xero_python.exceptions import AccountingBadRequestException

from .test_emulator import NZ, bill, credit_note, emu, invoice, sdk_client  # noqa: F401

D = Decimal


@pytest.fixture
def api(emu):  # noqa: F811
	return AccountingApi(sdk_client(emu), base_url=emu.api_url)


def pay(api, amount: str, *, invoice_id=None, credit_note_id=None, code="090", rate=None):
	element = Payment(
		account=Account(code=code), amount=D(amount), date=dt.date(2024, 3, 20), currency_rate=rate
	)
	if invoice_id:
		element.invoice = Invoice(invoice_id=invoice_id)
	else:
		element.credit_note = CreditNote(credit_note_id=credit_note_id)
	return api.create_payments(NZ, Payments(payments=[element])).payments[0]


def delete(api, payment_id: str):
	return api.delete_payment(NZ, payment_id, {"Status": "DELETED"}).payments[0]


def test_payments_move_an_invoice_to_paid_and_a_delete_moves_it_back(emu, api):  # noqa: F811
	[made] = api.create_invoices(NZ, Invoices(invoices=[invoice(emu.ids["tui"], "P-1")])).invoices
	first = pay(api, "15.00", invoice_id=made.invoice_id)
	part = api.get_invoice(NZ, made.invoice_id).invoices[0]
	assert (part.status, part.amount_paid, part.amount_due, part.fully_paid_on_date) == (
		"AUTHORISED",
		D("15.00"),
		D("100.00"),
		None,
	)
	assert first.payment_type == "ACCRECPAYMENT" and first.status == "AUTHORISED"
	pay(api, "100.00", invoice_id=made.invoice_id)
	paid = api.get_invoice(NZ, made.invoice_id).invoices[0]
	assert (paid.status, paid.amount_paid, paid.amount_due) == ("PAID", D("115.00"), D("0.00"))
	assert paid.fully_paid_on_date is not None
	assert len(paid.payments) == 2

	gone = delete(api, first.payment_id)
	assert gone.status == "DELETED"
	back = api.get_invoice(NZ, made.invoice_id).invoices[0]
	assert (back.status, back.amount_paid, back.amount_due, back.fully_paid_on_date) == (
		"AUTHORISED",
		D("100.00"),
		D("15.00"),
		None,
	)
	with pytest.raises(AccountingBadRequestException):
		delete(api, first.payment_id)


def test_bills_and_credit_note_refunds_are_paid_too(emu, api):  # noqa: F811
	[made] = api.create_invoices(NZ, Invoices(invoices=[bill(emu.ids["kea"], "B-1")])).invoices
	payment = pay(api, "57.50", invoice_id=made.invoice_id)
	assert payment.payment_type == "ACCPAYPAYMENT"
	assert api.get_invoice(NZ, made.invoice_id).invoices[0].status == "PAID"

	[note] = api.create_credit_notes(NZ, CreditNotes(credit_notes=[credit_note(emu.ids["tui"])])).credit_notes
	refund = pay(api, "46.00", credit_note_id=note.credit_note_id)
	assert refund.payment_type == "ARCREDITPAYMENT"
	refunded = api.get_credit_note(NZ, note.credit_note_id).credit_notes[0]
	assert (refunded.status, refunded.remaining_credit) == ("PAID", D("0.00"))
	assert [p.amount for p in refunded.payments] == [D("46.00")]
	delete(api, refund.payment_id)
	again = api.get_credit_note(NZ, note.credit_note_id).credit_notes[0]
	assert (again.status, again.remaining_credit, again.payments) == ("AUTHORISED", D("46.00"), [])


def test_refused_payments(emu, api):  # noqa: F811
	draft, live = api.create_invoices(
		NZ,
		Invoices(invoices=[invoice(emu.ids["tui"], "R-1", status="DRAFT"), invoice(emu.ids["tui"], "R-2")]),
	).invoices
	for kwargs, message in (
		({"invoice_id": draft.invoice_id}, "AUTHORISED"),
		({"invoice_id": live.invoice_id, "code": "200"}, "Account type is invalid"),
	):
		with pytest.raises(AccountingBadRequestException) as err:
			pay(api, "10.00", **kwargs)
		assert message in str(err.value.body)
	with pytest.raises(AccountingBadRequestException) as err:
		pay(api, "115.01", invoice_id=live.invoice_id)
	assert "exceeds the amount outstanding" in str(err.value.body)
	assert api.get_invoice(NZ, live.invoice_id).invoices[0].amount_paid == D("0.00")


def test_if_modified_since_lists_documents_a_payment_touched(emu, api):  # noqa: F811
	old, other = api.create_invoices(
		NZ, Invoices(invoices=[invoice(emu.ids["tui"], "M-1"), invoice(emu.ids["tui"], "M-2")])
	).invoices
	[note] = api.create_credit_notes(
		NZ, CreditNotes(credit_notes=[credit_note(emu.ids["tui"], "MC-1")])
	).credit_notes
	emu.advance(60)
	since = dt.datetime.fromtimestamp(emu.now() - 1, tz=dt.timezone.utc)
	emu.advance(1)
	pay(api, "20.00", invoice_id=other.invoice_id)
	pay(api, "5.00", credit_note_id=note.credit_note_id)
	changed = api.get_invoices(NZ, if_modified_since=since, page=1, summary_only=True).invoices
	assert [i.invoice_number for i in changed] == ["M-2"]
	assert changed[0].amount_due == D("95.00")
	notes = api.get_credit_notes(NZ, if_modified_since=since, page=1).credit_notes
	assert [(n.credit_note_number, n.remaining_credit) for n in notes] == [("MC-1", D("41.00"))]
	listed = api.get_payments(NZ, if_modified_since=since).payments
	assert sorted(p.amount for p in listed) == [D("5.00"), D("20.00")]
	assert old.invoice_number not in [i.invoice_number for i in changed]
