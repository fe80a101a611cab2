"""Journal Entry hooks: on_submit queues a Manual Journal row for a company that sends Journal Entries (or a
Skipped row saying why not), on_cancel flags it to be voided (run with bench run-tests on an ERPNext site)."""

import dataclasses
from unittest.mock import patch

import frappe
from frappe.utils import today

from nexwave_xero_connector import adapters, api
from nexwave_xero_connector.sync.manual_journal_mapping import JOURNAL_ENTRY, MANUAL_JOURNAL
from nexwave_xero_connector.tests.site_state import XeroTestCase
from nexwave_xero_connector.tests.utils import (
	TEST_COMPANY,
	TEST_TENANT,
	configure_settings,
	forget_wakes,
	log_rows,
	pending_wakes,
)

test_dependencies = ["Account", "Cost Center", "Customer"]
SCOPE_CONFIG = adapters.scope_config
MAIN, SECOND = "_Test Cost Center - _TC", "_Test Cost Center 2 - _TC"


class JournalEntryCase(XeroTestCase):
	"""Settings bound to the test company, its Send Journal Entries as `sends` says."""

	sends = True

	def setUp(self):
		configure_settings()
		forget_wakes()
		patcher = patch("nexwave_xero_connector.journal_entries.scope_config", self.config)
		patcher.start()
		self.addCleanup(patcher.stop)

	def config(self):
		"""The settings' config with the test company's Send Journal Entries set to `self.sends`."""
		config = SCOPE_CONFIG()
		tenants = tuple(dataclasses.replace(t, send_journal_entries=self.sends) for t in config.tenants)
		return dataclasses.replace(config, tenants=tenants)

	def entry(self, lines, submit=True, **values):
		je = frappe.get_doc(
			{
				"doctype": JOURNAL_ENTRY,
				"company": TEST_COMPANY,
				"posting_date": today(),
				"user_remark": "Xero test",
				"accounts": lines,
				**values,
			}
		)
		je.insert()
		if submit:
			je.submit()
		return je

	def three_lines(self, submit=True):
		return self.entry(
			[
				{"account": "_Test Bank - _TC", "debit_in_account_currency": 120.0, "cost_center": MAIN},
				{"account": "_Test Bank - _TC", "debit_in_account_currency": 80.0, "cost_center": SECOND},
				{"account": "Sales - _TC", "credit_in_account_currency": 200.0, "cost_center": MAIN},
			],
			submit=submit,
		)


class TestJournalEntryHooks(JournalEntryCase):
	def test_a_three_line_entry_with_cost_centres_is_queued_and_its_drain_woken(self):
		je = self.three_lines()
		[row] = log_rows(JOURNAL_ENTRY, je.name)
		self.assertEqual((row.status, row.xero_type, row.tenant_id), ("Queued", MANUAL_JOURNAL, TEST_TENANT))
		self.assertIn(TEST_TENANT, pending_wakes())  # woken only once the submit commits

	def test_cancel_flags_the_row_to_be_voided_in_xero(self):
		je = self.three_lines()
		je.cancel()
		[row] = log_rows(JOURNAL_ENTRY, je.name)
		self.assertEqual((row.status, row.cancel_requested), ("Queued", 1))

	def test_a_foreign_currency_entry_is_queued(self):
		je = self.entry(
			[
				{
					"account": "_Test Bank USD - _TC",
					"debit_in_account_currency": 100.0,
					"exchange_rate": 50.0,
					"cost_center": MAIN,
				},
				{"account": "_Test Bank - _TC", "credit_in_account_currency": 5000.0, "cost_center": MAIN},
			],
			multi_currency=1,
		)
		[row] = log_rows(JOURNAL_ENTRY, je.name)
		self.assertEqual((row.status, row.xero_type), ("Queued", MANUAL_JOURNAL))
		self.assertEqual(je.accounts[0].debit, 5000.0)  # the base amount is what the journal carries

	def test_a_line_on_a_receivable_with_its_party_leaves_a_skipped_row_with_the_reason(self):
		je = self.entry(
			[
				{"account": "Sales - _TC", "debit_in_account_currency": 10.0, "cost_center": MAIN},
				{
					"account": "Debtors - _TC",
					"party_type": "Customer",
					"party": "_Test Customer",
					"credit_in_account_currency": 10.0,
					"cost_center": MAIN,
				},
			]
		)
		[row] = log_rows(JOURNAL_ENTRY, je.name)
		self.assertEqual(row.status, "Skipped")
		self.assertIn("receivable or payable", row.error_message)
		self.assertNotIn(TEST_TENANT, pending_wakes())

	def test_the_form_shows_the_rows_status(self):
		je = self.three_lines()
		info = api.sync_status(JOURNAL_ENTRY, je.name)
		self.assertEqual(info["row"]["status"], "Queued")
		self.assertIsNone(info["xero_url"])


class TestJournalEntriesOffByDefault(JournalEntryCase):
	sends = False

	def test_nothing_is_queued_or_flagged_for_a_company_that_does_not_send_them(self):
		je = self.three_lines()
		je.cancel()
		self.assertEqual(log_rows(JOURNAL_ENTRY, je.name), [])
		self.assertNotIn(TEST_TENANT, pending_wakes())
		self.assertIsNone(api.sync_status(JOURNAL_ENTRY, je.name)["row"])
