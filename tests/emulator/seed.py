"""Seed data for emulated organisations: tax rates, chart of accounts, currencies."""

from __future__ import annotations

import uuid
from decimal import Decimal

# Which account classes each flag unlocks; used to refuse e.g. INPUT2 on a revenue account.
CLASS_FLAG = {
	"REVENUE": "CanApplyToRevenue",
	"EXPENSE": "CanApplyToExpenses",
	"ASSET": "CanApplyToAssets",
	"LIABILITY": "CanApplyToLiabilities",
	"EQUITY": "CanApplyToEquity",
}

_ALL = "RXALE"  # revenue, expenses, assets, liabilities, equity

# (TaxType, Name, rate %, ReportTaxType, classes it applies to, Status)
NZ_TAX = [
	("OUTPUT2", "GST on Income", "15", "OUTPUT", "RALE", "ACTIVE"),
	("INPUT2", "GST on Expenses", "15", "INPUT", "XALE", "ACTIVE"),
	("ZERORATED", "Zero Rated", "0", "ZERORATEDOUTPUT", "R", "ACTIVE"),
	("NONE", "No GST", "0", "NONE", _ALL, "ACTIVE"),
	("GSTONIMPORTS", "GST on Imports", "15", "GSTONIMPORTS", "L", "ACTIVE"),
	("OUTPUT", "GST on Income (12.5%)", "12.5", "OUTPUT", "RALE", "ARCHIVED"),
	("INPUT", "GST on Expenses (12.5%)", "12.5", "INPUT", "XALE", "ARCHIVED"),
]

AU_TAX = [
	("OUTPUT", "GST on Income", "10", "OUTPUT", "RALE", "ACTIVE"),
	("INPUT", "GST on Expenses", "10", "INPUT", "XALE", "ACTIVE"),
	("EXEMPTOUTPUT", "GST Free Income", "0", "EXEMPTOUTPUT", "RALE", "ACTIVE"),
	("EXEMPTEXPENSES", "GST Free Expenses", "0", "EXEMPTEXPENSES", "XALE", "ACTIVE"),
	("EXEMPTEXPORT", "GST Free Exports", "0", "EXEMPTEXPORT", "R", "ACTIVE"),
	("EXEMPTCAPITAL", "GST Free Capital", "0", "EXEMPTCAPITAL", "A", "ACTIVE"),
	("CAPEXINPUT", "GST on Capital", "10", "CAPITALEXINPUT", "A", "ACTIVE"),
	("INPUTTAXED", "Input Taxed", "0", "INPUTTAXED", "RX", "ACTIVE"),
	("BASEXCLUDED", "BAS Excluded", "0", "BASEXCLUDED", _ALL, "ACTIVE"),
	("GSTONIMPORTS", "GST on Imports", "0", "GSTONIMPORTS", "L", "ACTIVE"),
	("GSTONCAPIMPORTS", "GST on Capital Imports", "0", "GSTONCAPIMPORTS", "AL", "ACTIVE"),
]

# (Code, Name, Type, Class, default tax key "sales"/"purchases"/"none", SystemAccount, Status)
CHART = [
	("090", "Business Bank Account", "BANK", "ASSET", "none", None, "ACTIVE"),
	("200", "Sales", "REVENUE", "REVENUE", "sales", None, "ACTIVE"),
	("260", "Other Revenue", "REVENUE", "REVENUE", "sales", None, "ACTIVE"),
	("270", "Interest Income", "OTHERINCOME", "REVENUE", "none", None, "ACTIVE"),
	("300", "Purchases", "DIRECTCOSTS", "EXPENSE", "purchases", None, "ACTIVE"),
	("310", "Cost of Goods Sold", "DIRECTCOSTS", "EXPENSE", "purchases", None, "ACTIVE"),
	("400", "Advertising", "OVERHEADS", "EXPENSE", "purchases", None, "ACTIVE"),
	("425", "Freight & Courier", "OVERHEADS", "EXPENSE", "purchases", None, "ACTIVE"),
	("429", "General Expenses", "OVERHEADS", "EXPENSE", "purchases", None, "ACTIVE"),
	("469", "Rent (old)", "OVERHEADS", "EXPENSE", "purchases", None, "ARCHIVED"),
	("610", "Accounts Receivable", "CURRENT", "ASSET", "none", "DEBTORS", "ACTIVE"),
	("800", "Accounts Payable", "CURRLIAB", "LIABILITY", "none", "CREDITORS", "ACTIVE"),
	("820", "GST", "CURRLIAB", "LIABILITY", "none", "GST", "ACTIVE"),
	("860", "Rounding", "CURRLIAB", "LIABILITY", "none", "ROUNDING", "ACTIVE"),
	("960", "Retained Earnings", "EQUITY", "EQUITY", "none", "RETAINEDEARNINGS", "ACTIVE"),
]

# System accounts Xero refuses on invoice/credit-note lines (the control accounts it posts to itself).
POSTING_FORBIDDEN_SYSTEM = {"DEBTORS", "CREDITORS", "GST", "RETAINEDEARNINGS"}

COUNTRY_DEFAULTS = {
	"NZ": {
		"tax": NZ_TAX,
		"sales": "OUTPUT2",
		"purchases": "INPUT2",
		"none": "NONE",
		"currency": "NZD",
		"timezone": "NEWZEALANDSTANDARDTIME",
		"tax_period": "TWOMONTHS",
		"tax_basis": "INVOICE",
		"year_end_month": 3,
	},
	"AU": {
		"tax": AU_TAX,
		"sales": "OUTPUT",
		"purchases": "INPUT",
		"none": "BASEXCLUDED",
		"currency": "AUD",
		"timezone": "AUSEASTERNSTANDARDTIME",
		"tax_period": "QUARTERLY1",
		"tax_basis": "ACCRUALS",
		"year_end_month": 6,
	},
}

CURRENCY_NAMES = {
	"NZD": "New Zealand Dollar",
	"AUD": "Australian Dollar",
	"USD": "United States Dollar",
	"GBP": "British Pound",
	"EUR": "Euro",
	"CAD": "Canadian Dollar",
	"SGD": "Singapore Dollar",
	"JPY": "Japanese Yen",
	"FJD": "Fiji Dollar",
}

_NS = uuid.UUID("5b1f6a52-7f43-4a55-9c5e-2c6a0d0f1e01")


def stable_id(*parts: str) -> str:
	"""Deterministic GUID for seed rows so restarts keep the same IDs."""
	return str(uuid.uuid5(_NS, "/".join(parts)))


def tax_rates(country: str) -> dict[str, dict]:
	"""Build the TaxRates rows for a country, keyed by TaxType."""
	rows: dict[str, dict] = {}
	for code, name, rate, report, classes, status in COUNTRY_DEFAULTS[country]["tax"]:
		value = Decimal(rate)
		row = {
			"Name": name,
			"TaxType": code,
			"TaxComponents": [{"Name": "GST", "Rate": value, "IsCompound": False, "IsNonRecoverable": False}],
			"Status": status,
			"ReportTaxType": report,
			"DisplayTaxRate": value,
			"EffectiveRate": value.quantize(Decimal("0.0001")),
		}
		for letter, flag in zip(
			"RXALE", ("Revenue", "Expenses", "Assets", "Liabilities", "Equity"), strict=True
		):
			row[f"CanApplyTo{flag}"] = letter in classes
		rows[code] = row
	return rows


def chart(tenant_id: str, country: str, base_currency: str) -> dict[str, dict]:
	"""Build the Accounts rows, keyed by Code."""
	defaults = COUNTRY_DEFAULTS[country]
	rows: dict[str, dict] = {}
	for code, name, acc_type, acc_class, tax_key, system, status in CHART:
		row = {
			"AccountID": stable_id(tenant_id, "account", code),
			"Code": code,
			"Name": name,
			"Type": acc_type,
			"Status": status,
			"Description": "",
			"TaxType": defaults[tax_key],
			"Class": acc_class,
			"EnablePaymentsToAccount": False,
			"ShowInExpenseClaims": acc_class == "EXPENSE",
			"ReportingCode": acc_class[:3],
			"HasAttachments": False,
			"AddToWatchlist": False,
		}
		if system:
			row["SystemAccount"] = system
		if acc_type == "BANK":
			row.update(BankAccountNumber="0102030405060", BankAccountType="BANK", CurrencyCode=base_currency)
		rows[code] = row
	return rows
