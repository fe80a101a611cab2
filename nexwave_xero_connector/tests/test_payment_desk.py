"""Payment Entries on the desk: View in Xero on the Payment Entry form and on its log row (one button per
Xero payment) (run with bench run-tests on an ERPNext site)."""

import json
from urllib.parse import parse_qs, urlparse

import frappe
from erpnext.accounts.doctype.payment_entry.payment_entry import get_payment_entry
from erpnext.accounts.doctype.sales_invoice.test_sales_invoice import create_sales_invoice
from frappe.utils import today

from nexwave_xero_connector import api
from nexwave_xero_connector.constants import (
	LOG_DOCTYPE,
	PAYMENT_ENTRY_DOCTYPE,
	SALES_INVOICE_DOCTYPE,
	SETTINGS_DOCTYPE,
)
from nexwave_xero_connector.tests.site_state import XeroTestCase
from nexwave_xero_connector.tests.test_api import MANAGER, OUTSIDER, READER, make_row, make_user
from nexwave_xero_connector.tests.utils import isolate_jobs, log_rows

test_dependencies = ["Customer", "Item", "Cost Center", "Warehouse"]

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


class PaymentDeskTestCase(XeroTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		make_user(MANAGER, "Accounts Manager")
		make_user(READER, "Accounts User")
		make_user(OUTSIDER, "Blogger")

	def setUp(self):
		isolate_jobs(self)  # payments are not synced: submitting the entry queues no row of its own
		settings = frappe.get_single(SETTINGS_DOCTYPE)
		settings.tenants[0].short_code = SHORT_CODE
		settings.save()

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
		self.payment_row(unsent, "Queued", error_message="Waiting for SINV-X to be in Xero")
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
		self.assertRaises(frappe.ValidationError, api.sync_status, "Journal Entry", entry)
