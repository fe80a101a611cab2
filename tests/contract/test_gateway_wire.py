"""What SdkGateway puts on the wire through the real xero-python SDK, and how it reads the answers."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from responses import matchers

from nexwave_xero_connector.sync.errors import XeroError
from nexwave_xero_connector.sync.model import ContactRequest, ErrorClass, Kind
from nexwave_xero_connector.xero.gateway import SdkGateway

from .conftest import ACCESS, API, TENANT

MAR5 = "/Date(1709596800000)/"  # 2024-03-05 UTC midnight
ZERO_ID = "00000000-0000-0000-0000-000000000000"


def sales_body(number: str = "SINV-0001") -> dict:
	"""A body as the core's mapper builds it."""
	return {
		"Contact": {"ContactID": "c1"},
		"LineItems": [
			{
				"Description": "Widget",
				"Quantity": Decimal("3"),
				"UnitAmount": Decimal("10.1234"),
				"AccountCode": "200",
				"TaxType": "OUTPUT2",
				"DiscountRate": Decimal("5"),
				"Tracking": [{"Name": "Region", "Option": "North"}],
			}
		],
		"Date": date(2024, 3, 5),
		"DueDate": date(2024, 4, 5),
		"LineAmountTypes": "Exclusive",
		"InvoiceNumber": number,
		"Reference": "PO-9",
		"Url": "https://erp.example/app/sales-invoice/SINV-0001",
		"CurrencyCode": "USD",
		"CurrencyRate": Decimal("1.234567"),
		"Status": "AUTHORISED",
	}


def invoice_json(number: str, xero_id: str = "i-1", type_: str = "ACCREC", **extra: object) -> dict:
	return {
		"InvoiceID": xero_id,
		"Type": type_,
		"InvoiceNumber": number,
		"Status": "AUTHORISED",
		"Contact": {"ContactID": "c1"},
		"Date": "/Date(1709596800000+0000)/",
		"Total": 32.45,
		"AmountDue": 32.45,
		"AmountPaid": 0,
		"AmountCredited": 0,
		**extra,
	}


def query(call: responses.Call) -> list[tuple[str, str]]:
	return parse_qsl(urlsplit(call.request.url).query, keep_blank_values=True)


def sent_json(call: responses.Call) -> dict:
	return json.loads(call.request.body)


# --- create ---------------------------------------------------------------------------------------------


def test_create_invoices_pins_method_query_headers_and_body(rs, gateway):
	rs.put(f"{API}/Invoices", json={"Invoices": [invoice_json("SINV-0001", StatusAttributeString="OK")]})
	results = gateway.create_documents(TENANT, Kind.SALES_INVOICE, [sales_body()], "key-1")

	call = rs.calls[0]
	assert call.request.method == "PUT"
	assert urlsplit(call.request.url).path == "/api.xro/2.0/Invoices"
	assert urlsplit(call.request.url).query == "summarizeErrors=False&unitdp=4"
	assert call.request.headers["xero-tenant-id"] == TENANT
	assert call.request.headers["Idempotency-Key"] == "key-1"
	assert call.request.headers["Authorization"] == f"Bearer {ACCESS}"
	assert call.request.headers["Content-Type"] == "application/json"
	assert sent_json(call) == {
		"Invoices": [
			{
				"Type": "ACCREC",
				"Contact": {"ContactID": "c1", "HasAttachments": False, "HasValidationErrors": False},
				"LineItems": [
					{
						"Description": "Widget",
						"Quantity": 3.0,
						"UnitAmount": 10.1234,
						"AccountCode": "200",
						"TaxType": "OUTPUT2",
						"DiscountRate": 5.0,
						"Tracking": [{"Name": "Region", "Option": "North"}],
					}
				],
				"Date": MAR5,
				"DueDate": "/Date(1712275200000)/",
				"LineAmountTypes": "Exclusive",
				"InvoiceNumber": "SINV-0001",
				"Reference": "PO-9",
				"Url": "https://erp.example/app/sales-invoice/SINV-0001",
				"CurrencyCode": "USD",
				"CurrencyRate": 1.234567,
				"Status": "AUTHORISED",
				"HasAttachments": False,
				"HasErrors": False,
			}
		]
	}
	[result] = results
	assert result.ok and result.record.xero_id == "i-1" and result.record.number == "SINV-0001"
	assert result.record.total == Decimal("32.45") and result.record.date == date(2024, 3, 5)


def test_create_credit_notes_uses_credit_note_endpoint_and_number(rs, gateway):
	echoed = {
		"CreditNoteID": "cn-1",
		"Type": "ACCRECCREDIT",
		"CreditNoteNumber": "SINV-RET-1",
		"Status": "AUTHORISED",
		"Total": 11.5,
		"RemainingCredit": 11.5,
		"Contact": {"ContactID": "c1"},
	}
	rs.put(f"{API}/CreditNotes", json={"CreditNotes": [echoed]})
	body = {
		"Contact": {"ContactID": "c1"},
		"Date": date(2024, 3, 5),
		"LineAmountTypes": "Inclusive",
		"LineItems": [
			{"Description": "Return", "Quantity": 1, "UnitAmount": Decimal("11.50"), "AccountCode": "200"}
		],
		"CreditNoteNumber": "SINV-RET-1",
		"Status": "AUTHORISED",
	}
	[result] = gateway.create_documents(TENANT, Kind.SALES_CREDIT, [body], "key-cn")

	call = rs.calls[0]
	assert call.request.method == "PUT"
	assert urlsplit(call.request.url).query == "summarizeErrors=False&unitdp=4"
	sent = sent_json(call)["CreditNotes"][0]
	assert sent["Type"] == "ACCRECCREDIT" and sent["CreditNoteNumber"] == "SINV-RET-1"
	assert sent["LineAmountTypes"] == "Inclusive" and sent["Date"] == MAR5
	assert sent["LineItems"][0]["UnitAmount"] == 11.5
	assert result.ok and result.record.kind is Kind.SALES_CREDIT
	assert result.record.remaining_credit == Decimal("11.5")


def test_create_maps_each_element_in_order_with_errors_and_warnings(rs, gateway):
	failed = invoice_json(
		"SINV-2",
		xero_id=ZERO_ID,
		HasErrors=True,
		StatusAttributeString="ERROR",
		ValidationErrors=[{"Message": "Invoice # must be unique."}],
	)
	warned = invoice_json(
		"SINV-3", xero_id="i-3", StatusAttributeString="WARNING", Warnings=[{"Message": "Rate looks odd"}]
	)
	silent = invoice_json("SINV-4", xero_id=ZERO_ID, StatusAttributeString="ERROR")
	rs.put(f"{API}/Invoices", json={"Invoices": [failed, warned, silent]})
	bodies = [sales_body("SINV-2"), sales_body("SINV-3"), sales_body("SINV-4")]

	first, second, third = gateway.create_documents(TENANT, Kind.SALES_INVOICE, bodies, "key-2")

	assert not first.ok and first.record is None and first.errors == ("Invoice # must be unique.",)
	assert second.ok and second.record.xero_id == "i-3" and second.warnings == ("Rate looks odd",)
	assert not third.ok and third.errors  # ERROR without a message still fails the element


def test_create_with_wrong_element_count_may_have_committed(rs, gateway):
	rs.put(f"{API}/Invoices", json={"Invoices": [invoice_json("SINV-1")]})
	with pytest.raises(XeroError) as caught:
		gateway.create_documents(TENANT, Kind.SALES_INVOICE, [sales_body("A"), sales_body("B")], "key-3")
	assert caught.value.error_class is ErrorClass.TRANSIENT and caught.value.may_have_committed


@pytest.mark.parametrize(
	"change",
	[{"LineAmountTypes": "Sideways"}, {"CurrencyCode": "XYZ"}, {"Colour": "red"}, {"Status": "MAYBE"}],
)
def test_body_the_sdk_refuses_is_a_mapping_error_and_nothing_is_sent(rs, gateway, change):
	with pytest.raises(XeroError) as caught:
		gateway.create_documents(TENANT, Kind.SALES_INVOICE, [{**sales_body(), **change}], "key-4")
	assert caught.value.error_class is ErrorClass.MAPPING and not caught.value.may_have_committed
	assert "SINV-0001" in caught.value.message
	assert len(rs.calls) == 0


# --- statuses and allocations ---------------------------------------------------------------------------


def test_set_statuses_posts_ids_and_statuses_only(rs, gateway):
	rs.post(
		f"{API}/Invoices",
		json={
			"Invoices": [
				invoice_json("B-1", "i-1", "ACCPAY", Status="VOIDED"),
				invoice_json("B-2", "i-2", "ACCPAY"),
			]
		},
	)
	results = gateway.set_statuses(TENANT, Kind.BILL, [("i-1", "VOIDED"), ("i-2", "DELETED")], "key-5")

	call = rs.calls[0]
	assert call.request.method == "POST"
	assert urlsplit(call.request.url).query == "summarizeErrors=False"
	assert call.request.headers["Idempotency-Key"] == "key-5"
	assert sent_json(call) == {
		"Invoices": [
			{"Status": "VOIDED", "InvoiceID": "i-1", "HasAttachments": False, "HasErrors": False},
			{"Status": "DELETED", "InvoiceID": "i-2", "HasAttachments": False, "HasErrors": False},
		]
	}
	assert [r.record.status for r in results] == ["VOIDED", "AUTHORISED"]


def test_set_statuses_on_credit_notes_posts_credit_note_ids(rs, gateway):
	echoed = {"CreditNoteID": "cn-1", "Type": "ACCPAYCREDIT", "Status": "VOIDED"}
	rs.post(f"{API}/CreditNotes", json={"CreditNotes": [echoed]})
	[result] = gateway.set_statuses(TENANT, Kind.BILL_CREDIT, [("cn-1", "VOIDED")], "key-6")
	sent = sent_json(rs.calls[0])["CreditNotes"][0]
	assert sent["CreditNoteID"] == "cn-1" and sent["Status"] == "VOIDED" and "CreditNoteNumber" not in sent
	assert result.record.status == "VOIDED"


def test_allocate_credit_puts_one_allocation_with_ms_date(rs, gateway):
	echoed = {
		"Invoice": {"InvoiceID": "i-1"},
		"Amount": 11.5,
		"Date": "/Date(1709596800000+0000)/",
		"CreditNote": {"CreditNoteID": "cn-1", "RemainingCredit": 0, "Status": "PAID"},
	}
	rs.put(f"{API}/CreditNotes/cn-1/Allocations", json={"Allocations": [echoed]})
	result = gateway.allocate_credit(
		TENANT, Kind.SALES_CREDIT, "cn-1", "i-1", Decimal("11.50"), date(2024, 3, 5), "key-7"
	)
	call = rs.calls[0]
	assert call.request.method == "PUT" and call.request.headers["Idempotency-Key"] == "key-7"
	assert urlsplit(call.request.url).query == "summarizeErrors=False"
	assert sent_json(call) == {
		"Allocations": [
			{
				"Invoice": {"InvoiceID": "i-1", "HasAttachments": False, "HasErrors": False},
				"Amount": 11.5,
				"Date": MAR5,
			}
		]
	}
	assert result.ok and result.record.xero_id == "cn-1" and result.record.remaining_credit == 0
	assert result.record.amount_credited == Decimal("11.5")


def test_allocation_element_error_is_reported(rs, gateway):
	echoed = {
		"Invoice": {"InvoiceID": "i-1"},
		"Amount": 99,
		"Date": "/Date(1709596800000+0000)/",
		"StatusAttributeString": "ERROR",
		"ValidationErrors": [
			{"Message": "Credit Note cannot be allocated as amount is greater than amount outstanding"}
		],
	}
	rs.put(f"{API}/CreditNotes/cn-1/Allocations", json={"Allocations": [echoed]})
	result = gateway.allocate_credit(
		TENANT, Kind.SALES_CREDIT, "cn-1", "i-1", Decimal(99), date(2024, 3, 5), "k"
	)
	assert not result.ok and "greater than amount outstanding" in result.errors[0]


# --- lookups ---------------------------------------------------------------------------------------------


def test_find_invoices_by_numbers_with_type_filter_and_paging(rs, gateway):
	rs.get(
		f"{API}/Invoices",
		json={
			"Invoices": [
				invoice_json("A-1", "i-1"),
				invoice_json("B-2", "i-2", Status="DELETED"),
				invoice_json("C-3", "i-3"),  # not asked for: dropped
				invoice_json("A-1", "i-9", "ACCPAY"),  # other type: dropped
			]
		},
	)
	found = gateway.find_documents(TENANT, Kind.SALES_INVOICE, ["A-1", "B-2", "A-1"])

	assert query(rs.calls[0]) == [
		("where", 'Type=="ACCREC"'),
		("InvoiceNumbers", "A-1,B-2"),
		("page", "1"),
		("pageSize", "100"),
	]
	assert (
		"where=Type%3D%3D%22ACCREC%22&InvoiceNumbers=A-1%2CB-2&page=1&pageSize=100" in rs.calls[0].request.url
	)
	assert rs.calls[0].request.headers["xero-tenant-id"] == TENANT
	assert [(r.xero_id, r.status) for r in found] == [("i-1", "AUTHORISED"), ("i-2", "DELETED")]


def test_find_bills_sends_contact_ids(rs, gateway):
	rs.get(f"{API}/Invoices", json={"Invoices": [invoice_json("SUP-1", "b-1", "ACCPAY")]})
	[found] = gateway.find_documents(TENANT, Kind.BILL, ["SUP-1"], contact_ids=["c1"])
	assert ("ContactIDs", "c1") in query(rs.calls[0]) and ("where", 'Type=="ACCPAY"') in query(rs.calls[0])
	assert found.kind is Kind.BILL and found.contact_id == "c1"


def test_find_number_with_comma_goes_through_where(rs, gateway):
	plain_only = matchers.query_param_matcher({"InvoiceNumbers": "PLAIN"}, strict_match=False)
	rs.get(f"{API}/Invoices", match=[plain_only], json={"Invoices": []})
	rs.get(f"{API}/Invoices", json={"Invoices": [invoice_json("A,1", "i-1"), invoice_json("B,2", "i-2")]})
	found = gateway.find_documents(TENANT, Kind.SALES_INVOICE, ["PLAIN", "A,1", "B,2"])
	second = dict(query(rs.calls[1]))
	assert second["where"] == 'Type=="ACCREC" AND (InvoiceNumber=="A,1" OR InvoiceNumber=="B,2")'
	assert "InvoiceNumbers" not in second
	assert [r.number for r in found] == ["A,1", "B,2"]


def test_find_splits_into_batches_of_50(rs, gateway):
	rs.get(f"{API}/Invoices", json={"Invoices": []})
	gateway.find_documents(TENANT, Kind.SALES_INVOICE, [f"S-{i}" for i in range(120)])
	sizes = [len(dict(query(c))["InvoiceNumbers"].split(",")) for c in rs.calls]
	assert sizes == [50, 50, 20]


def test_find_splits_long_numbers_to_keep_urls_short(rs, gateway):
	rs.get(f"{API}/Invoices", json={"Invoices": []})
	numbers = [f"LONG-{i:03d}-" + "x" * 90 for i in range(40)]
	gateway.find_documents(TENANT, Kind.SALES_INVOICE, numbers)
	assert len(rs.calls) > 1
	assert all(len(c.request.url) <= 1800 for c in rs.calls)
	sent = [n for c in rs.calls for n in dict(query(c))["InvoiceNumbers"].split(",")]
	assert sent == numbers


def test_find_follows_pages(rs, api):
	gateway = SdkGateway(api, page_size=2)
	page1 = {"Invoices": [invoice_json("A", "i-1", "ACCPAY"), invoice_json("A", "i-2", "ACCPAY")]}
	page2 = {"Invoices": [invoice_json("A", "i-3", "ACCPAY")]}
	rs.get(
		f"{API}/Invoices", match=[matchers.query_param_matcher({"page": "1"}, strict_match=False)], json=page1
	)
	rs.get(
		f"{API}/Invoices", match=[matchers.query_param_matcher({"page": "2"}, strict_match=False)], json=page2
	)
	found = gateway.find_documents(TENANT, Kind.BILL, ["A"])
	assert [r.xero_id for r in found] == ["i-1", "i-2", "i-3"]
	assert [dict(query(c))["pageSize"] for c in rs.calls] == ["2", "2"]


def test_find_credit_notes_ors_numbers_in_where(rs, gateway):
	notes = [
		{"CreditNoteID": "cn-1", "Type": "ACCRECCREDIT", "CreditNoteNumber": "R-1", "Status": "AUTHORISED"},
		{"CreditNoteID": "cn-2", "Type": "ACCRECCREDIT", "CreditNoteNumber": 'R"2', "Status": "PAID"},
	]
	rs.get(f"{API}/CreditNotes", json={"CreditNotes": notes})
	found = gateway.find_documents(TENANT, Kind.SALES_CREDIT, ["R-1", 'R"2'])
	assert query(rs.calls[0]) == [
		("where", 'Type=="ACCRECCREDIT" AND (CreditNoteNumber=="R-1" OR CreditNoteNumber=="R\\"2")'),
		("page", "1"),
		("pageSize", "100"),
	]
	assert [r.xero_id for r in found] == ["cn-1", "cn-2"]


def test_get_invoices_by_ids_in_batches(rs, gateway):
	rs.get(f"{API}/Invoices", json={"Invoices": [invoice_json("A", "id-0")]})
	found = gateway.get_documents(TENANT, Kind.SALES_INVOICE, [f"id-{i}" for i in range(60)])
	assert [len(dict(query(c))["IDs"].split(",")) for c in rs.calls] == [50, 10]
	assert [r.xero_id for r in found] == ["id-0"]


def test_get_credit_notes_one_by_one_skipping_missing(rs, gateway):
	note = {
		"CreditNoteID": "cn-1",
		"Type": "ACCPAYCREDIT",
		"Status": "AUTHORISED",
		"Total": 5,
		"RemainingCredit": 2,
	}
	rs.get(f"{API}/CreditNotes/cn-1", json={"CreditNotes": [note]})
	rs.get(f"{API}/CreditNotes/cn-gone", status=404, body="The resource you're looking for cannot be found")
	[found] = gateway.get_documents(TENANT, Kind.BILL_CREDIT, ["cn-1", "cn-gone"])
	assert found.remaining_credit == 2 and found.amount_credited == 3


# --- contacts --------------------------------------------------------------------------------------------


def test_find_contacts_by_number_includes_archived(rs, gateway):
	contacts = [
		{"ContactID": "c1", "Name": "Acme", "ContactNumber": "CUST-1", "ContactStatus": "ARCHIVED"},
		{"ContactID": "c2", "Name": "Other", "ContactNumber": "CUST-X"},
	]
	rs.get(f"{API}/Contacts", json={"Contacts": contacts})
	found = gateway.find_contacts(TENANT, ["CUST-1", "CUST-2"])
	assert query(rs.calls[0]) == [
		("where", 'ContactNumber=="CUST-1" OR ContactNumber=="CUST-2"'),
		("page", "1"),
		("includeArchived", "True"),
		("pageSize", "100"),
	]
	assert [(c.contact_id, c.status) for c in found] == [("c1", "ARCHIVED")]


def test_find_contacts_by_name(rs, gateway):
	rs.get(f"{API}/Contacts", json={"Contacts": [{"ContactID": "c1", "Name": "ACME Ltd"}]})
	[found] = gateway.find_contacts_by_name(TENANT, ["Acme Ltd"])
	assert dict(query(rs.calls[0]))["where"] == 'Name=="Acme Ltd"' and found.contact_number is None


def test_create_contacts_returns_records_or_messages(rs, gateway):
	rs.put(
		f"{API}/Contacts",
		json={
			"Contacts": [
				{"ContactID": "c1", "Name": "Acme", "ContactNumber": "CUST-1", "StatusAttributeString": "OK"},
				{
					"ContactID": ZERO_ID,
					"Name": "Dup",
					"HasValidationErrors": True,
					"StatusAttributeString": "ERROR",
					"ValidationErrors": [
						{"Message": "The contact name Dup is already assigned to another contact."}
					],
				},
			]
		},
	)
	requests_ = [
		ContactRequest("Customer", "CUST-1", "Acme", email="a@acme.test", tax_number="123"),
		ContactRequest("Customer", "CUST-2", "Dup"),
	]
	first, second = gateway.create_contacts(TENANT, requests_, "key-c")
	call = rs.calls[0]
	assert call.request.method == "PUT" and urlsplit(call.request.url).query == "summarizeErrors=False"
	assert sent_json(call)["Contacts"][0] == {
		"ContactNumber": "CUST-1",
		"Name": "Acme",
		"EmailAddress": "a@acme.test",
		"TaxNumber": "123",
		"HasAttachments": False,
		"HasValidationErrors": False,
	}
	assert first.contact_id == "c1" and first.contact_number == "CUST-1"
	assert second == "The contact name Dup is already assigned to another contact."


def test_empty_inputs_make_no_calls(rs, gateway):
	assert gateway.find_documents(TENANT, Kind.SALES_INVOICE, []) == []
	assert gateway.create_documents(TENANT, Kind.BILL, [], "k") == []
	assert gateway.set_statuses(TENANT, Kind.BILL, [], "k") == []
	assert gateway.find_contacts(TENANT, []) == []
	assert len(rs.calls) == 0


def test_find_supplier_credit_notes_filters_by_contact_in_where(rs, gateway):
	note = {"CreditNoteID": "cn-1", "Type": "ACCPAYCREDIT", "CreditNoteNumber": "D-1", "Status": "AUTHORISED"}
	rs.get(f"{API}/CreditNotes", json={"CreditNotes": [{**note, "Contact": {"ContactID": "c1"}}]})
	[found] = gateway.find_documents(TENANT, Kind.BILL_CREDIT, ["D-1"], contact_ids=["c1"])
	assert dict(query(rs.calls[0]))["where"] == (
		'Type=="ACCPAYCREDIT" AND Contact.ContactID=guid("c1") AND CreditNoteNumber=="D-1"'
	)
	assert found.contact_id == "c1"


def test_created_by_app_asks_xero_which_invoices_this_app_made(rs, gateway):
	"""The safety net's proof before an automatic void: Xero's own createdByMyApp, by IDs."""
	rs.get(f"{API}/Invoices", json={"Invoices": [invoice_json("A-1", "i-1"), invoice_json("Z-9", "i-9")]})
	mine = gateway.created_by_app(TENANT, Kind.BILL, ["i-1", "i-2", "i-1"])
	params = dict(query(rs.calls[0]))
	assert (params["IDs"], params["createdByMyApp"], params["summaryOnly"]) == (
		"i-1,i-2",
		"True",
		"True",
	)  # the SDK writes bools so
	assert mine == {"i-1"}  # an ID not asked for proves nothing
	assert gateway.created_by_app(TENANT, Kind.BILL_CREDIT, ["c-1"]) == set() and len(rs.calls) == 1
