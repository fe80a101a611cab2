"""The status poll: Xero's status and amounts back onto every Synced invoice, bill and credit note.

One poll per organisation asks what changed since its watermark (If-Modified-Since, the gateway's scan
pager: one GET for invoices and bills, one for credit notes, pages of up to 1,000). The same listing serves
the drift scan: what was voided or deleted there goes to journal.flag_removed_in_xero, so no second reader
exists. Invoices are listed summaryOnly (except on an organisation's first poll); a summary is trusted only for what it carries (Status, AmountDue),
so a tracked invoice whose summary differs from what we hold is read by ID (batched) for AmountPaid,
AmountCredited and FullyPaidOnDate. Credit notes are listed in full. Writes are idempotent (a row is only
written when something differs), so overlapping windows, replays and a lost watermark reach the same state.

Framework-free: SQL through the journal's SqlDb, the watermark through a small port. Does not commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from .journal import LOG_TABLE, XERO_FIELDS_TABLES, SqlDb, flag_removed_in_xero
from .model import Kind, XeroRecord
from .ports import XeroGateway

ALL_STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED")
REMOVED_STATUSES = frozenset({"VOIDED", "DELETED"})
# The next poll looks this far behind the moment this one started: tolerates clock skew between us and
# Xero and documents committed there while we were reading. Costs nothing: re-listed documents that did
# not change are not written and not read again.
OVERLAP = timedelta(minutes=5)
ID_CHUNK = 500
# The status fields kept on the log row and, as read-only custom fields, on the ERPNext document.
STATUS_FIELDS = (
	"xero_status",
	"xero_amount_paid",
	"xero_amount_credited",
	"xero_amount_due",
	"xero_fully_paid_on",
)

TRACKED_SQL = f"""
SELECT name, reference_doctype, reference_name, xero_id, xero_type, {", ".join(STATUS_FIELDS)}
FROM {LOG_TABLE}
WHERE tenant_id = %(tenant_id)s AND xero_id IN %(ids)s AND status = 'Synced' AND reference_name IS NOT NULL
"""

# Only a Synced row is written: a Queued row belongs to the drain holding its lease (FINISH_SQL requires
# Queued, so the two never write the same row).
WRITE_LOG_SQL = f"""
UPDATE {LOG_TABLE}
SET xero_status = %(xero_status)s, xero_amount_paid = %(xero_amount_paid)s,
	xero_amount_credited = %(xero_amount_credited)s, xero_amount_due = %(xero_amount_due)s,
	xero_fully_paid_on = %(xero_fully_paid_on)s
WHERE name = %(name)s AND status = 'Synced' AND xero_id = %(xero_id)s
"""

WRITE_DOC_SQL = """
UPDATE {table}
SET xero_status = %(xero_status)s, xero_amount_paid = %(xero_amount_paid)s,
	xero_amount_credited = %(xero_amount_credited)s, xero_amount_due = %(xero_amount_due)s,
	xero_fully_paid_on = %(xero_fully_paid_on)s
WHERE name = %(reference_name)s
"""


@dataclass(frozen=True)
class StatusFacts:
	"""What we keep of a Xero document: for a credit note, paid = refunded, due = remaining credit."""

	xero_status: str
	xero_amount_paid: Decimal
	xero_amount_credited: Decimal
	xero_amount_due: Decimal | None
	xero_fully_paid_on: date | None

	@classmethod
	def of(cls, record: XeroRecord) -> StatusFacts:
		removed = record.status in REMOVED_STATUSES
		due = record.remaining_credit if record.kind.is_credit_note else record.amount_due
		return cls(
			xero_status=record.status,
			xero_amount_paid=record.amount_paid or Decimal(0),
			xero_amount_credited=record.amount_credited or Decimal(0),
			xero_amount_due=Decimal(0) if removed else due,
			xero_fully_paid_on=record.fully_paid_on,
		)

	@classmethod
	def stored(cls, row: dict) -> StatusFacts:
		return cls(*(row.get(f) for f in STATUS_FIELDS))

	def as_params(self) -> dict:
		return {f: getattr(self, f) for f in STATUS_FIELDS}


class Watermarks(Protocol):
	"""Where each organisation's poll keeps the time its next If-Modified-Since starts from."""

	def get(self, tenant_id: str) -> datetime | None:
		"""The watermark, or None when the organisation was never polled (the poll then lists all)."""

	def put(self, tenant_id: str, value: datetime) -> None:
		"""Keep the watermark (in the caller's transaction, with the poll's writes)."""


@dataclass
class PollReport:
	listed: int = 0  # documents Xero listed as changed
	tracked: int = 0  # of those, Synced rows here
	fetched: int = 0  # invoices read by ID because their summary changed
	updated: list[str] = field(default_factory=list)  # ERP documents whose status fields were written
	flagged: list[str] = field(default_factory=list)  # ERP documents failed by the drift scan
	payments_listed: int = 0  # payments Xero listed as changed (companies taking them as Payment Entries)
	payments_queued: list[str] = field(default_factory=list)  # PaymentIDs queued to record or undo

	def add(self, other: PollReport) -> None:
		self.listed += other.listed
		self.tracked += other.tracked
		self.fetched += other.fetched
		self.updated += other.updated
		self.flagged += other.flagged


def poll_tenant(
	tenant_id: str,
	*,
	gateway: XeroGateway,
	db: SqlDb,
	watermarks: Watermarks,
	started: datetime,
	now: datetime,
) -> PollReport:
	"""One organisation's poll: list what changed since the watermark, write it back, flag what was
	voided or deleted there, move the watermark. `started` is an aware UTC time taken before the first
	call; `now` is the site clock for the log's messages. A failing call raises before the watermark
	moves, so the next poll covers the same window."""
	since = watermarks.get(tenant_id)
	# The first poll reads everything in full (pages of 1,000 carry the amounts; summaries would cost a
	# read by ID per 50 tracked invoices); later polls list summaries of what changed.
	summaries = since is not None
	records = gateway.modified_since(tenant_id, since, ALL_STATUSES, summary_only=summaries)
	report = apply_records(db, tenant_id, records, gateway=gateway, now=now, summaries=summaries)
	watermarks.put(tenant_id, started - OVERLAP)
	return report


def refresh_documents(
	tenant_id: str, ids: dict[Kind, Sequence[str]], *, gateway: XeroGateway, db: SqlDb, now: datetime
) -> PollReport:
	"""Read these documents by ID (a webhook's hint) and write their status back; the watermark is left
	alone, so the regular poll still covers them whatever the hint said. Only documents Synced here are
	read: a hint about anything else costs no call."""
	tracked = _tracked(db, tenant_id, [i for xero_ids in ids.values() for i in xero_ids])
	records: list[XeroRecord] = []
	for kind, xero_ids in ids.items():
		wanted = [i for i in dict.fromkeys(xero_ids) if i in tracked]
		if wanted:
			records += gateway.get_documents(tenant_id, kind, wanted)
	return apply_records(db, tenant_id, records, gateway=gateway, now=now, summaries=False)


def apply_records(
	db: SqlDb,
	tenant_id: str,
	records: Sequence[XeroRecord],
	*,
	gateway: XeroGateway,
	now: datetime,
	summaries: bool,
) -> PollReport:
	"""Write Xero's status facts onto the Synced rows (and their documents) these records concern.

	With `summaries`, invoice records are summaryOnly listings: one whose Status or AmountDue differs
	from what we hold (or that we never filled) is read again by ID before writing."""
	report = PollReport(listed=len(records))
	rows = _tracked(db, tenant_id, [r.xero_id for r in records])
	report.tracked = sum(len(found) for found in rows.values())
	full: list[XeroRecord] = []
	stale: dict[Kind, list[str]] = {}
	for record in records:
		found = rows.get(record.xero_id)
		if not found:
			continue
		if summaries and not record.kind.is_credit_note and record.status not in REMOVED_STATUSES:
			if any(_summary_differs(record, row) for row in found):
				stale.setdefault(record.kind, []).append(record.xero_id)
			continue
		full.append(record)
	for kind, xero_ids in stale.items():
		fetched = gateway.get_documents(tenant_id, kind, xero_ids)
		report.fetched += len(fetched)
		full += fetched
	for record in full:
		report.updated += _write(db, record, rows.get(record.xero_id, []))
	report.flagged = flag_removed_in_xero(
		db, tenant_id, [r for r in records if r.status in REMOVED_STATUSES], now
	)
	return report


def _summary_differs(record: XeroRecord, row: dict) -> bool:
	"""Whether a summary says something changed: unknown amounts count as changed."""
	stored = StatusFacts.stored(row)
	if stored.xero_amount_paid is None or record.amount_due is None:
		return True
	return (record.status, record.amount_due) != (stored.xero_status, stored.xero_amount_due)


def _write(db: SqlDb, record: XeroRecord, rows: Iterable[dict]) -> list[str]:
	"""Write the record's facts where they differ; return the ERP documents written."""
	facts = StatusFacts.of(record)
	written = []
	for row in rows:
		if StatusFacts.stored(row) == facts:
			continue
		params = {**facts.as_params(), "name": row["name"], "xero_id": record.xero_id}
		if not db.execute(WRITE_LOG_SQL, params):
			continue  # the row left Synced since we read it: its new owner decides
		table = XERO_FIELDS_TABLES.get(row["reference_doctype"])
		if table:
			db.execute(
				WRITE_DOC_SQL.format(table=table),
				{**facts.as_params(), "reference_name": row["reference_name"]},
			)
		written.append(row["reference_name"])
	return written


def _tracked(db: SqlDb, tenant_id: str, xero_ids: Sequence[str]) -> dict[str, list[dict]]:
	"""Synced rows of this organisation by Xero ID."""
	wanted = list(dict.fromkeys(i for i in xero_ids if i))
	rows: dict[str, list[dict]] = {}
	for start in range(0, len(wanted), ID_CHUNK):
		chunk = tuple(wanted[start : start + ID_CHUNK])
		for row in db.query(TRACKED_SQL, {"tenant_id": tenant_id, "ids": chunk}):
			rows.setdefault(row["xero_id"], []).append(row)
	return rows
