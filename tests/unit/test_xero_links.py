"""View in Xero: deep links by document type, and one link per live payment of a Payment Entry's row."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest

from nexwave_xero_connector.xero.links import PaymentLink, deep_link, payment_links

PAY_1 = "0d666415-cf77-43fa-80c7-56775591d426"
PAY_2 = "6b037c9b-2e5d-4905-84d3-eabfb3122242"


def _redirect(url: str) -> tuple[str, str]:
	"""(short code, redirect path) of an organisation login link."""
	parsed = urlparse(url)
	assert f"{parsed.scheme}://{parsed.netloc}{parsed.path}" == (
		"https://go.xero.com/organisationlogin/default.aspx"
	)
	query = parse_qs(parsed.query)
	return query["shortcode"][0], query["redirecturl"][0]


@pytest.mark.parametrize(
	("xero_type", "path"),
	[
		("ACCREC", "/AccountsReceivable/View.aspx?InvoiceID=x-1"),
		("ACCPAY", "/AccountsPayable/View.aspx?InvoiceID=x-1"),
		("ACCRECCREDIT", "/AccountsReceivable/ViewCreditNote.aspx?creditNoteID=x-1"),
		("ACCPAYCREDIT", "/AccountsPayable/ViewCreditNote.aspx?creditNoteID=x-1"),
		("PAYMENT", "/Bank/ViewTransaction.aspx?bankTransactionID=x-1"),
		("XERO PAYMENT", "/Bank/ViewTransaction.aspx?bankTransactionID=x-1"),
	],
)
def test_each_type_opens_its_page_in_the_organisation_of_the_short_code(xero_type, path):
	assert _redirect(deep_link("!kTl1", xero_type, "x-1")) == ("!kTl1", path)
	assert deep_link("", xero_type, "x-1") == "https://go.xero.com" + path


def test_the_short_code_and_the_redirect_are_encoded_whole():
	url = deep_link("!a&b=c", "PAYMENT", PAY_1)
	assert "&redirecturl=%2FBank%2FViewTransaction.aspx%3FbankTransactionID%3D" in url
	assert _redirect(url) == ("!a&b=c", f"/Bank/ViewTransaction.aspx?bankTransactionID={PAY_1}")


def test_no_link_without_an_id_or_for_an_unknown_type():
	assert deep_link("!kTl1", "ACCREC", None) is None
	assert deep_link("!kTl1", "ACCREC", "") is None
	assert deep_link("!kTl1", "JOURNAL", "x-1") is None
	assert deep_link("!kTl1", None, "x-1") is None


def _response(*payments: dict) -> str:
	"""A Payment Entry row's response as the journal stores it (sync/kinds/payments_out.py `_described`)."""
	return json.dumps({"payments": list(payments)}, indent=1, sort_keys=True)


def test_one_link_per_payment_in_the_entrys_order_with_what_it_pays():
	response = _response(
		{"against": "SINV-2", "amount": "500.00", "payment_id": PAY_2, "status": "AUTHORISED"},
		{"against": "SINV-1", "amount": "1052.00", "payment_id": PAY_1, "status": "AUTHORISED"},
	)
	links = payment_links("!kTl1", response, xero_id=PAY_2)
	assert [(p.payment_id, p.against, p.amount) for p in links] == [
		(PAY_2, "SINV-2", "500.00"),
		(PAY_1, "SINV-1", "1052.00"),
	]
	assert [_redirect(p.url)[1] for p in links] == [
		f"/Bank/ViewTransaction.aspx?bankTransactionID={PAY_2}",
		f"/Bank/ViewTransaction.aspx?bankTransactionID={PAY_1}",
	]
	assert payment_links("!kTl1", json.loads(response)) == links  # the parsed value reads the same


def test_deleted_unsent_and_repeated_payments_get_no_link():
	response = _response(
		{"against": "SINV-1", "amount": "10.00", "payment_id": PAY_1, "status": "DELETED"},
		{"against": "SINV-2", "amount": "20.00", "payment_id": None, "status": None},
		{"against": "SINV-3", "amount": "30.00", "payment_id": PAY_2, "status": "AUTHORISED"},
		{"against": "SINV-3", "amount": "30.00", "payment_id": PAY_2, "status": "AUTHORISED"},
	)
	assert [p.payment_id for p in payment_links("!kTl1", response, xero_id=PAY_1)] == [PAY_2]


def test_a_voided_entry_links_nowhere_although_its_row_keeps_the_first_payment_id():
	response = _response({"payment_id": PAY_1, "amount": "10.00", "status": "DELETED"})
	assert payment_links("!kTl1", response, xero_id=PAY_1) == []


def test_the_rows_xero_id_stands_in_only_when_the_response_names_no_payments():
	expected = [PaymentLink(PAY_1, deep_link("!kTl1", "PAYMENT", PAY_1))]
	for response in (None, "", '{"payments": [{"pay', "[1, 2]", '{"Invoices": []}', '{"payments": null}'):
		assert payment_links("!kTl1", response, xero_id=PAY_1) == expected, response
	assert payment_links("!kTl1", None, xero_id=None) == []
