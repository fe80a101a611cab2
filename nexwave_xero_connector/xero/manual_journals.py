"""Xero's ManualJournals endpoint for the Journal Entry kind, over the shared SDK plumbing.

PUT /ManualJournals creates many in one request (summarizeErrors=false: one answer per element, in order);
POST /ManualJournals changes the status of many (VOIDED for a posted journal, DELETED for a draft), each
element by its ManualJournalID. A ManualJournal has no number and no Reference, and Xero does not say that
`Url` can be filtered in `where`, so a lookup lists the journals changed since the earliest moment the rows
could have sent theirs (If-Modified-Since), narrowed by their dates, and matches the Url marker here.
/Accounts gives the codes of Xero's system accounts, which take no manual journal line.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ..sync.manual_journal_mapping import ManualJournalRecord
from .plumbing import NO_ID, SdkCalls, as_date, count_mismatch, messages
from .transport import SEND_BY

DATES_PER_QUERY = 25


class SdkManualJournals:
	"""The ManualJournals endpoint (sync.ports.ManualJournalGateway) over the shared SDK plumbing."""

	def __init__(self, sdk: SdkCalls):
		self.sdk = sdk

	def create_journals(
		self, tenant_id: str, bodies: Sequence[dict], idempotency_key: str, send_by: float | None = None
	) -> list[ManualJournalRecord | tuple[str, ...]]:
		"""PUT the journals in one request; each result is the journal or Xero's messages, in input order. A
		request that has not left by `send_by` (time.monotonic()) is dropped unsent."""
		if not bodies:
			return []
		label = _label(bodies)
		token = SEND_BY.set(send_by)
		try:
			answer = self.sdk.call(
				self.sdk.api.create_manual_journals,
				tenant_id,
				self.sdk.wrap("ManualJournals", "ManualJournal", bodies, label),
				summarize_errors=False,
				idempotency_key=idempotency_key,
				document=label,
			)
		finally:
			SEND_BY.reset(token)
		found = answer.manual_journals or []
		if len(found) != len(bodies):
			raise count_mismatch(len(found), len(bodies))
		return [_result(j) for j in found]

	def wire_sizes(self, bodies: Sequence[dict]) -> list[int]:
		"""The bytes each journal takes in create_journals' request body (sync.batching)."""
		return self.sdk.wire_sizes("ManualJournal", bodies, _label(bodies))

	def set_statuses(
		self, tenant_id: str, changes: Sequence[tuple[str, str, str]], idempotency_key: str
	) -> list[ManualJournalRecord | tuple[str, ...]]:
		"""POST (journal ID, narration, new status) changes in one request; results in input order. The
		narration goes along because Xero requires it on every ManualJournal element."""
		if not changes:
			return []
		label = ", ".join(journal_id for journal_id, _, _ in changes[:5])
		elements = [
			{"ManualJournalID": journal_id, "Narration": narration, "Status": status}
			for journal_id, narration, status in changes
		]
		answer = self.sdk.call(
			self.sdk.api.update_or_create_manual_journals,
			tenant_id,
			self.sdk.wrap("ManualJournals", "ManualJournal", elements, label),
			summarize_errors=False,
			idempotency_key=idempotency_key,
			document=label,
		)
		found = answer.manual_journals or []
		if len(found) != len(changes):
			raise count_mismatch(len(found), len(changes))
		return [_result(j) for j in found]

	def find_journals(
		self, tenant_id: str, urls: Sequence[str], dates: Sequence[date], since: datetime | None
	) -> list[ManualJournalRecord]:
		"""Every journal (any status) whose Url is one of `urls`, among those dated one of `dates` and
		changed since `since` (UTC; all when None), paged."""
		wanted = set(u for u in urls if u)
		days = sorted(set(dates))
		found: dict[str, ManualJournalRecord] = {}
		extra = {} if since is None else {"if_modified_since": since}
		for start in range(0, len(days), DATES_PER_QUERY):
			chunk = days[start : start + DATES_PER_QUERY]
			where = " OR ".join(f"Date==DateTime({d.year}, {d.month:02d}, {d.day:02d})" for d in chunk)
			for journal in self.sdk.paged(
				self.sdk.api.get_manual_journals, "manual_journals", tenant_id, where=where, **extra
			):
				record = journal_record(journal)
				if record is not None and record.url in wanted:
					found[record.xero_id] = record
		return list(found.values())

	def system_accounts(self, tenant_id: str) -> frozenset[str]:
		"""Codes of the organisation's system accounts (SystemAccount set), which take no journal line."""
		accounts = self.sdk.call(self.sdk.api.get_accounts, tenant_id).accounts or []
		return frozenset(
			str(a.code) for a in accounts if a.code and getattr(a.system_account, "value", a.system_account)
		)


def journal_record(journal: Any) -> ManualJournalRecord | None:
	"""A ManualJournal model as a record, or None without a real ID."""
	if not journal.manual_journal_id or journal.manual_journal_id == NO_ID:
		return None
	status = getattr(journal.status, "value", journal.status) or ""
	lines = tuple(
		(str(line.account_code or ""), str(Decimal(str(line.line_amount)).quantize(Decimal("0.01"))))
		for line in journal.journal_lines or []
		if line.line_amount is not None
	)
	return ManualJournalRecord(
		xero_id=journal.manual_journal_id,
		status=str(status),
		url=journal.url or None,
		date=as_date(journal.date) if journal.date else None,
		narration=journal.narration or "",
		lines=lines,
		updated=journal.updated_date_utc,
	)


def _result(journal: Any) -> ManualJournalRecord | tuple[str, ...]:
	errors = messages(journal.validation_errors)
	if journal.status_attribute_string == "ERROR" and not errors:
		errors = ("Xero reported an error for this manual journal without a message.",)
	if errors:
		return errors
	return journal_record(journal) or ("Xero returned no ID for this manual journal.",)


def _label(bodies: Sequence[dict]) -> str:
	"""The entries a request is for, for messages (their Url ends with the entry's name)."""
	return ", ".join(dict.fromkeys(str(b.get("Url") or "").rsplit("/", 1)[-1] for b in bodies[:5]))
