"""Payment Entries on the desk: View in Xero on the Payment Entry form and on its log row (one button per
Xero payment), and the workspace's payment cards and shortcut (run with bench run-tests on an ERPNext site).

The workspace and card JSON are read from the app's files, so these tests hold before bench migrate has
imported them; their filters then run through Frappe's own Number Card query."""

import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import frappe
from erpnext.accounts.doctype.payment_entry.payment_entry import get_payment_entry
from erpnext.accounts.doctype.sales_invoice.test_sales_invoice import create_sales_invoice
from frappe.desk.doctype.number_card.number_card import get_result
from frappe.model import default_fields
from frappe.utils import fmt_money, today

from nexwave_xero_connector import adapters, api
from nexwave_xero_connector.constants import (
	LOG_DOCTYPE,
	PAYMENT_ENTRY_DOCTYPE,
	SALES_INVOICE_DOCTYPE,
)
from nexwave_xero_connector.sync.payment_mapping import WAITING_PREFIX
from nexwave_xero_connector.tests.test_api import OUTSIDER, READER, ApiTestCase, make_row
from nexwave_xero_connector.tests.utils import log_rows

test_dependencies = ["Customer", "Item", "Cost Center", "Warehouse"]

MODULE = Path(__file__).resolve().parents[1] / "nexwave_xero_connector"
SHORT_CODE = "!pay1"
PAY_1 = "0d666415-cf77-43fa-80c7-56775591d426"
PAY_2 = "6b037c9b-2e5d-4905-84d3-eabfb3122242"
PAY_3 = "9a4c1e2f-51b0-4f43-a3f2-1b8c2d2e7a10"


def payment_id_of(url: str) -> str:
	"""The PaymentID a View in Xero link opens, checking it goes through the organisation's short code."""
	query = parse_qs(urlparse(url).query)
	assert query["shortcode"] == [SHORT_CODE], url
	redirect = urlparse(query["redirecturl"][0])
	assert redirect.path == "/Bank/ViewTransaction.aspx", url
	return parse_qs(redirect.query)["bankTransactionID"][0]


def described(*payments: tuple) -> str:
	"""A Payment Entry row's response as the payment drain writes it: (payment_id, against, amount, status)."""
	return json.dumps(
		{
			"payments": [
				{"payment_id": p, "against": against, "amount": amount, "status": status}
				for p, against, amount, status in payments
			]
		}
	)


class PaymentDeskTestCase(ApiTestCase):
	def setUp(self):
		super().setUp()  # payments are not synced: submitting the entry queues no row of its own
		settings = adapters.read_settings()
		settings.tenants[0].short_code = SHORT_CODE
		adapters.save_settings(settings)

	def payment_entry(self) -> str:
		"""A submitted receipt against a fresh Sales Invoice, with no Xero Sync Log row."""
		pe = get_payment_entry(SALES_INVOICE_DOCTYPE, create_sales_invoice().name)
		pe.reference_no, pe.reference_date = "XERO-DESK", today()
		pe.insert()
		pe.submit()
		self.assertEqual(log_rows(PAYMENT_ENTRY_DOCTYPE, pe.name), [])
		return pe.name

	def payment_row(self, entry: str, status: str = "Synced", **values) -> str:
		"""The entry's log row as the payment drain leaves it."""
		return make_row(
			status,
			reference_doctype=PAYMENT_ENTRY_DOCTYPE,
			reference_name=entry,
			xero_type="PAYMENT",
			**values,
		)


class TestViewPaymentsInXero(PaymentDeskTestCase):
	def test_the_form_gets_one_button_per_live_payment_saying_what_it_pays(self):
		entry = self.payment_entry()
		self.payment_row(
			entry,
			xero_id=PAY_1,
			xero_number="2 payments",
			response=described(
				(PAY_1, "SINV-A", "100.00", "AUTHORISED"),
				(PAY_3, "SINV-C", "5.00", "DELETED"),
				(PAY_2, "SINV-B", "50.00", "AUTHORISED"),
			),
		)
		info = api.sync_status(PAYMENT_ENTRY_DOCTYPE, entry)
		self.assertEqual(info["row"].xero_type, "PAYMENT")
		self.assertEqual(
			[link["label"] for link in info["xero_links"]],
			["View in Xero: payment of 100.00 on SINV-A", "View in Xero: payment of 50.00 on SINV-B"],
		)
		self.assertEqual([payment_id_of(link["url"]) for link in info["xero_links"]], [PAY_1, PAY_2])
		self.assertEqual(info["xero_url"], info["xero_links"][0]["url"])
		self.assertNotIn("response", info["row"], "the row sent to the form stays small")

	def test_a_payment_on_a_real_invoice_reads_in_that_invoices_currency(self):
		entry = self.payment_entry()
		invoice = frappe.get_doc(SALES_INVOICE_DOCTYPE, create_sales_invoice().name)
		self.payment_row(
			entry,
			xero_id=PAY_1,
			response=described(
				(PAY_1, invoice.name, "60.0", "AUTHORISED"), (PAY_2, "SINV-B", "0.0", "AUTHORISED")
			),
		)
		labels = [link["label"] for link in api.sync_status(PAYMENT_ENTRY_DOCTYPE, entry)["xero_links"]]
		self.assertEqual(
			labels,
			[
				f"View in Xero: payment of {fmt_money(60, currency=invoice.currency)} on {invoice.name}",
				"View in Xero: payment of 0.00 on SINV-B",  # no such invoice here: no currency to show
			],
		)
		self.assertNotIn("60.0 ", labels[0])

	def test_one_payment_is_plain_view_in_xero(self):
		entry = self.payment_entry()
		self.payment_row(entry, xero_id=PAY_1, response=described((PAY_1, "SINV-A", "100.00", "AUTHORISED")))
		[link] = api.sync_status(PAYMENT_ENTRY_DOCTYPE, entry)["xero_links"]
		self.assertEqual(link["label"], "View in Xero")
		self.assertEqual(payment_id_of(link["url"]), PAY_1)

	def test_two_payments_of_the_same_amount_on_one_invoice_keep_two_buttons(self):
		entry = self.payment_entry()
		self.payment_row(
			entry,
			xero_id=PAY_1,
			response=described(
				(PAY_1, "SINV-A", "50.00", "AUTHORISED"), (PAY_2, "SINV-A", "50.00", "AUTHORISED")
			),
		)
		labels = [link["label"] for link in api.sync_status(PAYMENT_ENTRY_DOCTYPE, entry)["xero_links"]]
		self.assertEqual(len(set(labels)), 2, labels)
		self.assertIn(PAY_2, labels[1])

	def test_a_voided_entry_and_one_never_sent_have_nothing_to_view(self):
		voided, unsent = self.payment_entry(), self.payment_entry()
		self.payment_row(voided, "Voided", xero_id=PAY_1, response=described((PAY_1, "S", "1.00", "DELETED")))
		self.payment_row(unsent, "Queued", error_message=f"{WAITING_PREFIX}SINV-X to be in Xero")
		for entry in (voided, unsent):
			info = api.sync_status(PAYMENT_ENTRY_DOCTYPE, entry)
			self.assertEqual((info["xero_links"], info["xero_url"]), ([], None), entry)

	def test_an_entry_whose_row_was_cleared_has_no_link(self):
		info = api.sync_status(PAYMENT_ENTRY_DOCTYPE, self.payment_entry())
		self.assertEqual((info["row"], info["xero_links"], info["xero_url"]), (None, [], None))

	def test_the_log_row_form_shows_the_same_buttons(self):
		entry = self.payment_entry()
		name = self.payment_row(
			entry,
			"Orphan",
			xero_id=PAY_1,
			response=described(
				(PAY_1, "SINV-A", "10.00", "DELETED"), (PAY_2, "SINV-B", "20.00", "AUTHORISED")
			),
		)
		log = frappe.get_doc(LOG_DOCTYPE, name)
		log.run_method("onload")
		[link] = log.get_onload().get("xero_links")
		self.assertEqual(payment_id_of(link["url"]), PAY_2, "the payment Xero kept, not the deleted first")
		self.assertEqual(api.xero_url(name), link["url"])

	def test_invoice_rows_keep_their_single_link(self):
		name = make_row("Synced", xero_id="inv-9", xero_type="ACCREC")
		log = frappe.get_doc(LOG_DOCTYPE, name)
		log.run_method("onload")
		[link] = log.get_onload().get("xero_links")
		self.assertEqual(link["label"], "View in Xero")
		query = parse_qs(urlparse(link["url"]).query)
		self.assertEqual(query["redirecturl"], ["/AccountsReceivable/View.aspx?InvoiceID=inv-9"])

	def test_who_may_see_the_links(self):
		entry = self.payment_entry()
		name = self.payment_row(entry, xero_id=PAY_1, response=described((PAY_1, "S", "1.00", "AUTHORISED")))
		with self.set_user(READER):
			self.assertEqual(len(api.sync_status(PAYMENT_ENTRY_DOCTYPE, entry)["xero_links"]), 1)
			self.assertEqual(payment_id_of(api.xero_url(name)), PAY_1)
		with self.set_user(OUTSIDER):
			self.assertRaises(frappe.PermissionError, api.sync_status, PAYMENT_ENTRY_DOCTYPE, entry)
			self.assertRaises(frappe.PermissionError, api.xero_url, name)
		self.assertRaises(frappe.ValidationError, api.sync_status, "Delivery Note", entry)  # not sent to Xero


class TestPaymentWorkspace(PaymentDeskTestCase):
	workspace = json.loads((MODULE / "workspace/xero_sync/xero_sync.json").read_text())

	@staticmethod
	def card(name: str) -> dict:
		folder = frappe.scrub(name)
		return json.loads((MODULE / f"number_card/{folder}/{folder}.json").read_text())

	def assert_field(self, doctype: str, fieldname: str) -> None:
		meta = frappe.get_meta(doctype)
		self.assertTrue(
			meta.has_field(fieldname) or fieldname in default_fields,
			f"{doctype} has no field {fieldname}",
		)

	def test_the_workspace_names_existing_doctypes_and_fields(self):
		for shown in self.workspace["number_cards"]:
			card = self.card(shown["number_card_name"])
			self.assertTrue(frappe.db.exists("DocType", card["document_type"]), card["name"])
			for doctype, fieldname, *_ in json.loads(card["filters_json"]):
				self.assertEqual(doctype, card["document_type"])
				self.assert_field(doctype, fieldname)
		for shortcut in self.workspace["shortcuts"]:
			self.assertTrue(frappe.db.exists("DocType", shortcut["link_to"]), shortcut["label"])
			for doctype, fieldname, *_ in json.loads(shortcut.get("stats_filter") or "[]"):
				self.assertEqual(doctype, shortcut["link_to"])
				self.assert_field(doctype, fieldname)
		meta = frappe.get_meta(LOG_DOCTYPE)
		self.assertTrue(meta.get_field("reference_doctype").in_standard_filter)
		self.assertTrue(meta.get_field("xero_type").in_standard_filter)

	def count(self, card: dict, names: list[str]) -> int:
		"""The card's number, through Frappe's own query, over `names` only."""
		filters = [*json.loads(card["filters_json"]), [LOG_DOCTYPE, "name", "in", names]]
		return int(get_result(card, filters))

	def test_the_payment_cards_count_what_the_payment_drain_leaves(self):
		entries = [self.payment_entry() for _ in range(4)]
		waiting = [
			self.payment_row(
				entries[0],
				"Queued",
				error_message=f"{WAITING_PREFIX}ACC-SINV-1 to be in Xero: the payment follows its invoice.",
			),
			self.payment_row(
				entries[1],
				"Queued",
				error_message=f"{WAITING_PREFIX}Sales Invoice ACC-SINV-2 to be approved in Xero, where it is "
				"still DRAFT: approve it there, and the payment follows.",
			),
		]
		queued = self.payment_row(entries[2], "Queued")  # fresh: nothing to wait for
		failed = self.payment_row(entries[3], "Failed", error_message="Waiting for nothing: it failed.")
		invoice_failed = make_row("Failed")
		invoice_waiting = make_row("Queued", error_message=f"{WAITING_PREFIX}something")
		names = [*waiting, queued, failed, invoice_failed, invoice_waiting]
		with self.set_user(READER):
			self.assertEqual(self.count(self.card("Xero Payments Waiting"), names), 2)
			self.assertEqual(self.count(self.card("Xero Payments Failed"), names), 1)
			self.assertEqual(self.count(self.card("Xero Failed"), names), 2, "the invoice card counts both")
			shortcut = next(s for s in self.workspace["shortcuts"] if s["label"] == "Payments")
			filters = [*json.loads(shortcut["stats_filter"]), [LOG_DOCTYPE, "name", "in", names]]
			self.assertEqual(len(frappe.get_list(LOG_DOCTYPE, filters=filters, pluck="name")), 4)
