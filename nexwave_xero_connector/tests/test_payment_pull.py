"""Payments recorded in Xero become Payment Entries on a real ERPNext site: made by ERPNext's own
get_payment_entry in NZD and in USD (at the payment's rate, with ERPNext's exchange gain/loss), linked by the
unique Xero Payment ID, cancelled when the payment is deleted in Xero; a replayed listing makes nothing new
(run with bench run-tests)."""

from datetime import date
from decimal import Decimal

import frappe
from frappe.utils import flt, today

from nexwave_xero_connector import adapters, jobs, status_job
from nexwave_xero_connector.constants import LOG_DOCTYPE
from nexwave_xero_connector.sync.config import PAYMENTS_IN_XERO
from nexwave_xero_connector.sync.payments_from_xero import PaidInXero, row_name
from nexwave_xero_connector.tests.site_state import XeroTestCase
from nexwave_xero_connector.tests.test_stock_nz_tax import (
	COMPANY,
	first_leaf,
	make_party,
	make_service_item,
	make_stock_nz_company,
)
from nexwave_xero_connector.tests.utils import FakeGateway, connected, isolate_jobs

TENANT = "tenant-xero-payments"
XERO_BANK = "090"


class PaymentsListed:
	"""GET /Payments as the poll reads it: whatever the test says Xero holds now."""

	def __init__(self):
		self.payments: list[PaidInXero] = []
		self.since: list = []

	def payments_since(self, tenant_id, since):
		self.since.append(since)
		return list(self.payments)


class TestPaymentsFromXero(XeroTestCase):
	def setUp(self):
		isolate_jobs(self)
		frappe.db.delete("DefaultValue", {"defkey": status_job._key(TENANT)})  # the site's own stay
		self.accounts = make_stock_nz_company()
		self.bank = _bank_account()
		settings = adapters.read_settings()
		settings.set(
			"tenants",
			[
				{
					"company": COMPANY,
					"tenant_id": TENANT,
					"tenant_name": COMPANY,
					"payments_owned_by": PAYMENTS_IN_XERO,
					"pull_payments": 1,
				}
			],
		)
		settings.set(
			"bank_account_mappings",
			[{"company": COMPANY, "account": self.bank, "xero_bank_account": XERO_BANK}],
		)
		adapters.save_settings(settings)
		self.gateway = FakeGateway()
		self.gateway.payments = PaymentsListed()

	def paid(self, payment_id, invoice, amount, *, status="AUTHORISED", rate=None, currency="NZD"):
		return PaidInXero(
			payment_id=payment_id,
			status=status,
			payment_type="ACCRECPAYMENT",
			amount=Decimal(amount),
			date=date.fromisoformat(today()),
			currency_rate=None if rate is None else Decimal(rate),
			account_id="",
			account_code=XERO_BANK,
			reference=f"Xero {payment_id}",
			target_id=invoice.xero_id,
			target_type="ACCREC",
			target_number=invoice.name,
			currency=currency,
		)

	def poll_and_drain(self):
		with connected(self.gateway):
			results = status_job.poll_organisations()
			jobs.drain_tenant(TENANT)
		return results[TENANT]

	def entries(self, payment_id):
		return frappe.get_all(
			"Payment Entry", {"xero_payment_id": payment_id}, ["name", "docstatus"], order_by="creation"
		)

	def test_a_nzd_payment_in_xero_becomes_a_submitted_payment_entry_once(self):
		si = _invoice(self.accounts, "NZD", 1)
		self.gateway.payments.payments = [self.paid("pay-nzd-1", si, "150.00")]

		report = self.poll_and_drain()

		self.assertEqual(report.payments_queued, ["pay-nzd-1"])
		row = frappe.get_doc(LOG_DOCTYPE, row_name("pay-nzd-1"))
		self.assertEqual(row.status, "Synced", row.error_message)
		(entry,) = self.entries("pay-nzd-1")
		pe = frappe.get_doc("Payment Entry", entry.name)
		self.assertEqual((pe.docstatus, pe.payment_type, pe.party), (1, "Receive", si.customer))
		self.assertEqual((pe.paid_to, flt(pe.paid_amount), flt(pe.received_amount)), (self.bank, 150, 150))
		self.assertEqual(str(pe.posting_date), today())
		self.assertEqual(pe.reference_no, "Xero pay-nzd-1")
		self.assertEqual(
			[(r.reference_name, flt(r.allocated_amount)) for r in pe.references], [(si.name, 150)]
		)
		self.assertEqual((row.reference_doctype, row.reference_name), ("Payment Entry", pe.name))
		self.assertEqual(flt(frappe.db.get_value("Sales Invoice", si.name, "outstanding_amount")), 50)

		# Listed again (a lost watermark, an overlapping window) and drained again: still one entry.
		frappe.db.delete("DefaultValue", {"defkey": status_job._key(TENANT)})
		self.assertEqual(self.poll_and_drain().payments_queued, [])
		self.assertEqual(len(self.entries("pay-nzd-1")), 1)
		self.assertEqual(flt(frappe.db.get_value("Sales Invoice", si.name, "outstanding_amount")), 50)

	def test_a_usd_payment_is_recorded_at_the_payments_rate(self):
		si = _invoice(self.accounts, "USD", 1.7245)
		# 1 NZD bought 0.6 USD on the day the customer paid 100 USD of the 200 USD invoice.
		self.gateway.payments.payments = [self.paid("pay-usd-1", si, "100.00", rate="0.6", currency="USD")]

		self.poll_and_drain()

		row = frappe.get_doc(LOG_DOCTYPE, row_name("pay-usd-1"))
		self.assertEqual(row.status, "Synced", row.error_message)
		pe = frappe.get_doc("Payment Entry", self.entries("pay-usd-1")[0].name)
		self.assertEqual(pe.paid_from_account_currency, "USD")
		self.assertEqual((flt(pe.paid_amount), flt(pe.received_amount)), (100, 166.67))
		self.assertAlmostEqual(flt(pe.source_exchange_rate), 1.666666667, places=9)
		self.assertEqual(flt(pe.references[0].allocated_amount), 100)
		self.assertEqual(flt(frappe.db.get_value("Sales Invoice", si.name, "outstanding_amount")), 100)

	def test_a_bill_paid_in_xero_becomes_a_pay_entry_from_the_mapped_bank(self):
		bill = _bill(self.accounts)
		paid = self.paid("pay-bill-1", bill, "230.00")
		self.gateway.payments.payments = [
			PaidInXero(**{**paid.__dict__, "payment_type": "ACCPAYPAYMENT", "target_type": "ACCPAY"})
		]

		self.poll_and_drain()

		row = frappe.get_doc(LOG_DOCTYPE, row_name("pay-bill-1"))
		self.assertEqual(row.status, "Synced", row.error_message)
		pe = frappe.get_doc("Payment Entry", self.entries("pay-bill-1")[0].name)
		self.assertEqual((pe.payment_type, pe.party_type, pe.party), ("Pay", "Supplier", bill.supplier))
		self.assertEqual((pe.paid_from, flt(pe.paid_amount)), (self.bank, 230))
		self.assertEqual(flt(frappe.db.get_value("Purchase Invoice", bill.name, "outstanding_amount")), 0)

	def test_a_refund_in_xero_pays_out_against_the_sales_return(self):
		from erpnext.controllers.sales_and_purchase_return import make_return_doc

		si = _invoice(self.accounts, "NZD", 1)
		ret = make_return_doc("Sales Invoice", si.name)
		ret.update_outstanding_for_self = 1  # the return keeps its own balance, to be refunded
		ret.insert()
		ret.submit()
		_as_pushed(ret)
		self.assertEqual(flt(ret.outstanding_amount), -200)
		paid = self.paid("pay-refund-1", ret, "200.00")
		self.gateway.payments.payments = [
			PaidInXero(**{**paid.__dict__, "payment_type": "ARCREDITPAYMENT", "target_type": "ACCRECCREDIT"})
		]

		self.poll_and_drain()

		row = frappe.get_doc(LOG_DOCTYPE, row_name("pay-refund-1"))
		self.assertEqual(row.status, "Synced", row.error_message)
		pe = frappe.get_doc("Payment Entry", self.entries("pay-refund-1")[0].name)
		self.assertEqual((pe.payment_type, pe.paid_from, flt(pe.paid_amount)), ("Pay", self.bank, 200))
		self.assertEqual(
			[(r.reference_name, flt(r.allocated_amount)) for r in pe.references], [(ret.name, -200)]
		)
		self.assertEqual(flt(frappe.db.get_value("Sales Invoice", ret.name, "outstanding_amount")), 0)

	def test_a_payment_deleted_in_xero_cancels_its_entry(self):
		si = _invoice(self.accounts, "NZD", 1)
		self.gateway.payments.payments = [self.paid("pay-del-1", si, "200.00")]
		self.poll_and_drain()
		(entry,) = self.entries("pay-del-1")
		self.assertEqual(flt(frappe.db.get_value("Sales Invoice", si.name, "outstanding_amount")), 0)

		self.gateway.payments.payments = [self.paid("pay-del-1", si, "200.00", status="DELETED")]
		self.poll_and_drain()

		row = frappe.get_doc(LOG_DOCTYPE, row_name("pay-del-1"))
		self.assertEqual(row.status, "Voided", row.error_message)
		self.assertEqual(frappe.db.get_value("Payment Entry", entry.name, "docstatus"), 2)
		self.assertEqual(flt(frappe.db.get_value("Sales Invoice", si.name, "outstanding_amount")), 200)

	def test_an_entry_recorded_before_the_row_was_is_adopted(self):
		si = _invoice(self.accounts, "NZD", 1)
		self.gateway.payments.payments = [self.paid("pay-once-1", si, "50.00")]
		with connected(self.gateway):
			status_job.poll_organisations()
		# A worker made the entry and died before its row said so (both are one commit in the drain; this is
		# the state a lost row, or an entry made by an earlier run, leaves).
		from nexwave_xero_connector.adapters import FrappeErp
		from nexwave_xero_connector.sync import payments_from_xero as payment_pull

		plan = payment_pull.plan_entry(
			self.gateway.payments.payments[0],
			payment_pull.payables(_db(), [si.xero_id])[si.xero_id],
			_config(),
		)
		made = FrappeErp().create_entry(plan)
		with connected(self.gateway):
			jobs.drain_tenant(TENANT)
		row = frappe.get_doc(LOG_DOCTYPE, row_name("pay-once-1"))
		self.assertEqual((row.status, row.reference_name), ("Synced", made))
		self.assertEqual([e.name for e in self.entries("pay-once-1")], [made])

	def test_the_entry_keeps_its_view_in_xero_link_after_the_log_is_cleared(self):
		from nexwave_xero_connector import api

		si = _invoice(self.accounts, "NZD", 1)
		self.gateway.payments.payments = [self.paid("pay-link-1", si, "20.00")]
		self.poll_and_drain()
		(entry,) = self.entries("pay-link-1")
		frappe.db.delete(LOG_DOCTYPE, {"name": row_name("pay-link-1")})  # Log Settings cleared it
		info = api.sync_status("Payment Entry", entry.name)
		self.assertIsNone(info["row"])
		self.assertTrue(info["xero_url"].endswith("bankTransactionID=pay-link-1"), info["xero_url"])

	def test_the_switch_only_holds_where_xero_owns_the_payments(self):
		settings = adapters.read_settings()
		settings.tenants[0].payments_owned_by = "ERPNext"
		adapters.save_settings(settings)
		self.assertEqual(settings.tenants[0].pull_payments, 0)
		self.assertFalse(_config().pulls_payments(COMPANY))

	def test_the_unique_payment_id_refuses_a_second_entry(self):
		si = _invoice(self.accounts, "NZD", 1)
		self.gateway.payments.payments = [self.paid("pay-uniq-1", si, "10.00")]
		self.poll_and_drain()
		(entry,) = self.entries("pay-uniq-1")
		copy = frappe.copy_doc(frappe.get_doc("Payment Entry", entry.name), ignore_no_copy=False)
		self.assertFalse(copy.get("xero_payment_id"), "an amended or copied entry does not carry the ID")
		copy.xero_payment_id = "pay-uniq-1"
		with self.assertRaises(frappe.UniqueValidationError):
			copy.insert()


def _db():
	from nexwave_xero_connector.adapters import FrappeDb

	return FrappeDb()


def _config():
	from nexwave_xero_connector.adapters import load_config

	return load_config()


def _bank_account() -> str:
	account = frappe.db.get_value(
		"Account", {"company": COMPANY, "account_type": "Bank", "is_group": 0, "account_currency": "NZD"}
	)
	if account:
		return account
	parent = frappe.db.get_value("Account", {"company": COMPANY, "account_type": "Bank", "is_group": 1})
	parent = parent or frappe.db.get_value(
		"Account", {"company": COMPANY, "root_type": "Asset", "is_group": 1}
	)
	return (
		frappe.get_doc(
			{
				"doctype": "Account",
				"account_name": "Xero Test Bank",
				"company": COMPANY,
				"parent_account": parent,
				"account_type": "Bank",
				"account_currency": "NZD",
			}
		)
		.insert()
		.name
	)


def _usd_receivable() -> str:
	abbr = frappe.get_cached_value("Company", COMPANY, "abbr")
	name = f"Debtors USD - {abbr}"
	if not frappe.db.exists("Account", name):
		parent = frappe.db.get_value(
			"Account", {"company": COMPANY, "account_type": "Receivable", "is_group": 0}, "parent_account"
		)
		frappe.get_doc(
			{
				"doctype": "Account",
				"account_name": "Debtors USD",
				"company": COMPANY,
				"parent_account": parent,
				"account_type": "Receivable",
				"account_currency": "USD",
			}
		).insert()
	return name


def _bill(accounts):
	"""A submitted 230.00 bill of the NZ company, as if the connector had pushed it."""
	values = {"supplier": make_party("Supplier"), "bill_no": "XERO-PULL-1"}
	return _pushed("Purchase Invoice", accounts, values, amount=230)


def _as_pushed(doc):
	"""The document's Xero ID set and its row Synced, as the push leaves them."""
	doc.xero_id = f"xero-{doc.name}"
	doc.db_set("xero_id", doc.xero_id)
	frappe.db.set_value(
		LOG_DOCTYPE,
		{"reference_doctype": doc.doctype, "reference_name": doc.name},
		{"status": "Synced", "xero_id": doc.xero_id, "xero_status": "AUTHORISED"},
	)
	return doc


def _invoice(accounts, currency: str, rate: float):
	"""A submitted 200.00 invoice of the NZ company, as if the connector had pushed it (its Xero ID set)."""
	customer = make_party("Customer")
	if currency != "NZD":
		customer = f"_Xero Stock NZ Customer {currency}"
		if not frappe.db.exists("Customer", customer):
			frappe.get_doc(
				{
					"doctype": "Customer",
					"customer_name": customer,
					"customer_group": first_leaf("Customer Group", "All Customer Groups"),
					"territory": first_leaf("Territory", "All Territories"),
					"default_currency": currency,
					"accounts": [{"company": COMPANY, "account": _usd_receivable()}],
				}
			).insert()
	return _pushed(
		"Sales Invoice", accounts, {"customer": customer}, amount=200, currency=currency, rate=rate
	)


def _pushed(doctype: str, accounts, values: dict, *, amount: float, currency: str = "NZD", rate: float = 1):
	"""A submitted one-line invoice or bill of the NZ company for `amount`, then marked as pushed."""
	item = make_service_item()
	doc = frappe.new_doc(doctype)
	doc.update(
		{
			"company": COMPANY,
			"posting_date": today(),
			"due_date": today(),
			"currency": currency,
			"conversion_rate": rate,
			"plc_conversion_rate": rate,
			"ignore_pricing_rule": 1,
			**values,
		}
	)
	account = (
		{"income_account": accounts.default_income_account}
		if doctype == "Sales Invoice"
		else {"expense_account": accounts.default_expense_account}
	)
	doc.append(
		"items",
		{
			"item_code": item,
			"qty": 1,
			"rate": amount,
			"uom": frappe.db.get_value("Item", item, "stock_uom"),
			"conversion_factor": 1,
			"cost_center": accounts.cost_center,
			**account,
		},
	)
	doc.insert()
	doc.submit()
	return _as_pushed(doc)
