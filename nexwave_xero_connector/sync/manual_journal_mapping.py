"""ERPNext Journal Entry (as `as_dict()` gives it) -> the Xero Manual Journal it becomes. No framework here.

What is sent. Narration = the entry's user remark (else its title) and its name; Date = posting_date;
Url = the entry's desk address (our marker: a lookup recognises the journal by it); Status POSTED; one
JournalLine per account row of the entry, in order: AccountCode from the account mapping the invoices use
(Xero Sync Settings, per company), LineAmount = debit - credit (positive is a debit, negative a credit, as
Xero reads it), Description = the row's remark, else the entry's, else its title, Tracking from the row's cost
centre through the tracking mapping (as on invoice lines). Rows of zero are left out.

Amounts are the company-currency figures (`debit`/`credit`), never `*_in_account_currency`: Xero keeps
manual journals in the organisation's base currency only, and these are the amounts ERPNext posted to its
general ledger (an Exchange Gain Or Loss row even has 0 in account currency and the amount in `debit`). A
foreign-currency entry therefore goes at ERPNext's own exchange rates, and the row says so.

Tax. A Journal Entry line never computes tax in ERPNext: any GST it moves is a row of its own on the tax
account. So the journal goes as LineAmountTypes NoTax and every line carries the company's "no tax" TaxType
(NONE in New Zealand, BASEXCLUDED in Australia) when one is set, so Xero never derives tax from an
account's default rate. A row on the GST account is refused by the system-account check below (Xero posts
GST only from its own tax rates): the accountant records that GST in Xero or through an invoice.

Pre-flight (MappingError, nothing sent): an account without a mapping (named); debits that do not equal
credits to the cent (Decimal); a date on or before Xero's lock dates (preflight.check_org); a line on one of
Xero's system accounts (receivables, payables, GST, retained earnings...: `OrgInfo.system_accounts`), which
take no manual journal line; fewer than two lines.

Skipped with the reason (`skip_reason`), never sent: what ERPNext makes for documents the connector already
sends or Xero works out itself: Exchange Gain Or Loss and Exchange Rate Revaluation entries, entries linked
from a Payment Entry, opening entries, entries before the company's go-live date, and entries with a line on
a receivable or payable (a party, or an account of type Receivable/Payable): the invoices, credit notes and
payments carry those balances in Xero, where a manual journal cannot touch them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import quote

from .config import SyncConfig
from .errors import MappingError
from .money import ZERO, money
from .preflight import OrgInfo, check_org

JOURNAL_ENTRY = "Journal Entry"
MANUAL_JOURNAL = "MANUALJOURNAL"  # the Xero Sync Log's xero_type of a Journal Entry's row
POSTED = "POSTED"
LIVE_STATUSES = frozenset({"DRAFT", POSTED})
NO_TAX = "NoTax"
MAX_DESCRIPTION = 4000
MAX_NARRATION = 4000
# Voucher types ERPNext posts for what Xero works out itself (gains and losses on payments, revaluation).
XERO_COMPUTES = ("Exchange Gain Or Loss", "Exchange Rate Revaluation")
PARTY_ACCOUNT_TYPES = ("Receivable", "Payable")
FOREIGN_NOTE = (
	"Sent in the company's currency at ERPNext's exchange rates: Xero keeps manual journals in the base "
	"currency only."
)


def skip_reason(doc: dict, config: SyncConfig) -> str | None:
	"""Why this submitted Journal Entry must not become a Manual Journal (None: it may go)."""
	name, kind = doc.get("name"), doc.get("voucher_type") or ""
	rows = doc.get("accounts") or []
	if kind in XERO_COMPUTES:
		return (
			f"{name} is ERPNext's {kind} entry. Xero works out exchange gains and losses on the payments and "
			"revaluations itself, so sending it would count them twice; nothing was sent."
		)
	payment = next(
		(r.get("reference_name") for r in rows if r.get("reference_type") == "Payment Entry"), None
	)
	if payment:
		return (
			f"{name} was made for Payment Entry {payment}, which reaches Xero as a payment of its own (or is "
			"Xero's); nothing was sent, so it is not posted twice."
		)
	if (doc.get("is_opening") or "No") == "Yes" or kind == "Opening Entry":
		return (
			f"{name} is an opening entry. Opening balances belong in Xero's conversion balances (Settings > "
			"Conversion Balances); nothing was sent."
		)
	if config.before_go_live(doc.get("company") or "", doc.get("posting_date")):
		return (
			f"{name} is posted before the go-live date of company {doc.get('company')} "
			f"({config.go_live_for(doc.get('company') or '')}); nothing was sent."
		)
	party = next(
		(r for r in rows if r.get("party_type") or (r.get("account_type") or "") in PARTY_ACCOUNT_TYPES), None
	)
	if party:
		who = f" ({party.get('party_type')} {party.get('party')})" if party.get("party") else ""
		return (
			f"{name} has a line on the receivable or payable account {party.get('account')}{who}. The invoices, "
			"credit notes and payments the connector sends carry those balances in Xero, and a manual journal "
			"cannot touch them there; nothing was sent. Record it in Xero against the contact (a credit note or "
			"a payment) if it is needed there."
		)
	return None


@dataclass(frozen=True)
class ManualJournalPayload:
	"""A Journal Entry ready to send: the Xero JSON body (PascalCase keys, Decimal money, a date object)."""

	name: str
	body: dict
	url: str
	date: date
	notes: tuple[str, ...] = ()

	@property
	def lines(self) -> list[list[str]]:
		"""(AccountCode, LineAmount) of every line, as text: what a lookup compares."""
		return [[str(x["AccountCode"]), str(money(x["LineAmount"]))] for x in self.body["JournalLines"]]

	def digest(self) -> str:
		"""A stable hash of the body; it changes whenever what we would send changes."""
		canonical = json.dumps(self.body, sort_keys=True, default=str, separators=(",", ":"))
		return hashlib.sha256(canonical.encode()).hexdigest()

	def identity(self) -> dict:
		"""What identifies the sent journal in Xero (kept on the row before the request leaves)."""
		return {
			"kind": MANUAL_JOURNAL,
			"url": self.url,
			"date": self.date.isoformat(),
			"narration": self.body["Narration"],
			"lines": self.lines,
		}


@dataclass(frozen=True)
class ManualJournalRecord:
	"""A Manual Journal as Xero holds it. `xero_id`, `number` and `status` are what the sync journal stores
	for a row (Journal.store_xero_ids reads only those)."""

	xero_id: str
	status: str
	url: str | None = None
	date: date | None = None
	narration: str = ""
	lines: tuple[tuple[str, str], ...] = ()  # (AccountCode, LineAmount as text)
	updated: datetime | None = None

	number = None  # a manual journal has no number of its own

	@property
	def is_live(self) -> bool:
		return self.status in LIVE_STATUSES


def is_sent_journal(identity: dict, record: ManualJournalRecord) -> bool:
	"""Whether the live journal `record` is the one this row sent: our marker, its date and its lines."""
	return (
		record.is_live
		and bool(record.url)
		and record.url == identity.get("url")
		and (record.date is None or record.date.isoformat() == identity.get("date"))
		and (
			"lines" not in identity  # only the marker is known (the row was cleared before the cancel)
			or sorted(tuple(x) for x in record.lines) == sorted(tuple(x) for x in identity["lines"])
		)
	)


def build_manual_journal(
	doc: dict, *, config: SyncConfig, org: OrgInfo | None = None
) -> ManualJournalPayload:
	"""Map a submitted Journal Entry to a checked Manual Journal body; MappingError when it must not go."""
	name, company = doc["name"], doc.get("company") or ""
	label = f"Journal Entry {name}"
	on = as_date(doc.get("posting_date"))
	if on is None:
		raise MappingError(f"{label} has no posting date. Set it in ERPNext and submit again.")
	rows = doc.get("accounts") or []
	debits = sum((money(r.get("debit")) for r in rows), ZERO)
	credits = sum((money(r.get("credit")) for r in rows), ZERO)
	if debits != credits:
		raise MappingError(
			f"{label} debits {debits} but credits {credits} (a difference of {debits - credits:+}); Xero takes "
			"only a journal whose lines sum to zero. Nothing was sent. Correct the entry in ERPNext (cancel and "
			"amend it), then retry."
		)
	if org is not None:
		check_org(label, org.base_currency, money(1), on, org)
	no_tax = config.no_tax_type.get(company)
	remark = (doc.get("user_remark") or "").strip()
	lines, foreign = [], bool(doc.get("multi_currency"))
	for number, row in enumerate(rows, start=1):
		amount = money(row.get("debit")) - money(row.get("credit"))
		if amount == ZERO:
			continue
		code = _account_code(config, company, row.get("account"), number, label, org)
		foreign = foreign or money(row.get("exchange_rate") or 1) != money(1)
		line: dict = {
			"LineAmount": amount,
			"AccountCode": code,
			"Description": ((row.get("user_remark") or "").strip() or remark or doc.get("title") or name)[
				:MAX_DESCRIPTION
			],
		}
		if no_tax:
			line["TaxType"] = no_tax
		tracking = config.tracking_map.get((company, row.get("cost_center") or ""))
		if tracking:
			line["Tracking"] = [{"Name": tracking[0], "Option": tracking[1]}]
		lines.append(line)
	if len(lines) < 2:
		raise MappingError(
			f"{label} has {len(lines)} line(s) with an amount; Xero needs at least two. Nothing was sent."
		)
	url = _url(config, name, label)
	body = {
		"Narration": f"{remark or doc.get('title') or name} ({name})"[:MAX_NARRATION],
		"Date": on,
		"LineAmountTypes": NO_TAX,
		"Status": POSTED,
		"Url": url,
		"JournalLines": lines,
	}
	return ManualJournalPayload(
		name=name, body=body, url=url, date=on, notes=(FOREIGN_NOTE,) if foreign else ()
	)


def _account_code(
	config: SyncConfig, company: str, account: str | None, number: int, label: str, org: OrgInfo | None
) -> str:
	"""The mapped Xero AccountCode of a line's account; MappingError naming the account and what to do."""
	if not account:
		raise MappingError(f"Line {number} of {label} has no account. Nothing was sent.")
	code = config.account_map.get((company, account))
	if not code:
		raise MappingError(
			f"No Xero account for the ERPNext account '{account}' (line {number} of {label}). Map it in the "
			f"account mapping of Xero Sync Settings for {company}, then retry. Nothing was sent."
		)
	if org is not None and org.system_accounts is not None and code in org.system_accounts:
		raise MappingError(
			f"Line {number} of {label} is on '{account}', mapped to Xero account {code}, one of Xero's system "
			"accounts (receivables, payables, GST and the like), which take no manual journal line. Map "
			f"'{account}' to an ordinary Xero account, or record this entry in Xero by hand. Nothing was sent."
		)
	return code


def as_date(value: object) -> date | None:
	"""A date from as_dict()'s "YYYY-MM-DD" string, a date or a datetime; None when empty."""
	if not value:
		return None
	if isinstance(value, datetime):
		return value.date()
	if isinstance(value, date):
		return value
	return date.fromisoformat(str(value)[:10])


def marker_identity(site_url: str, name: str, posting_date) -> dict:
	"""What a cancelled Journal Entry whose row was cleared is looked up by: our marker and its date (the
	lines it was sent with are not known any more)."""
	return {
		"kind": MANUAL_JOURNAL,
		"url": desk_url(site_url, name),
		"date": as_date(posting_date).isoformat(),
	}


def desk_url(site_url: str, name: str) -> str:
	"""The desk address of a Journal Entry, built as mapping.document_url builds every marker (this module
	stays below the ports, which mapping.py imports)."""
	return f"{site_url.rstrip('/')}/app/journal-entry/{quote(name, safe='')}"


def _url(config: SyncConfig, name: str, label: str) -> str:
	if not config.site_url:
		raise MappingError(
			f"{label} cannot be sent without the site's address, which marks the manual journal as this site's "
			"in Xero. Set host_name in the site config (bench --site SITE set-config host_name "
			"https://erp.example.com)."
		)
	return desk_url(config.site_url, name)
