"""View in Xero for Payment Entries, end to end: the links read from the row the payment drain really wrote
(MariaDB journal, SDK over HTTP, the emulator's Payments as the truth), and the wait messages the
workspace's "Payments waiting for their invoice" card counts."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qs, urlparse

from nexwave_xero_connector.sync.payment_mapping import WAITING_PREFIX
from nexwave_xero_connector.xero.links import payment_links

from .test_payment_push import SI, _payments, _submit_pe, _synced_invoice, _two_refs
from .test_payment_push import pworld as pworld  # the fixture, re-exported

SHORT_CODE = "!kTl1"  # the emulator organisation of tests/support/world.py


def _links(world, pe: str) -> list:
	log = world.log(pe)
	return payment_links(SHORT_CODE, log["response"], log["xero_id"])


def _payment_id(url: str) -> str:
	query = parse_qs(urlparse(url).query)
	assert query["shortcode"] == [SHORT_CODE]
	redirect = urlparse(query["redirecturl"][0])
	assert redirect.path == "/Bank/ViewTransaction.aspx"
	return parse_qs(redirect.query)["bankTransactionID"][0]


def test_a_synced_entry_links_each_of_its_payments_in_xero(pworld, emulator):
	pe, invoices = _two_refs(pworld)
	pworld.drain()
	assert pworld.log(pe)["status"] == "Synced"
	links = _links(pworld, pe)
	live = {p["PaymentID"]: p for p in _payments(pworld, pe)}
	assert len(links) == len(live) == 2
	assert {_payment_id(link.url) for link in links} == set(live)
	for link in links:
		assert link.against == live[link.payment_id]["Invoice"]["InvoiceNumber"]
		assert link.amount == f"{live[link.payment_id]['Amount']:.2f}"
	assert sorted(link.against for link in links) == sorted(invoices)


def test_an_orphan_links_only_the_payment_xero_kept(pworld, emulator):
	pe, _ = _two_refs(pworld)
	pworld.drain()
	kept = _payments(pworld, pe)[0]
	emulator.reconcile_payment(pworld.tenant_id, kept["PaymentID"])
	pworld.erp.cancel("Payment Entry", pe)
	pworld.drain()
	assert pworld.log(pe)["status"] == "Orphan"
	assert [link.payment_id for link in _links(pworld, pe)] == [kept["PaymentID"]]


def test_a_voided_entry_has_nothing_left_to_view(pworld, emulator):
	pe, _ = _two_refs(pworld)
	pworld.drain()
	pworld.erp.cancel("Payment Entry", pe)
	pworld.drain()
	log = pworld.log(pe)
	assert log["status"] == "Voided" and log["xero_id"]  # the row still names its first payment
	assert _links(pworld, pe) == []


def test_a_payment_waiting_for_a_draft_invoice_says_so_with_the_cards_prefix(pworld, emulator):
	pworld.config = dataclasses.replace(pworld.config, posting_status="DRAFT")
	inv = _synced_invoice(pworld)
	pe = _submit_pe(pworld, refs=[(SI, inv, "100.00")])
	emulator.reset_counters()
	pworld.drain()
	log = pworld.log(pe)
	assert log["status"] == "Queued" and log["error_message"].startswith(f"{WAITING_PREFIX}{SI} {inv}")
	assert "DRAFT" in log["error_message"] and emulator.calls[("PUT", "Payments")] == 0
