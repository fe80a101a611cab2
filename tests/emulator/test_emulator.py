"""Behaviour tests for the Xero emulator, driven through the real xero-python SDK where it applies."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import pytest
import urllib3
from xero_python.accounting import (
	AccountingApi,
	Allocation,
	Allocations,
	Contact,
	Contacts,
	CreditNote,
	CreditNotes,
	CurrencyCode,
	Invoice,
	Invoices,
	LineAmountTypes,
	LineItem,
	LineItemTracking,
)
from xero_python.api_client import ApiClient, Configuration
from xero_python.api_client.oauth2 import OAuth2Token, TokenApi
from xero_python.exceptions import (
	AccountingBadRequestException,
	HTTPStatusException,
	NotFoundException,
	RateLimitException,
)
from xero_python.identity import IdentityApi

from tests.emulator import XeroEmulator

NZ = "tenant-nz"
AU = "tenant-au"
D = Decimal
REPO = Path(__file__).resolve().parents[2]
NETWORK_ERRORS = (urllib3.exceptions.ProtocolError, urllib3.exceptions.MaxRetryError)


def sdk_client(emu: XeroEmulator, token: dict | None = None) -> ApiClient:
	"""An SDK ApiClient wired to the emulator with urllib3's hidden retries disabled."""
	cfg = Configuration()
	cfg.oauth2_token = OAuth2Token(client_id="client", client_secret="secret")
	client = ApiClient(cfg)
	state = {"token": token or _sdk_token(emu.issue_tokens())}
	client.oauth2_token_getter(lambda: state["token"])
	client.oauth2_token_saver(lambda new: state.update(token=new))
	client.token_state = state
	pool = client.rest_client.pool_manager
	pool.connection_pool_kw["retries"] = urllib3.Retry(0, read=0, connect=0, redirect=0, status=0)
	pool.clear()
	return client


def _sdk_token(raw: dict, expires_at: float | None = None) -> dict:
	"""Token-endpoint JSON → the 7-key dict the SDK getter must return (scope as a list)."""
	return {
		"access_token": raw["access_token"],
		"refresh_token": raw.get("refresh_token"),
		"id_token": None,
		"scope": raw["scope"].split(),
		"expires_in": raw["expires_in"],
		"token_type": raw["token_type"],
		"expires_at": expires_at if expires_at is not None else time.time() + raw["expires_in"],
	}


@pytest.fixture
def emu():
	"""A running emulator with an NZ and an AU organisation and a few contacts."""
	emulator = XeroEmulator()
	emulator.start(port=0)
	emulator.add_tenant(
		NZ,
		name="Kiwi Test Ltd",
		country="NZ",
		base_currency="NZD",
		currencies=("NZD", "USD"),
		short_code="!kTl1",
		tracking={"Region": ["North", "South"]},
	)
	emulator.add_tenant(AU, name="Roo Test Pty Ltd", country="AU")
	emulator.ids = {
		"tui": emulator.add_contact(NZ, name="Tui Hardware Ltd", contact_number="CUST-1"),
		"kea": emulator.add_contact(NZ, name="Kea Supplies Ltd", contact_number="SUPP-1"),
		"moa": emulator.add_contact(NZ, name="Moa Old Ltd", contact_number="OLD-1", status="ARCHIVED"),
	}
	yield emulator
	emulator.stop()


@pytest.fixture
def api(emu):
	"""AccountingApi on the emulator."""
	return AccountingApi(sdk_client(emu), base_url=emu.api_url)


def line(amount="100.00", account="200", tax="OUTPUT2", qty="1", **extra) -> LineItem:
	"""A line item with sensible defaults."""
	return LineItem(
		description="Widget",
		quantity=D(qty),
		unit_amount=D(amount),
		account_code=account,
		tax_type=tax,
		**extra,
	)


def invoice(
	contact_id: str, number: str | None = "INV-T1", kind="ACCREC", status="AUTHORISED", lines=None, **extra
):
	"""An Invoice model for the SDK."""
	return Invoice(
		type=kind,
		contact=Contact(contact_id=contact_id),
		date=extra.pop("date", dt.date(2024, 3, 5)),
		due_date=dt.date(2024, 4, 5),
		line_amount_types=extra.pop("line_amount_types", LineAmountTypes.EXCLUSIVE),
		invoice_number=number,
		status=status,
		line_items=lines or [line()],
		**extra,
	)


def bill(contact_id: str, number: str = "SUP-1", **extra):
	"""An ACCPAY Invoice model."""
	return invoice(contact_id, number, kind="ACCPAY", lines=[line("50.00", "400", "INPUT2")], **extra)


def credit_note(contact_id: str, number="CN-T1", amount="40.00", kind="ACCRECCREDIT", status="AUTHORISED"):
	"""A CreditNote model."""
	account, tax = ("200", "OUTPUT2") if kind == "ACCRECCREDIT" else ("400", "INPUT2")
	return CreditNote(
		type=kind,
		contact=Contact(contact_id=contact_id),
		date=dt.date(2024, 3, 6),
		status=status,
		line_amount_types=LineAmountTypes.EXCLUSIVE,
		credit_note_number=number,
		line_items=[line(amount, account, tax)],
	)


def http(emu: XeroEmulator, method: str, path: str, **kwargs) -> urllib3.BaseHTTPResponse:
	"""A raw HTTP call (no retries) against the emulator."""
	return urllib3.request(method, emu.base_url + path, retries=False, **kwargs)


# ---- invoices ----------------------------------------------------------------------------------


def test_create_and_read_back_with_xero_totals(emu, api):
	lines = [
		line("10.1234", qty="3", tracking=[LineItemTracking(name="Region", option="North")]),
		line("19.99", qty="2", discount_rate=D("10")),
		line("5.00", account="260", tax="ZERORATED"),
	]
	created = api.create_invoices(
		NZ, Invoices(invoices=[invoice(emu.ids["tui"], lines=lines, url="https://erp/x")]), unitdp=4
	).invoices[0]
	# Per-line tax rounding: 30.37→4.56, 35.98→5.40 (35.982 rounded), 5.00 zero-rated → 0.
	assert created.line_items[0].line_amount == D("30.37")
	assert created.line_items[1].line_amount == D("35.98")
	assert (created.sub_total, created.total_tax, created.total) == (D("71.35"), D("9.96"), D("81.31"))
	assert created.status == "AUTHORISED" and created.amount_due == D("81.31")
	assert created.line_items[0].tracking[0].option == "North"
	fetched = api.get_invoice(NZ, created.invoice_id, unitdp=4).invoices[0]
	assert fetched.invoice_number == "INV-T1" and fetched.date == dt.date(2024, 3, 5)
	assert fetched.currency_code == CurrencyCode.NZD and fetched.contact.name == "Tui Hardware Ltd"
	assert fetched.line_items[0].unit_amount == D("10.1234")
	row = emu.ledger(NZ)[0]
	assert (
		row["xero_id"] == created.invoice_id and row["total"] == D("81.31") and row["url"] == "https://erp/x"
	)
	with pytest.raises(NotFoundException):
		api.get_invoice(NZ, "00000000-0000-0000-0000-000000000000")


def test_inclusive_and_explicit_tax_amount(emu, api):
	lines = [line("115.00"), line("10.00", tax_amount=D("1.49"))]
	inv = invoice(emu.ids["tui"], lines=lines, line_amount_types=LineAmountTypes.INCLUSIVE)
	created = api.create_invoices(NZ, Invoices(invoices=[inv])).invoices[0]
	assert (created.total_tax, created.total, created.sub_total) == (D("16.49"), D("125.00"), D("108.51"))


def test_accrec_numbers_unique_and_post_updates_by_number(emu, api):
	api.create_invoices(NZ, Invoices(invoices=[invoice(emu.ids["tui"], status="DRAFT")]))
	with pytest.raises(AccountingBadRequestException) as err:
		api.create_invoices(NZ, Invoices(invoices=[invoice(emu.ids["tui"])]))
	assert err.value.reason == "Invoice # must be unique."
	assert err.value.error_data["Type"] == "ValidationException"
	updated = api.update_or_create_invoices(
		NZ, Invoices(invoices=[invoice(emu.ids["tui"], lines=[line("200.00")])])
	).invoices[0]
	assert updated.total == D("230.00")
	assert [r["total"] for r in emu.live_documents(NZ, number="INV-T1")] == [D("230.00")]


def test_accpay_numbers_may_repeat(emu, api):
	for _ in range(2):
		api.create_invoices(NZ, Invoices(invoices=[bill(emu.ids["kea"])]))
	assert [r["number"] for r in emu.ledger(NZ)] == ["SUP-1", "SUP-1"]


def test_summarize_errors_false_reports_each_element(emu, api):
	batch = [
		invoice(emu.ids["tui"], "A-1"),
		invoice(emu.ids["tui"], "A-2", lines=[line(account="999")]),
		invoice(emu.ids["tui"], "A-3", lines=[line(tax="INPUT2")]),
		invoice(emu.ids["tui"], "A-4", currency_code=CurrencyCode.AUD),
		invoice(emu.ids["moa"], "A-5"),
		bill(emu.ids["kea"], "B-1", date=dt.date(2023, 3, 31)),
	]
	emu.tenants[NZ].period_lock_date = dt.date(2023, 3, 31)
	result = api.create_invoices(NZ, Invoices(invoices=batch), summarize_errors=False).invoices
	assert [i.status_attribute_string for i in result] == ["OK", "ERROR", "ERROR", "ERROR", "ERROR", "ERROR"]
	assert result[0].invoice_id and all(i.invoice_id is None for i in result[1:])
	messages = [i.validation_errors[0].message for i in result[1:]]
	assert messages[0] == "Account code '999' is not a valid code for this document."
	assert messages[1] == "The TaxType code 'INPUT2' cannot be used with account code '200'."
	assert messages[2] == "Organisation is not subscribed to currency AUD"
	assert "archived" in messages[3]
	assert messages[4].startswith("The document date cannot be before the period lock date, currently set at")
	assert result[1].has_errors is True
	assert [r["number"] for r in emu.ledger(NZ)] == ["A-1"]


def test_summarized_errors_save_nothing(emu, api):
	batch = [invoice(emu.ids["tui"], "A-1"), invoice(emu.ids["tui"], "A-2", lines=[line(account="610")])]
	with pytest.raises(AccountingBadRequestException) as err:
		api.create_invoices(NZ, Invoices(invoices=batch))
	assert err.value.reason == "Account code '610' is not a valid code for this document."
	assert emu.ledger(NZ) == []


def test_discount_only_on_sales_invoices(emu, api):
	discounted = bill(emu.ids["kea"])
	discounted.line_items[0].discount_rate = D("5")
	with pytest.raises(AccountingBadRequestException) as err:
		api.create_invoices(NZ, Invoices(invoices=[discounted]))
	assert "ACCREC" in err.value.reason


def test_lookups_by_numbers_statuses_where_and_paging(emu, api):
	batch = [invoice(emu.ids["tui"], f"L-{n}", status="DRAFT" if n % 2 else "AUTHORISED") for n in range(6)]
	batch.append(bill(emu.ids["kea"], "L-1"))
	api.create_invoices(NZ, Invoices(invoices=batch))
	found = api.get_invoices(NZ, invoice_numbers=["L-1", "L-2"], where='Type=="ACCREC"').invoices
	assert sorted(i.invoice_number for i in found) == ["L-1", "L-2"]
	assert len(api.get_invoices(NZ, invoice_numbers=["L-1"]).invoices) == 2
	assert len(api.get_invoices(NZ, statuses=["DRAFT"]).invoices) == 3
	chain = " OR ".join(f'InvoiceNumber=="L-{n}"' for n in range(60))
	where = f'Type=="ACCREC" AND Status!="DELETED" && ({chain})'
	assert len(api.get_invoices(NZ, where=where).invoices) == 6
	by_contact = f'Contact.ContactID==guid("{emu.ids["kea"]}") AND Type=="ACCPAY"'
	assert [i.invoice_number for i in api.get_invoices(NZ, where=by_contact).invoices] == ["L-1"]
	assert len(api.get_invoices(NZ, where=f'Contact.ContactID=GUID("{emu.ids["tui"]}")').invoices) == 6
	assert len(api.get_invoices(NZ, contact_i_ds=[emu.ids["kea"]]).invoices) == 1
	page = api.get_invoices(NZ, page=2, page_size=4)
	assert len(page.invoices) == 3 and page.pagination.page_count == 2 and page.pagination.item_count == 7
	with pytest.raises(AccountingBadRequestException):
		api.get_invoices(NZ, where='Type=="ACCREC" AND')


def test_if_modified_since_with_paging_and_summary_only_on_invoices_and_credit_notes(emu, api):
	"""What the organisation-wide scans rely on: the header filters both lists, paging still applies."""
	api.create_invoices(NZ, Invoices(invoices=[bill(emu.ids["kea"], "OLD-B", url="https://erp.example/x")]))
	api.create_credit_notes(
		NZ, CreditNotes(credit_notes=[credit_note(emu.ids["kea"], "OLD-C", kind="ACCPAYCREDIT")])
	)
	emu.advance(60)
	since = dt.datetime.fromtimestamp(emu.now() - 1, tz=dt.timezone.utc)
	fresh = [bill(emu.ids["kea"], f"NEW-{n}", url="https://erp.example/x") for n in range(3)]
	api.create_invoices(NZ, Invoices(invoices=fresh))
	api.create_credit_notes(
		NZ, CreditNotes(credit_notes=[credit_note(emu.ids["kea"], "NEW-C", kind="ACCPAYCREDIT")])
	)
	pages = [
		api.get_invoices(NZ, if_modified_since=since, page=p, page_size=2, summary_only=True) for p in (1, 2)
	]
	assert [[i.invoice_number for i in page.invoices] for page in pages] == [["NEW-0", "NEW-1"], ["NEW-2"]]
	assert pages[0].pagination.item_count == 3
	summary = pages[0].invoices[0]
	assert summary.url is None and not summary.line_items and summary.invoice_id and summary.updated_date_utc
	assert api.get_invoices(NZ, if_modified_since=since, page=1).invoices[0].url == "https://erp.example/x"
	notes = api.get_credit_notes(NZ, if_modified_since=since, page=1, page_size=1).credit_notes
	assert [n.credit_note_number for n in notes] == ["NEW-C"]


def test_status_rules_void_delete_and_paid(emu, api):
	draft, live, paid = api.create_invoices(
		NZ,
		Invoices(
			invoices=[
				invoice(emu.ids["tui"], "S-1", status="DRAFT"),
				invoice(emu.ids["tui"], "S-2"),
				invoice(emu.ids["tui"], "S-3"),
			]
		),
	).invoices

	def set_status(inv, status):
		body = Invoices(invoices=[Invoice(invoice_id=inv.invoice_id, status=status)])
		return api.update_invoice(NZ, inv.invoice_id, body).invoices[0]

	assert set_status(draft, "DELETED").status == "DELETED"
	with pytest.raises(AccountingBadRequestException) as err:
		set_status(live, "DELETED")
	assert err.value.reason == "Invoice not of valid status for modification"
	assert set_status(live, "VOIDED").status == "VOIDED"
	with pytest.raises(AccountingBadRequestException):
		set_status(live, "AUTHORISED")
	emu.pay(NZ, paid.invoice_id, D("10.00"))
	with pytest.raises(AccountingBadRequestException) as err:
		set_status(paid, "VOIDED")
	assert (
		err.value.reason
		== "This document cannot be edited as it has a payment or credit note allocated to it."
	)
	emu.pay(NZ, paid.invoice_id, D("105.00"))
	fetched = api.get_invoice(NZ, paid.invoice_id).invoices[0]
	assert (fetched.status, fetched.amount_paid, fetched.amount_due) == ("PAID", D("115.00"), D("0.00"))
	# A deleted number is free again.
	api.create_invoices(NZ, Invoices(invoices=[invoice(emu.ids["tui"], "S-1")]))
	assert [r["status"] for r in emu.live_documents(NZ)] == ["PAID", "AUTHORISED"]


def test_approving_a_draft_keeps_precision_and_number_lookup(emu, api):
	draft = invoice(emu.ids["tui"], "D-1", status="DRAFT", lines=[line("10.1234")])
	made = api.create_invoices(NZ, Invoices(invoices=[draft]), unitdp=4).invoices[0]
	body = Invoices(invoices=[Invoice(invoice_id=made.invoice_id, status="AUTHORISED")])
	approved = api.update_invoice(NZ, made.invoice_id, body).invoices[0]
	assert (approved.status, approved.line_items[0].unit_amount, approved.total) == (
		"AUTHORISED",
		D("10.1234"),
		D("11.64"),
	)
	assert api.get_invoice(NZ, "D-1").invoices[0].invoice_id == made.invoice_id


def test_settings_endpoints(emu, api):
	emu.tenants[NZ].period_lock_date = dt.date(2024, 1, 31)
	org = api.get_organisations(NZ).organisations[0]
	assert (org.name, org.short_code, org.base_currency, org.country_code.value) == (
		"Kiwi Test Ltd",
		"!kTl1",
		CurrencyCode.NZD,
		"NZ",
	)
	assert org.period_lock_date == dt.date(2024, 1, 31) and org.timezone.value == "NEWZEALANDSTANDARDTIME"
	rounding = api.get_accounts(NZ, where='SystemAccount=="ROUNDING"').accounts
	assert [a.code for a in rounding] == ["860"]
	nz_rates = {r.tax_type: r for r in api.get_tax_rates(NZ, where='Status=="ACTIVE"').tax_rates}
	assert nz_rates["OUTPUT2"].effective_rate == D("15.0000") and not nz_rates["INPUT2"].can_apply_to_revenue
	au_rates = {r.tax_type: r for r in api.get_tax_rates(AU).tax_rates}
	assert {"OUTPUT", "INPUT", "EXEMPTOUTPUT", "EXEMPTEXPENSES", "BASEXCLUDED"} <= set(au_rates)
	assert au_rates["OUTPUT"].display_tax_rate == D("10") and au_rates["EXEMPTEXPENSES"].can_apply_to_expenses
	assert [c.code for c in api.get_currencies(NZ).currencies] == [CurrencyCode.NZD, CurrencyCode.USD]
	region = api.get_tracking_categories(NZ).tracking_categories[0]
	assert region.name == "Region" and [o.name for o in region.options] == ["North", "South"]


# ---- credit notes ------------------------------------------------------------------------------


def test_credit_note_allocation_rules(emu, api):
	inv = api.create_invoices(NZ, Invoices(invoices=[invoice(emu.ids["tui"])])).invoices[0]
	other = api.create_invoices(NZ, Invoices(invoices=[bill(emu.ids["tui"])])).invoices[0]
	note = api.create_credit_notes(NZ, CreditNotes(credit_notes=[credit_note(emu.ids["tui"])])).credit_notes[
		0
	]
	assert note.total == D("46.00") and note.remaining_credit == D("46.00")
	with pytest.raises(AccountingBadRequestException) as err:
		api.create_credit_notes(NZ, CreditNotes(credit_notes=[credit_note(emu.ids["tui"])]))
	assert err.value.reason == "Credit Note # must be unique."

	def allocate(invoice_id, amount, note_id=note.credit_note_id):
		alloc = Allocation(invoice=Invoice(invoice_id=invoice_id), amount=D(amount), date=dt.date(2024, 3, 6))
		return api.create_credit_note_allocation(NZ, note_id, Allocations(allocations=[alloc]))

	for target, amount, message in [
		(
			inv.invoice_id,
			"46.01",
			"Credit Note cannot be allocated as amount is greater than amount outstanding",
		),
		(other.invoice_id, "1.00", "Credit Note cannot be allocated to an incorrect invoice type"),
	]:
		with pytest.raises(AccountingBadRequestException) as err:
			allocate(target, amount)
		assert err.value.reason == message
	done = allocate(inv.invoice_id, "46.00").allocations[0]
	assert done.amount == D("46.00") and done.invoice.invoice_id == inv.invoice_id
	fetched_inv = api.get_invoice(NZ, inv.invoice_id).invoices[0]
	assert (fetched_inv.amount_credited, fetched_inv.amount_due) == (D("46.00"), D("69.00"))
	fetched_note = api.get_credit_note(NZ, note.credit_note_id).credit_notes[0]
	assert fetched_note.status == "PAID" and fetched_note.remaining_credit == D("0.00")
	assert fetched_note.allocations[0].invoice.invoice_id == inv.invoice_id
	with pytest.raises(AccountingBadRequestException) as err:
		api.update_credit_note(
			NZ,
			note.credit_note_id,
			CreditNotes(credit_notes=[CreditNote(credit_note_id=note.credit_note_id, status="VOIDED")]),
		)
	assert (
		err.value.reason
		== "This document cannot be edited as it has a payment or credit note allocated to it."
	)
	big = credit_note(emu.ids["tui"], "CN-T2", amount="100.00")
	note2 = api.create_credit_notes(NZ, CreditNotes(credit_notes=[big])).credit_notes[0]
	allocate(inv.invoice_id, "69.00", note2.credit_note_id)
	with pytest.raises(AccountingBadRequestException) as err:
		allocate(inv.invoice_id, "1.00", note2.credit_note_id)
	assert err.value.reason == "The invoice you are trying to allocate to has already been paid off"
	rows = {r["number"]: r for r in emu.ledger(NZ)}
	assert rows["INV-T1"]["status"] == "PAID" and rows["CN-T2"]["remaining_credit"] == D("46.00")
	assert len(rows["INV-T1"]["allocations"]) == 2
	found = api.get_credit_notes(NZ, where='CreditNoteNumber=="CN-T2" AND Type=="ACCRECCREDIT"').credit_notes
	assert [n.credit_note_id for n in found] == [note2.credit_note_id]


def test_draft_credit_note_cannot_be_allocated(emu, api):
	inv = api.create_invoices(NZ, Invoices(invoices=[invoice(emu.ids["tui"])])).invoices[0]
	draft = credit_note(emu.ids["tui"], status="DRAFT")
	note = api.create_credit_notes(NZ, CreditNotes(credit_notes=[draft])).credit_notes[0]
	alloc = Allocation(invoice=Invoice(invoice_id=inv.invoice_id), amount=D("1.00"), date=dt.date(2024, 3, 6))
	with pytest.raises(AccountingBadRequestException):
		api.create_credit_note_allocation(NZ, note.credit_note_id, Allocations(allocations=[alloc]))


# ---- contacts ----------------------------------------------------------------------------------


def test_contact_rules(emu, api):
	with pytest.raises(AccountingBadRequestException) as err:
		api.create_contacts(NZ, Contacts(contacts=[Contact(name="tui hardware ltd")]))
	assert "must be unique across all active contacts" in err.value.reason
	with pytest.raises(AccountingBadRequestException) as err:
		api.create_contacts(NZ, Contacts(contacts=[Contact(name="New Co", contact_number="CUST-1")]))
	assert err.value.reason == "The contact number CUST-1 is already assigned to another contact."
	made = api.create_contacts(NZ, Contacts(contacts=[Contact(name="Moa Old Ltd", contact_number="C-9")]))
	assert made.contacts[0].contact_status == "ACTIVE"
	assert api.get_contact_by_contact_number(NZ, "CUST-1").contacts[0].contact_id == emu.ids["tui"]
	names = [
		c.name for c in api.get_contacts(NZ, where='ContactNumber=="SUPP-1" OR Name=="Moa Old Ltd"').contacts
	]
	assert names == ["Kea Supplies Ltd", "Moa Old Ltd"]
	assert len(api.get_contacts(NZ, include_archived=True).contacts) == 4
	assert len(api.get_contacts(NZ).contacts) == 3


# ---- idempotency -------------------------------------------------------------------------------


def test_idempotent_replay_and_key_reuse(emu, api):
	body = Invoices(invoices=[bill(emu.ids["kea"])])
	first = api.create_invoices(NZ, body, idempotency_key="key-1")
	first_raw = api.api_client.last_response.data
	second = api.create_invoices(NZ, body, idempotency_key="key-1")
	assert first.invoices[0].invoice_id == second.invoices[0].invoice_id
	assert api.api_client.last_response.data == first_raw
	assert len(emu.ledger(NZ)) == 1 and emu.calls[("PUT", "Invoices")] == 2
	with pytest.raises(AccountingBadRequestException) as err:
		api.create_invoices(NZ, Invoices(invoices=[bill(emu.ids["kea"], "SUP-2")]), idempotency_key="key-1")
	assert json.loads(err.value.body)["Title"] == "Idempotency Key reused"
	emu.advance(361)  # past the 6-minute window the key is new again: a real duplicate
	api.create_invoices(NZ, body, idempotency_key="key-1")
	assert len(emu.ledger(NZ)) == 2


def test_idempotent_errors_are_replayed(emu, api):
	body = Invoices(invoices=[invoice(emu.ids["tui"], lines=[line(account="999")])])
	for _ in range(2):
		with pytest.raises(AccountingBadRequestException):
			api.create_invoices(NZ, body, idempotency_key="bad-1")
	emu.tenants[NZ].accounts["999"] = dict(emu.tenants[NZ].accounts["200"], Code="999")
	with pytest.raises(AccountingBadRequestException):
		api.create_invoices(NZ, body, idempotency_key="bad-1")
	assert api.create_invoices(NZ, body, idempotency_key="bad-2").invoices[0].invoice_id


def test_concurrent_duplicate_waits_for_first(emu):
	emu.inject("latency:0.4", method="PUT", endpoint="Invoices", times=1)
	results = []

	def push():
		api = AccountingApi(sdk_client(emu), base_url=emu.api_url)
		inv = api.create_invoices(NZ, Invoices(invoices=[bill(emu.ids["kea"])]), idempotency_key="same")
		results.append(inv.invoices[0].invoice_id)

	threads = [threading.Thread(target=push) for _ in range(2)]
	threads[0].start()
	time.sleep(0.1)
	threads[1].start()
	for t in threads:
		t.join(5)
	assert len(results) == 2 and results[0] == results[1] and len(emu.ledger(NZ)) == 1


# ---- faults ------------------------------------------------------------------------------------


def test_injected_status_faults(emu, api):
	body = Invoices(invoices=[bill(emu.ids["kea"])])
	emu.inject("500", method="PUT", endpoint="Invoices")
	with pytest.raises(HTTPStatusException) as err:
		api.create_invoices(NZ, body)
	assert err.value.status == 500
	emu.inject("503", endpoint="Invoices", tenant_id=NZ)
	with pytest.raises(HTTPStatusException) as err:
		api.create_invoices(NZ, body)
	assert err.value.status == 503
	emu.inject("429", endpoint="Organisation")
	with pytest.raises(RateLimitException) as err:
		api.get_organisations(NZ)
	assert err.value.headers["Retry-After"] == "1"
	assert emu.ledger(NZ) == [] and emu.faults_injected == 3 and emu.rate_limit_hits == 0
	api.create_invoices(NZ, body)
	assert len(emu.ledger(NZ)) == 1


def test_latency_fault_delays_but_succeeds(emu, api):
	emu.inject("latency:0.3", endpoint="Organisation")
	started = time.monotonic()
	assert api.get_organisations(NZ).organisations[0].short_code == "!kTl1"
	assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_drop_before_commit_applies_nothing(emu, api, method):
	emu.inject("drop_before_commit", method=method, endpoint="Invoices")
	call = api.create_invoices if method == "PUT" else api.update_or_create_invoices
	with pytest.raises(NETWORK_ERRORS):
		call(NZ, Invoices(invoices=[bill(emu.ids["kea"])]), idempotency_key="k")
	assert emu.ledger(NZ) == []


def test_lost_after_commit_applies_and_replays(emu, api):
	emu.inject("lost_after_commit", method="PUT", endpoint="Invoices")
	body = Invoices(invoices=[invoice(emu.ids["tui"])])
	with pytest.raises(NETWORK_ERRORS):
		api.create_invoices(NZ, body, idempotency_key="lost-1")
	assert [r["number"] for r in emu.ledger(NZ)] == ["INV-T1"]
	again = api.create_invoices(NZ, body, idempotency_key="lost-1").invoices[0]
	assert again.invoice_id == emu.ledger(NZ)[0]["xero_id"]
	with pytest.raises(AccountingBadRequestException) as err:
		api.create_invoices(NZ, body, idempotency_key="lost-2")
	assert err.value.reason == "Invoice # must be unique."
	assert emu.calls[("PUT", "Invoices")] == 3


LATE = (2, 0.3)  # connect, read timeout: the client gives up long before the held create commits


@pytest.mark.parametrize(
	("endpoint", "create"),
	[
		(
			"Invoices",
			lambda api, emu: api.create_invoices(
				NZ, Invoices(invoices=[bill(emu.ids["kea"])]), _request_timeout=LATE
			),
		),
		(
			"CreditNotes",
			lambda api, emu: api.create_credit_notes(
				NZ, CreditNotes(credit_notes=[credit_note(emu.ids["tui"])]), _request_timeout=LATE
			),
		),
		(
			"Contacts",
			lambda api, emu: api.create_contacts(
				NZ, Contacts(contacts=[Contact(name="Late Ltd")]), _request_timeout=LATE
			),
		),
	],
)
def test_late_commit_lands_after_the_client_gave_up(emu, api, endpoint, create):
	"""The create is held past the read timeout; the client sees a timeout, then the document appears."""
	emu.inject("late_commit:0.8", method="PUT", endpoint=endpoint)
	count = lambda: len(emu.ledger(NZ)) + len(emu.contacts(NZ))  # noqa: E731
	before = count()
	started = time.monotonic()
	with pytest.raises(NETWORK_ERRORS):
		create(api, emu)
	assert time.monotonic() - started < 0.8
	assert count() == before  # the client gave up before Xero committed
	deadline = time.monotonic() + 5
	while count() == before and time.monotonic() < deadline:
		time.sleep(0.05)
	assert count() == before + 1
	assert emu.faults_injected == 1


def test_late_commit_spares_reads_and_updates(emu, api):
	"""Only creates can commit late: a GET or a POST under the same rule is untouched."""
	emu.inject("late_commit:5", endpoint="Invoices", times=None)
	started = time.monotonic()
	assert api.get_invoices(NZ).invoices == []
	api.update_or_create_invoices(NZ, Invoices(invoices=[invoice(emu.ids["tui"])]))
	assert time.monotonic() - started < 2 and len(emu.ledger(NZ)) == 1
	assert emu.faults_injected == 0


def test_interceptor_sees_a_create_before_and_after_it_is_applied(emu, api):
	seen = []
	emu.interceptor = lambda phase, method, endpoint, headers: seen.append(
		(phase, method, endpoint, headers.get("X-Probe"), len(emu.ledger(NZ)))
	)
	client = api.api_client
	client.default_headers["X-Probe"] = "p1"
	api.create_invoices(NZ, Invoices(invoices=[bill(emu.ids["kea"])]))
	assert seen == [("before", "PUT", "Invoices", "p1", 0), ("after", "PUT", "Invoices", "p1", 1)]


def test_slow_endpoint_takes_longer_and_others_do_not(emu, api):
	emu.slow("PUT", "Contacts", 0.4)
	started = time.monotonic()
	api.create_contacts(NZ, Contacts(contacts=[Contact(name="Slow Ltd")]))
	assert time.monotonic() - started >= 0.4
	started = time.monotonic()
	api.get_contacts(NZ)
	assert time.monotonic() - started < 0.4 and emu.faults_injected == 0


def test_chaos_is_reproducible_by_seed(emu):
	def outcomes(seed):
		emu.set_chaos(rate=0.5, seed=seed, faults=("500", "503", "429"))
		codes = [http(emu, "POST", "/api.xro/2.0/Contacts", headers=_raw_headers()).status for _ in range(12)]
		emu.set_chaos(rate=0)
		return codes

	first, second = outcomes(7), outcomes(7)
	assert first == second and {500, 503, 429} & set(first) and 200 in first
	assert http(emu, "GET", "/api.xro/2.0/Organisation", headers=_raw_headers()).status == 200


def _raw_headers(tenant=NZ, **extra):
	"""Headers for raw Accounting API calls."""
	return {"Authorization": "Bearer anything", "xero-tenant-id": tenant, **extra}


# ---- wire details ------------------------------------------------------------------------------


def test_wire_accepts_iso_dates_and_errors_for_bad_tenant_or_auth(emu):
	body = {
		"Invoices": [
			{
				"Type": "ACCPAY",
				"Contact": {"ContactID": emu.ids["kea"]},
				"Date": "2024-03-05",
				"DueDate": "/Date(1712275200000+0000)/",
				"LineItems": [{"Description": "x", "Quantity": 2, "UnitAmount": 1.5, "AccountCode": "400"}],
			}
		]
	}
	reply = http(emu, "PUT", "/api.xro/2.0/Invoices", headers=_raw_headers(), body=json.dumps(body))
	assert reply.status == 200 and reply.headers["X-MinLimit-Remaining"]
	data = reply.json()
	assert data["Status"] == "OK" and data["Invoices"][0]["Date"] == "/Date(1709596800000+0000)/"
	assert data["Invoices"][0]["Total"] == 3.45  # INPUT2 default from account 400
	assert http(emu, "GET", "/api.xro/2.0/Invoices", headers=_raw_headers("nope")).status == 403
	assert http(emu, "GET", "/api.xro/2.0/Invoices", headers={"xero-tenant-id": NZ}).status == 401


def test_rate_limit_minute_and_concurrency(emu):
	limited = XeroEmulator(rate_limits=True, time_scale=10)
	limited.start()
	try:
		limited.add_tenant(NZ)
		api = AccountingApi(sdk_client(limited), base_url=limited.api_url)
		for _ in range(60):
			_, _, headers = api.get_organisations(NZ, _return_http_data_only=False)
		assert headers["X-MinLimit-Remaining"] == "0" and headers["X-DayLimit-Remaining"] == "4940"
		with pytest.raises(RateLimitException) as err:
			api.get_organisations(NZ)
		assert err.value.rate_limit == "minute" and int(err.value.headers["Retry-After"]) >= 1
		assert limited.rate_limit_hits == 1
		limited.advance(61)
		api.get_organisations(NZ)
		limited.inject("latency:0.4", endpoint="Currencies", times=6)
		statuses: list[int] = []

		def call():
			reply = http(limited, "GET", "/api.xro/2.0/Currencies", headers=_raw_headers())
			statuses.append((reply.status, reply.headers.get("X-Rate-Limit-Problem")))

		threads = [threading.Thread(target=call) for _ in range(6)]
		for t in threads:
			t.start()
			time.sleep(0.02)
		for t in threads:
			t.join(5)
		assert sorted(statuses, key=str) == [(200, None)] * 5 + [(429, "concurrent")]
	finally:
		limited.stop()


def test_day_limit(emu):
	limited = XeroEmulator(rate_limits=True)
	limited.start()
	try:
		limited.add_tenant(NZ, day_limit=2)
		api = AccountingApi(sdk_client(limited), base_url=limited.api_url)
		api.get_organisations(NZ)
		api.get_organisations(NZ)
		with pytest.raises(RateLimitException) as err:
			api.get_organisations(NZ)
		assert err.value.rate_limit == "day"
	finally:
		limited.stop()


# ---- OAuth and identity ------------------------------------------------------------------------


def _token_call(emu, **form):
	"""POST the token endpoint."""
	headers = {"Content-Type": "application/x-www-form-urlencoded"}
	return http(emu, "POST", "/connect/token", body=urlencode(form), headers=headers)


def test_token_rotation_grace_and_invalid_grant(emu):
	code = emu.issue_code()
	first = _token_call(emu, grant_type="authorization_code", code=code, redirect_uri="http://x").json()
	assert first["expires_in"] == 1800 and first["token_type"] == "Bearer" and " " in first["scope"]
	assert _token_call(emu, grant_type="authorization_code", code=code).json() == {"error": "invalid_grant"}
	rotated = _token_call(emu, grant_type="refresh_token", refresh_token=first["refresh_token"]).json()
	assert rotated["refresh_token"] != first["refresh_token"]
	emu.advance(1700)
	replay = _token_call(emu, grant_type="refresh_token", refresh_token=first["refresh_token"]).json()
	assert replay == rotated
	emu.advance(200)
	late = _token_call(emu, grant_type="refresh_token", refresh_token=first["refresh_token"])
	assert late.status == 400 and late.json() == {"error": "invalid_grant"}
	assert _token_call(emu, grant_type="refresh_token", refresh_token="bogus").status == 400
	assert _token_call(emu, grant_type="refresh_token", refresh_token=rotated["refresh_token"]).status == 200
	assert emu.token_calls == 7


def test_sdk_refreshes_through_emulator_and_strict_auth(emu, monkeypatch):
	strict = XeroEmulator(strict_auth=True)
	strict.start()
	try:
		strict.add_tenant(NZ)
		monkeypatch.setattr(TokenApi, "refresh_token_url", strict.token_url)
		raw = strict.issue_tokens()
		client = sdk_client(strict, _sdk_token(raw, expires_at=time.time() - 10))
		api = AccountingApi(client, base_url=strict.api_url)
		assert api.get_organisations(NZ).organisations[0].name == NZ
		assert strict.token_calls == 1
		assert client.token_state["token"]["refresh_token"] != raw["refresh_token"]
		strict.advance(1801)
		with pytest.raises(HTTPStatusException) as err:
			api.get_organisations(NZ)
		assert err.value.status == 401 and "TokenExpired" in json.loads(err.value.body)["Detail"]
		bogus = AccountingApi(
			sdk_client(strict, _sdk_token({**raw, "access_token": "forged"})), base_url=strict.api_url
		)
		with pytest.raises(HTTPStatusException):
			bogus.get_organisations(NZ)
	finally:
		strict.stop()


def test_connections_list_and_delete(emu):
	identity = IdentityApi(sdk_client(emu), base_url=emu.identity_url)
	connections = identity.get_connections()
	assert {c.tenant_id for c in connections} == {NZ, AU}
	assert connections[0].tenant_type == "ORGANISATION"
	nz = next(c for c in connections if c.tenant_id == NZ)
	identity.delete_connection(nz.id)
	assert [c.tenant_id for c in identity.get_connections()] == [AU]
	assert http(emu, "GET", "/api.xro/2.0/Organisation", headers=_raw_headers()).status == 403


# ---- control plane and standalone ---------------------------------------------------------------


def test_http_control_endpoints(emu):
	def post(name, payload):
		return http(emu, "POST", f"/__emulator/{name}", body=json.dumps(payload))

	assert post("tenants", {"tenant_id": "t3", "name": "Three", "currencies": ["NZD"]}).status == 201
	contact_id = post("contacts", {"tenant_id": "t3", "name": "C", "contact_number": "N1"}).json()[
		"contact_id"
	]
	body = {"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "Status": "AUTHORISED",
		"LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 10.5, "AccountCode": "200"}]}]}  # fmt: skip
	post("faults", {"fault": "500", "method": "PUT", "endpoint": "Invoices", "times": 1})
	headers = _raw_headers("t3")
	assert http(emu, "PUT", "/api.xro/2.0/Invoices", headers=headers, body=json.dumps(body)).status == 500
	assert http(emu, "PUT", "/api.xro/2.0/Invoices", headers=headers, body=json.dumps(body)).status == 200
	ledger = http(emu, "GET", "/__emulator/ledger?tenant_id=t3").json()
	assert ledger[0]["total"] == "12.08" and ledger[0]["number"] == "INV-0001"
	calls = http(emu, "GET", "/__emulator/calls").json()
	assert calls["calls"]["PUT Invoices"] == 2 and calls["faults"] == 1
	assert post("reset", {}).status == 200
	assert emu.tenants == {} and emu.total_calls() == 0


def test_standalone_seed_demo_starts():
	proc = subprocess.Popen(
		[sys.executable, "-m", "tests.emulator", "--port", "0", "--seed-demo", "--time-scale", "60"],
		cwd=REPO,
		stdout=subprocess.PIPE,
		text=True,
	)
	try:
		first = proc.stdout.readline()
		base = first.strip().rsplit(" ", 1)[-1]
		assert base.startswith("http://127.0.0.1:")
		output = "".join(proc.stdout.readline() for _ in range(8))
		assert "xero_api_url" in output and "xero_authorize_url" in output
		reply = urllib3.request(
			"GET", base + "/Connections", headers={"Authorization": "Bearer x"}, retries=False
		)
		assert sorted(c["tenantId"] for c in reply.json()) == [AU, NZ]
	finally:
		proc.kill()
		proc.wait(5)


def test_a_request_over_xeros_size_cap_is_refused_with_413_and_nothing_is_saved(emu):
	"""Xero's 3.5 MB cap, on a create (PUT) and an update (POST): refused before anything is read."""
	line = {"Description": "x" * 3900, "Quantity": 1, "UnitAmount": 1, "AccountCode": "200"}
	invoice = {"Type": "ACCREC", "Contact": {"Name": "Big Order Ltd"}, "LineItems": [line] * 900}
	body = json.dumps({"Invoices": [invoice]}).encode()
	assert len(body) > 3_500_000
	before = len(emu.ledger(NZ))
	for method in ("PUT", "POST"):
		reply = http(emu, method, "/api.xro/2.0/Invoices", headers=_raw_headers(), body=body)
		assert reply.status == 413, method
	assert len(emu.ledger(NZ)) == before and emu.too_large == 2 and emu.max_request_bytes == len(body)
