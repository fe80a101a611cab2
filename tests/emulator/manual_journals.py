"""Manual journals: PUT /ManualJournals creates, POST changes status (VOIDED, DELETED), GET lists and reads.

Validation as Xero documents it: a Narration, at least two lines, lines that sum to zero, accounts that
exist and are active, no line on a system account (receivables, payables, GST...: Xero staff on its
developer forum), no date on or before the lock date. Url is kept as sent. The wording of the refusals is
assumed, not captured from Xero.
"""

from __future__ import annotations

from typing import Any

from .documents import ZERO
from .state import Ctx, Tenant, new_id
from .wire import ms_date, ms_datetime, parse_date, round2, to_decimal

STATUSES = ("DRAFT", "POSTED", "DELETED", "VOIDED", "ARCHIVED")
SYSTEM_ACCOUNT = "Account code '{code}' is a system account and cannot be used in a manual journal"
NOT_BALANCED = "The total debits ({debits}) must equal total credits ({credits})"
TOO_FEW = "A manual journal must have at least two journal lines"
# Allowed status changes: a posted journal is voided, a draft deleted or posted.
MOVES = {("POSTED", "VOIDED"), ("DRAFT", "DELETED"), ("DRAFT", "POSTED")}


def store(tenant: Tenant) -> dict[str, dict]:
	"""The tenant's manual journals by ManualJournalID."""
	return tenant.manual_journals


def create_journal(ctx: Ctx, element: Any) -> tuple[dict | None, list[str]]:
	"""Validate and store one manual journal element; returns it or the errors Xero would give."""
	element = element if isinstance(element, dict) else {}
	tenant, errors = ctx.tenant, []
	narration = str(element.get("Narration") or "").strip()
	if not narration:
		errors.append("Narration is required")
	status = str(element.get("Status") or "DRAFT").upper()
	if status not in ("DRAFT", "POSTED"):
		errors.append(f"A manual journal cannot be created with status {status}")
	try:
		date = parse_date(element.get("Date")) or ctx.today
	except ValueError as exc:
		return None, [f"Invalid date: {exc}"]
	lock, which = tenant.lock_date()
	if lock and date <= lock:
		errors.append(f"The document date cannot be before the {which}, currently set at {lock.isoformat()}")
	lines = []
	for raw in element.get("JournalLines") or []:
		raw = raw if isinstance(raw, dict) else {}
		try:
			amount = round2(to_decimal(raw.get("LineAmount"), ZERO))
		except ValueError as exc:
			errors.append(f"Invalid line amount: {exc}")
			continue
		if amount == ZERO:
			continue
		code = str(raw.get("AccountCode") or "")
		account = next((a for a in tenant.accounts.values() if a["Code"] == code), None)
		if account is None or account.get("Status") != "ACTIVE":
			errors.append(f"Account code '{code}' is not a valid code for this document.")
		elif account.get("SystemAccount"):
			errors.append(SYSTEM_ACCOUNT.format(code=code))
		lines.append(
			{
				"LineAmount": amount,
				"AccountCode": code,
				"AccountID": account["AccountID"] if account else None,
				"Description": raw.get("Description"),
				"TaxType": raw.get("TaxType") or tenant.none_tax_type(),
				"TaxAmount": ZERO,
				"Tracking": list(raw.get("Tracking") or []),
				"IsBlank": False,
			}
		)
	if len(lines) < 2:
		errors.append(TOO_FEW)
	debits = sum((x["LineAmount"] for x in lines if x["LineAmount"] > 0), ZERO)
	credits = -sum((x["LineAmount"] for x in lines if x["LineAmount"] < 0), ZERO)
	if debits != credits:
		errors.append(NOT_BALANCED.format(debits=debits, credits=credits))
	if errors:
		return None, errors
	tenant.counters["manual_journal_seq"] = tenant.counters.get("manual_journal_seq", 0) + 1
	journal = {
		"ManualJournalID": new_id(),
		"Narration": narration,
		"Date": date,
		"LineAmountTypes": element.get("LineAmountTypes") or "NoTax",
		"Status": status,
		"Url": element.get("Url"),
		"ShowOnCashBasisReports": element.get("ShowOnCashBasisReports", True),
		"HasAttachments": False,
		"JournalLines": lines,
		"_seq": tenant.counters["manual_journal_seq"],
		"_updated": ctx.now,
		"_app": ctx.app,
	}
	ctx.txn.put(store(tenant), journal["ManualJournalID"], journal)
	return journal, []


def change_status(ctx: Ctx, element: Any) -> tuple[dict | None, list[str]]:
	"""POST an element with ManualJournalID and Status: void a posted journal, delete or post a draft."""
	element = element if isinstance(element, dict) else {}
	journal = store(ctx.tenant).get(str(element.get("ManualJournalID") or ""))
	if journal is None:
		return None, ["Manual journal could not be found"]
	new = str(element.get("Status") or journal["Status"]).upper()
	if new == journal["Status"]:
		return journal, []
	if (journal["Status"], new) not in MOVES:
		return None, [f"A {journal['Status'].lower()} manual journal cannot be made {new.lower()}"]
	changed = {**journal, "Status": new, "_updated": ctx.now}
	ctx.txn.put(store(ctx.tenant), journal["ManualJournalID"], changed)
	return changed, []


def render(journal: dict) -> dict:
	"""A journal as GET/PUT/POST /ManualJournals return it."""
	out = {k: v for k, v in journal.items() if not k.startswith("_")}
	out["Date"] = ms_date(journal["Date"])
	out["UpdatedDateUTC"] = ms_datetime(journal["_updated"])
	out["JournalLines"] = [
		{k: v for k, v in line.items() if v is not None} for line in journal["JournalLines"]
	]
	return out


def listed(tenant: Tenant, since: float | None) -> list[dict]:
	"""Journals changed after `since` (If-Modified-Since), oldest first, as stored (for `where`)."""
	rows = sorted(store(tenant).values(), key=lambda j: j["_seq"])
	return [j for j in rows if since is None or j["_updated"] > since]


def ledger_row(journal: dict) -> dict:
	"""A plain-dict snapshot of a journal for test assertions."""
	return {
		"xero_id": journal["ManualJournalID"],
		"status": journal["Status"],
		"narration": journal["Narration"],
		"date": journal["Date"],
		"url": journal.get("Url"),
		"lines": [
			{
				"account_code": x["AccountCode"],
				"amount": x["LineAmount"],
				"description": x.get("Description"),
				"tax_type": x.get("TaxType"),
				"tracking": x.get("Tracking") or [],
			}
			for x in journal["JournalLines"]
		],
		"seq": journal["_seq"],
		"created_by_app": journal.get("_app"),
	}
