"""Backfill: bring a company's older documents under the connector without ever making a duplicate.

For a company, some document kinds, a posting-date range and a mode, every submitted document that no
row tracks yet (or whose row was Skipped, e.g. posted before the go-live date) is looked up in Xero in
batches BEFORE anything is created:
  - sales invoices and credit notes by number (Xero keeps those numbers unique);
  - bills and supplier credit notes by number, then kept only when the contact is the supplier's and the
    date and total agree (Xero does not keep bill numbers unique: other suppliers reuse them).
A match with equal total (and contact) is adopted: the row is Synced with the Xero ID, which is also
written on the document; nothing is sent. A match whose total, contact, date or status differs is a
Conflict showing both figures, never overwritten. What is truly missing is queued through the normal
outbox (mode "Adopt, then create"; the row's backfill flag makes every live document go first), or
left Skipped with the reason (mode "Adopt only").

Each slice of documents is decided and written in one transaction, so a crash loses at most the slice
in progress and a resumed run (the same call again) skips everything already written: the same result
as a run that never stopped. The gateway is the governed one, so the rate limits and the day budget
hold; a refusal from them pauses the run, which resumes later from where it stopped.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Protocol

from .config import PURCHASE_INVOICE
from .errors import XeroError
from .journal import LOG_TABLE, WRITE_BACK_SQL, XERO_FIELDS_TABLES, SqlDb, insert_row, retake_skipped
from .mapping import owed_total
from .model import ContactRecord, ErrorClass, Kind, Status, XeroRecord
from .payments_from_xero import retake_untracked
from .ports import XeroGateway

ADOPT_ONLY = "Adopt only"
ADOPT_THEN_CREATE = "Adopt, then create"
MODES = (ADOPT_ONLY, ADOPT_THEN_CREATE)
SLICE = 500  # documents decided and written per transaction (Xero is asked 50 numbers per call)
ADOPTED_PREFIX = "Adopted: already in Xero"
MAX_WAIT = 90.0  # seconds a rate-limit refusal is waited out; longer (the day budget) pauses the run


class Verdict(str, Enum):
	ADOPT = "adopt"
	CONFLICT = "conflict"
	MISSING = "missing"


@dataclass(frozen=True)
class Candidate:
	"""A submitted ERP document the backfill may take, as plain data."""

	doctype: str
	name: str
	company: str
	kind: Kind
	number: str  # its Xero number: the name for sales, the supplier's bill number (else the name) for bills
	party: str  # Customer / Supplier ID (the ContactNumber of the contacts this connector creates)
	party_name: str
	posting_date: datetime.date
	total: Decimal  # what it owes, positive, in its own currency: the Total it has (or would have) in Xero
	row: str | None = None  # its Skipped Xero Sync Log row, if it has one
	bill_date: datetime.date | None = None  # the supplier's date, which a person keying the bill may use

	@property
	def party_type(self) -> str:
		return "Supplier" if self.doctype == PURCHASE_INVOICE else "Customer"


@dataclass(frozen=True)
class Decision:
	candidate: Candidate
	verdict: Verdict
	message: str
	record: XeroRecord | None = None


@dataclass
class BackfillReport:
	examined: int = 0
	adopted: int = 0
	conflicts: int = 0
	queued: int = 0
	skipped: int = 0
	calls: int = 0  # gateway lookups (each asks Xero for up to 50 numbers or names per request)
	total: int = 0  # documents in range still to decide when the run started
	stopped_by: str = ""  # why it stopped before the end ("" when done)
	waits: int = 0  # rate-limit refusals waited out
	conflict_names: list[str] = field(default_factory=list)

	@property
	def done(self) -> bool:
		return not self.stopped_by and self.examined >= self.total

	def as_dict(self) -> dict:
		return {
			"examined": self.examined,
			"adopted": self.adopted,
			"conflicts": self.conflicts,
			"queued": self.queued,
			"skipped": self.skipped,
			"calls": self.calls,
			"total": self.total,
			"stopped_by": self.stopped_by,
		}


class BackfillSource(Protocol):
	"""The ERP side: documents to decide, and the Xero contact cached on a party."""

	def candidates(
		self,
		company: str,
		kinds: Sequence[Kind],
		date_from: datetime.date,
		date_to: datetime.date,
		decided_since: datetime.datetime | None = None,
	) -> list[Candidate]:
		"""Submitted documents of `company` posted in [date_from, date_to] of these kinds, without a log
		row or with a Skipped one, oldest first; a Skipped row written at or after `decided_since` (by the
		run being resumed) is left out."""

	def contact_id(self, party_type: str, party: str, tenant_id: str) -> str | None:
		"""The Xero contact cached on the party for this organisation."""


def candidate_of(doc: dict, row: str | None = None) -> Candidate:
	"""The Candidate of an ERP document given as a dict (a document's fields, children not needed)."""
	doctype = doc["doctype"]
	is_return = bool(int(doc.get("is_return") or 0))
	if doctype == PURCHASE_INVOICE:
		kind = Kind.BILL_CREDIT if is_return else Kind.BILL
		number = (doc.get("bill_no") or "").strip() or doc["name"]
		party, party_name = doc.get("supplier") or "", doc.get("supplier_name") or ""
	else:
		kind = Kind.SALES_CREDIT if is_return else Kind.SALES_INVOICE
		number = doc["name"]
		party, party_name = doc.get("customer") or "", doc.get("customer_name") or ""
	return Candidate(
		doctype=doctype,
		name=doc["name"],
		company=doc.get("company") or "",
		kind=kind,
		number=number,
		party=party,
		party_name=party_name or party,
		posting_date=_as_date(doc.get("posting_date")),
		total=abs(owed_total(doc)),
		row=row,
		bill_date=_as_date(doc.get("bill_date")) if doc.get("bill_date") else None,
	)


def _as_date(value) -> datetime.date:
	if isinstance(value, datetime.datetime):
		return value.date()
	if isinstance(value, datetime.date):
		return value
	return datetime.date.fromisoformat(str(value)[:10])


class _Counting:
	"""Counts gateway calls (a paged GET counts once) and paces them: at most one per `min_interval`
	seconds, so the live pushes keep most of the organisation's per-minute budget."""

	def __init__(self, gateway: XeroGateway, report: BackfillReport, min_interval: float, sleep, monotonic):
		self.gateway = gateway
		self.report = report
		self.min_interval = min_interval
		self.sleep = sleep
		self.monotonic = monotonic
		self.last: float | None = None

	def __call__(self, fn: Callable, *args, **kwargs):
		if self.min_interval and self.last is not None:
			wait = self.last + self.min_interval - self.monotonic()
			if wait > 0:
				self.sleep(wait)
		self.last = self.monotonic()
		self.report.calls += 1
		return fn(*args, **kwargs)


def backfill(
	tenant_id: str,
	company: str,
	kinds: Sequence[Kind],
	date_from: datetime.date,
	date_to: datetime.date,
	mode: str,
	*,
	source: BackfillSource,
	gateway: XeroGateway,
	db: SqlDb,
	clock: Callable[[], datetime.datetime],
	user: str = "Administrator",
	should_stop: Callable[[], bool] = lambda: False,
	progress: Callable[[BackfillReport], None] = lambda report: None,
	slice_size: int = SLICE,
	min_interval: float = 0.0,
	max_wait: float = MAX_WAIT,
	resumes: datetime.datetime | None = None,
	sleep: Callable[[float], None] = time.sleep,
	monotonic: Callable[[], float] = time.monotonic,
) -> BackfillReport:
	"""Decide and record every candidate of the range, slice by slice; see the module docstring.

	A rate-limit refusal that clears within `max_wait` seconds (the per-minute budget, shared with the
	live pushes) is waited out and the slice looked up again; a longer one (the day budget) pauses the
	run, and `report.stopped_by` says so."""
	if mode not in MODES:
		raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
	report = BackfillReport()
	# Skipped rows are candidates again, those an earlier adopt-only run left "not in Xero" too: the
	# document may have been keyed into Xero since (a batched lookup per slice is all it costs). Only a
	# resume (`resumes`: when the run began) leaves out what that same run already decided.
	candidates = source.candidates(company, kinds, date_from, date_to, resumes)
	report.total = len(candidates)
	call = _Counting(gateway, report, min_interval, sleep, monotonic)
	contacts: dict[tuple[str, str], set[str]] = {}
	start = 0
	while start < len(candidates):
		if should_stop():
			report.stopped_by = "Stopped on request."
			break
		chunk = candidates[start : start + slice_size]
		try:
			contacts.update(_contacts(tenant_id, chunk, contacts, source, call))
			decisions = _decide_slice(tenant_id, chunk, contacts, call, db)
		except XeroError as exc:
			wait = exc.retry_after or 0
			if exc.error_class == ErrorClass.RATE_LIMITED and 0 < wait <= max_wait:
				report.waits += 1
				sleep(wait)
				continue  # nothing of this slice was written: look it up again
			if exc.is_retryable or exc.error_class in (ErrorClass.CONNECTION, ErrorClass.RATE_LIMITED):
				report.stopped_by = f"Paused: {exc.message}"
				break
			raise
		_record(db, tenant_id, decisions, mode, clock(), user, report)
		progress(report)
		start += slice_size
	return report


def _contacts(
	tenant_id: str,
	chunk: Sequence[Candidate],
	known: dict[tuple[str, str], set[str]],
	source: BackfillSource,
	call: _Counting,
) -> dict[tuple[str, str], set[str]]:
	"""Every Xero contact that may be each new party's: the cached one, the one numbered with its ID, and
	an unnumbered one (or one numbered with its ID) carrying its name, as a person keying by hand makes."""
	parties = {(c.party_type, c.party): c.party_name for c in chunk}
	new = {p: n for p, n in parties.items() if p not in known}
	if not new:
		return {}
	found: dict[tuple[str, str], set[str]] = {p: set() for p in new}
	for party in new:
		cached = source.contact_id(party[0], party[1], tenant_id)
		if cached:
			found[party].add(cached)
	gateway = call.gateway
	by_number: dict[str, list[ContactRecord]] = {}
	for contact in call(gateway.find_contacts, tenant_id, sorted({p[1] for p in new})):
		by_number.setdefault(contact.contact_number or "", []).append(contact)
	by_name: dict[str, list[ContactRecord]] = {}
	for contact in call(gateway.find_contacts_by_name, tenant_id, sorted({n for n in new.values() if n})):
		by_name.setdefault(contact.name.casefold(), []).append(contact)
	for party, name in new.items():
		found[party] |= {c.contact_id for c in by_number.get(party[1], [])}
		found[party] |= {
			c.contact_id
			for c in by_name.get((name or "").casefold(), [])
			if not c.contact_number or c.contact_number == party[1]
		}
	return found


def _decide_slice(
	tenant_id: str,
	chunk: Sequence[Candidate],
	contacts: dict[tuple[str, str], set[str]],
	call: _Counting,
	db: SqlDb,
) -> list[Decision]:
	"""One batched lookup per kind, then a decision per document; a Xero document is adopted once."""
	by_kind: dict[Kind, list[Candidate]] = {}
	for candidate in chunk:
		by_kind.setdefault(candidate.kind, []).append(candidate)
	found: dict[Kind, list[XeroRecord]] = {}
	for kind, group in by_kind.items():
		found[kind] = call(call.gateway.find_documents, tenant_id, kind, sorted({c.number for c in group}))
	taken = _tracked(db, [r.xero_id for records in found.values() for r in records])
	decisions = []
	for candidate in chunk:
		same = [r for r in found[candidate.kind] if r.number == candidate.number]
		decision = decide(candidate, same, contacts.get((candidate.party_type, candidate.party), set()))
		if decision.verdict is Verdict.ADOPT and decision.record.xero_id in taken:
			decision = Decision(
				candidate,
				Verdict.CONFLICT,
				f"Conflict: the matching Xero {_label(candidate.kind)} {candidate.number} "
				f"({decision.record.xero_id}) is already linked to another ERPNext document. Nothing was sent "
				"or changed in Xero. Check both documents; press Retry to create this one if it is not a duplicate.",
				decision.record,
			)
		if decision.verdict is Verdict.ADOPT:
			taken.add(decision.record.xero_id)
		decisions.append(decision)
	return decisions


def decide(candidate: Candidate, same_number: Sequence[XeroRecord], contacts: set[str]) -> Decision:
	"""Adopt, conflict or missing, for one document and the Xero documents of its kind and number."""
	c = candidate
	records = [r for r in same_number if r.kind == c.kind and r.number == c.number]
	if c.kind.number_is_unique:
		if not records:
			return Decision(c, Verdict.MISSING, "")
		record = next((r for r in records if r.is_live), records[0])
		differences = _differences(c, record, contacts, compare_date=False)
	else:
		# bills: only the supplier's own count; another supplier's bill with the same number is not ours
		mine = [r for r in records if r.contact_id in contacts]
		if not mine:
			return Decision(c, Verdict.MISSING, "")
		ranked = sorted(mine, key=lambda r: len(_differences(c, r, contacts, compare_date=True)))
		record = ranked[0]
		differences = _differences(c, record, contacts, compare_date=True)
	if not differences:
		return Decision(
			c,
			Verdict.ADOPT,
			f"{ADOPTED_PREFIX} as {record.number} ({record.status}, total {record.total}); nothing was sent.",
			record,
		)
	return Decision(
		c,
		Verdict.CONFLICT,
		f"Conflict: Xero already has {_label(c.kind)} {record.number} ({record.xero_id}) that differs from "
		f"{c.name}: {'; '.join(differences)}. Nothing was sent and nothing in Xero was changed. Correct "
		"whichever side is wrong; to send this document anyway press Retry (for a sales number, void or "
		"renumber the one in Xero first: Xero never takes a sales number twice).",
		record,
	)


def _differences(c: Candidate, record: XeroRecord, contacts: set[str], *, compare_date: bool) -> list[str]:
	"""What differs between the ERP document and the Xero one, both figures in words."""
	out = []
	if record.total is None or Decimal(record.total) != c.total:
		out.append(f"total {record.total} in Xero, {c.total} in ERPNext")
	if record.contact_id not in contacts:
		out.append(
			f"contact {record.contact_id} in Xero, {c.party_type} {c.party} in ERPNext (no Xero contact of "
			"that party matches)"
		)
	if compare_date and record.date is not None and record.date not in (c.posting_date, c.bill_date):
		out.append(f"date {record.date} in Xero, {c.posting_date} in ERPNext")
	if not record.is_live:
		out.append(f"status {record.status} in Xero, submitted in ERPNext")
	return out


def _tracked(db: SqlDb, xero_ids: Sequence[str]) -> set[str]:
	"""The IDs a log row or an ERP document already holds (adopting them again would link two documents)."""
	ids = tuple(dict.fromkeys(i for i in xero_ids if i))
	if not ids:
		return set()
	tables = [LOG_TABLE, *XERO_FIELDS_TABLES.values()]
	sql = " UNION ".join(f"SELECT xero_id FROM {t} WHERE xero_id IN %(ids)s" for t in tables)
	return {r["xero_id"] for r in db.query(sql, {"ids": ids})}


def _record(
	db: SqlDb,
	tenant_id: str,
	decisions: Iterable[Decision],
	mode: str,
	now: datetime.datetime,
	user: str,
	report: BackfillReport,
) -> None:
	"""Write the slice's rows (and adopted IDs on the documents) in one transaction; payments made in Xero
	on the adopted documents, skipped until now, are queued to be recorded."""
	adopted: list[str] = []
	for d in decisions:
		c = d.candidate
		record = d.record if d.verdict is Verdict.ADOPT else None
		if d.verdict is Verdict.ADOPT:
			status, error_class, message, title = (
				Status.SYNCED,
				None,
				d.message,
				f"{c.name} adopted from Xero",
			)
			report.adopted += 1
		elif d.verdict is Verdict.CONFLICT:
			status, error_class, message = Status.FAILED, ErrorClass.CONFLICT.value, d.message
			title = f"{c.name} conflicts with Xero"
			report.conflicts += 1
			report.conflict_names.append(c.name)
		elif mode == ADOPT_THEN_CREATE:
			status, error_class, title = Status.QUEUED, None, f"{c.name} queued for Xero by a backfill"
			message = "Not in Xero: queued by a backfill to be created (after every live document)."
			report.queued += 1
		else:
			status, error_class, title = Status.SKIPPED, None, f"{c.name} skipped: not in Xero (adopt only)"
			message = (
				"Not in Xero (adopt only): nothing was sent. Run the backfill again with 'Adopt, then create' "
				"to create it."
			)
			report.skipped += 1
		values = {
			"status": status.value,
			"error_class": error_class,
			"message": message,
			"title": title[:140],
			"tenant_id": tenant_id,
			"xero_id": record.xero_id if record else None,
			"xero_number": record.number if record else None,
			"xero_status": record.status if record else None,
			"now": now,
		}
		report.examined += 1
		if c.row:
			if not retake_skipped(db, c.row, values):
				_uncount(
					report, d, mode
				)  # submitted again (or pushed) meanwhile: its row is not ours to decide
				continue
		else:
			insert_row(
				db,
				doctype=c.doctype,
				name=c.name,
				company=c.company,
				tenant_id=tenant_id,
				xero_type=c.kind.value,
				now=now,
				status=status,
				title=title,
				user=user,
				message=message,
				xero_id=values["xero_id"],
				xero_number=values["xero_number"],
				xero_status=values["xero_status"],
				error_class=error_class,
				backfill=True,
			)
		if record is not None:
			db.execute(
				WRITE_BACK_SQL.format(table=XERO_FIELDS_TABLES[c.doctype]),
				{"name": c.name, "xero_id": record.xero_id, "xero_status": record.status, "now": now},
			)
			adopted.append(record.xero_id)
	retake_untracked(db, tenant_id, adopted, now)
	db.commit("backfill: a slice's decisions and adopted IDs are one fact; a resumed run skips them")


def _uncount(report: BackfillReport, d: Decision, mode: str) -> None:
	"""Take back the count of a decision that was not written."""
	if d.verdict is Verdict.ADOPT:
		report.adopted -= 1
	elif d.verdict is Verdict.CONFLICT:
		report.conflicts -= 1
		report.conflict_names.remove(d.candidate.name)
	elif mode == ADOPT_THEN_CREATE:
		report.queued -= 1
	else:
		report.skipped -= 1


def _label(kind: Kind) -> str:
	return {
		Kind.SALES_INVOICE: "sales invoice",
		Kind.SALES_CREDIT: "credit note",
		Kind.BILL: "bill",
		Kind.BILL_CREDIT: "supplier credit note",
	}[kind]
