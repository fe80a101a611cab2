"""The safety net for untracked copies: Xero documents the connector created that no log row points to.

Every run lists the organisation's live documents changed since the last run (two paged GETs), drops
those whose ID a log row or an ERP document holds, and looks at the rest by number:
  - no ERP document carries that number (or, for bills, our Url marker): not ours, left alone;
  - the ERP document's row is still Queued (maybe leased, its create maybe in flight with the ID not yet
    stored): deferred to the next run, never touched;
  - the ERP document's Xero document (the one its row or the document itself points to) has the same
    kind, number, contact, total and date (and Url for bills): a look-alike. Only what is provably ours
    is touched: a look-alike that carries this site's Url marker for the ERP document and that Xero says
    this app created (GET /Invoices?createdByMyApp=true) is voided (AUTHORISED) or deleted (DRAFT,
    SUBMITTED) when nothing blocks it; any other look-alike (keyed by a person, a credit note, which has
    neither a Url nor that flag) is recorded as an Orphan with both documents, for a person to decide;
  - anything else that carries our number (no Xero ID on the ERP side to compare with, or the tracked
    document is no longer live while the ERP document is submitted) is recorded as an Orphan, never voided.
The documents are read in full by ID before any decision (the listing is a summary). The guarantee does
not rest on this: the drain prevents copies at their cause; this finds what slipped through.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from . import keys
from .config import PURCHASE_INVOICE, SALES_INVOICE
from .errors import XeroError
from .journal import LOG_TABLE, XERO_FIELDS_TABLES, SqlDb
from .mapping import document_url
from .model import Kind, SentIdentity, Status, XeroRecord
from .ports import XeroGateway

VOIDED = "Voided"
ORPHAN = "Orphan"
# Documents changed this long before the previous run started are listed again: our clock and Xero's
# UpdatedDateUTC may disagree by a little, and listing a document twice costs nothing.
OVERLAP = timedelta(minutes=10)
ID_CHUNK = 1000  # Xero IDs per SELECT ... IN (...) when checking a listing against the log


@dataclass(frozen=True)
class Claim:
	"""An ERP document that carries a Xero number, as the ERP and the log know it."""

	doctype: str
	name: str
	kind: Kind
	number: str
	docstatus: int | None  # None: the document was deleted in ERPNext (its log row remains)
	row_status: str | None  # None: no log row (never queued, or cleared by Log Settings)
	xero_id: str | None  # the row's Xero ID, else the one stored on the ERP document

	@property
	def in_flight(self) -> bool:
		"""A Queued row may be leased with a create in flight whose ID is not stored yet."""
		return self.row_status == Status.QUEUED.value

	@property
	def ref(self) -> tuple[str, str]:
		return (self.doctype, self.name)


class Ledger(Protocol):
	"""What the log and the ERP know about Xero documents."""

	def tracked(self, xero_ids: Sequence[str]) -> set[str]:
		"""The IDs among `xero_ids` that a log row's or an ERP document's xero_id holds."""

	def claims(self, tenant_id: str, numbers: Sequence[str]) -> list[Claim]:
		"""The ERP documents of this organisation whose Xero number is one of `numbers`."""


@dataclass(frozen=True)
class Finding:
	"""An untracked Xero document the run voided or recorded as an Orphan."""

	kind: Kind
	xero_id: str
	number: str | None
	status: str  # VOIDED or ORPHAN
	reason: str
	xero_status: str
	reference: tuple[str, str] | None = None


@dataclass
class ReconcileReport:
	listed: int = 0
	untracked: int = 0
	not_ours: int = 0
	deferred: list[XeroRecord] = field(default_factory=list)
	findings: list[Finding] = field(default_factory=list)
	calls: int = 0  # gateway calls (a paged listing counts once)
	errors: list[str] = field(default_factory=list)
	next_since: datetime | None = None

	@property
	def voided(self) -> list[Finding]:
		return [f for f in self.findings if f.status == VOIDED]

	@property
	def orphans(self) -> list[Finding]:
		return [f for f in self.findings if f.status == ORPHAN]


def reconcile(
	tenant_id: str,
	since: datetime,
	*,
	gateway: XeroGateway,
	ledger: Ledger,
	site_url: str,
	started: datetime,
	auto_void: bool = True,
) -> ReconcileReport:
	"""Find the organisation's untracked copies changed since `since` and settle them.

	`started` is when the caller read its clock before this run; `report.next_since` is what to pass as
	`since` next time (held back to the oldest deferred document, so it is listed again). A failure on one
	kind of document is recorded in `report.errors` and leaves the others to be settled.
	"""
	report = ReconcileReport()
	count = _Counter(gateway, report)
	listed = count(gateway.live_since, tenant_id, since)
	report.listed = len(listed)
	known = ledger.tracked([r.xero_id for r in listed])
	untracked = [r for r in listed if r.xero_id not in known]
	report.untracked = len(untracked)
	claims: dict[tuple[Kind, str], list[Claim]] = {}
	numbers = sorted({r.number for r in untracked if r.number})
	for claim in ledger.claims(tenant_id, numbers) if numbers else []:
		claims.setdefault((claim.kind, claim.number), []).append(claim)
	candidates: list[tuple[XeroRecord, list[Claim]]] = []
	for record in untracked:
		mine = claims.get((record.kind, record.number or ""), [])
		if not mine:
			report.not_ours += 1
		elif any(c.in_flight for c in mine):
			report.deferred.append(record)
		else:
			candidates.append((record, mine))
	by_kind: dict[Kind, list[tuple[XeroRecord, list[Claim]]]] = {}
	for record, mine in candidates:
		by_kind.setdefault(record.kind, []).append((record, mine))
	for kind, group in by_kind.items():
		try:
			_settle_kind(tenant_id, kind, group, count, site_url, started, auto_void, report)
		except XeroError as exc:
			report.errors.append(f"{kind.value}: {exc.message}")
			report.deferred += [record for record, _ in group]
	oldest = min((r.updated for r in report.deferred if r.updated), default=None)
	report.next_since = min(started, oldest) - OVERLAP if oldest else started - OVERLAP
	if report.deferred and not oldest:
		report.next_since = since  # no timestamp to hold back to: list the same window again
	return report


class _Counter:
	"""Calls the gateway and counts the calls on the report."""

	def __init__(self, gateway: XeroGateway, report: ReconcileReport):
		self.gateway = gateway
		self.report = report

	def __call__(self, fn: Callable, *args, **kwargs):
		self.report.calls += 1
		return fn(*args, **kwargs)


def _settle_kind(
	tenant_id: str,
	kind: Kind,
	group: list[tuple[XeroRecord, list[Claim]]],
	count: _Counter,
	site_url: str,
	started: datetime,
	auto_void: bool,
	report: ReconcileReport,
) -> None:
	"""Read the candidates and the documents they may copy in full, decide, void in one request what is
	provably ours: a copy carrying this site's marker for the document, which Xero says this app created."""
	tracked_ids = {c.xero_id for _, mine in group for c in mine if c.xero_id}
	wanted = [r.xero_id for r, _ in group] + sorted(tracked_ids)
	full = {r.xero_id: r for r in count(count.gateway.get_documents, tenant_id, kind, wanted)}
	copies: list[tuple[XeroRecord, Claim, XeroRecord | None]] = []
	for listed, mine in group:
		record = full.get(listed.xero_id)
		if record is None or not record.is_live:
			continue  # gone or voided meanwhile: nothing left to settle
		verdict = _judge(record, mine, full, site_url)
		if verdict is None:
			report.not_ours += 1
			continue
		claim, copy_of, reason = verdict
		reason = reason or _blocked(record)
		if reason is None and not auto_void:
			reason = "automatic voiding (Void on Cancel) is off"
		if reason is None:
			copies.append((record, claim, copy_of))
			continue
		report.findings.append(
			_finding(record, claim, ORPHAN, _orphan_reason(record, claim, copy_of, reason))
		)
	marked = [r.xero_id for r, claim, _ in copies if _carries_marker(r, claim, site_url)]
	made_here = count(count.gateway.created_by_app, tenant_id, kind, marked) if marked else set()
	to_void: list[tuple[XeroRecord, Claim, str]] = []
	for record, claim, copy_of in copies:
		if record.xero_id in made_here and record.xero_id in marked:
			to_void.append((record, claim, _new_status(record)))
			continue
		report.findings.append(
			_finding(record, claim, ORPHAN, _look_alike_reason(record, claim, copy_of, site_url))
		)
	if to_void:
		_void(tenant_id, kind, to_void, count, started, report)


def _carries_marker(record: XeroRecord, claim: Claim, site_url: str) -> bool:
	"""The copy carries this site's Url marker for the claimed ERP document (credit notes have no Url)."""
	return bool(site_url and record.url and record.url == document_url(site_url, claim.doctype, claim.name))


def _judge(
	record: XeroRecord, claims: list[Claim], full: dict[str, XeroRecord], site_url: str
) -> tuple[Claim, XeroRecord | None, str | None] | None:
	"""(claim, tracked document it copies, reason not to void or None), or None when it is not ours.

	A look-alike dated otherwise than the tracked document, without our marker, is another document (a
	supplier that bills the same amount every month under one reference): not ours, never a finding."""
	for claim in claims:
		original = full.get(claim.xero_id or "")
		if original is None or _as_identity(original).find_in([record]) is not record:
			continue
		if original.date and record.date and original.date != record.date:
			if not _carries_marker(record, claim, site_url):
				continue
		if claim.docstatus == 1 and not original.is_live:
			return claim, original, f"the tracked {original.number} is {original.status} in Xero"
		return claim, original, None
	for claim in claims:
		marker = document_url(site_url, claim.doctype, claim.name) if site_url else None
		if record.url and marker and record.url != marker:
			continue
		if not claim.kind.number_is_unique and not (record.url and record.url == marker):
			continue  # a bill number alone proves nothing: suppliers reuse them
		if claim.xero_id:
			reason = (
				f"it differs (contact, total or marker) from {claim.xero_id}, the Xero document the log points "
				"to, so it is not voided automatically"
			)
		else:
			state = claim.row_status or "cleared from the log"
			reason = f"{claim.doctype} {claim.name} has no Xero ID to compare it with (log: {state})"
		return claim, None, reason
	return None


def _as_identity(original: XeroRecord) -> SentIdentity:
	"""The tracked document as the identity a copy of it would carry."""
	return SentIdentity(
		kind=original.kind,
		number=original.number or "",
		contact_id=original.contact_id or "",
		total=original.total if original.total is not None else Decimal(0),
		url=original.url,
	)


def _blocked(record: XeroRecord) -> str | None:
	"""Why the copy cannot be voided as it is (payments, allocations), or None."""
	if record.status == "PAID" or record.amount_paid or record.amount_credited or record.allocations:
		return record.void_blocker()
	return None


def _new_status(record: XeroRecord) -> str:
	return "DELETED" if record.status in ("DRAFT", "SUBMITTED") else "VOIDED"


def _void(
	tenant_id: str,
	kind: Kind,
	to_void: list[tuple[XeroRecord, Claim, str]],
	count: _Counter,
	started: datetime,
	report: ReconcileReport,
) -> None:
	changes = [(r.xero_id, s) for r, _, s in to_void]
	# one key per run: a run an hour later may retry what Xero refused (it caches errors 6 minutes)
	key = keys.status_key(tenant_id, kind.value, [(i, s, int(started.timestamp())) for i, s in changes])
	results = count(count.gateway.set_statuses, tenant_id, kind, changes, key)
	for (record, claim, new_status), result in zip(to_void, results, strict=True):
		if result.ok:
			reason = (
				f"An untracked copy of {claim.doctype} {claim.name} (no log row pointed to it); "
				f"{new_status.lower()} in Xero."
			)
			report.findings.append(_finding(record, claim, VOIDED, reason, new_status))
		else:
			refused = "; ".join(result.errors) or "Xero refused the void"
			reason = _orphan_reason(record, claim, None, refused)
			report.findings.append(_finding(record, claim, ORPHAN, reason))


def void_one(tenant_id: str, kind: Kind, xero_id: str, *, gateway: XeroGateway, attempt: int) -> Finding:
	"""A person's Void in Xero for one recorded Orphan: read it, void/delete it when nothing blocks it."""
	found = gateway.get_documents(tenant_id, kind, [xero_id])
	record = found[0] if found else None
	if record is None or not record.is_live:
		status = record.status if record else "DELETED"
		return Finding(
			kind, xero_id, record.number if record else None, VOIDED, "Already gone in Xero.", status
		)
	blocked = _blocked(record)
	if blocked:
		return Finding(kind, xero_id, record.number, ORPHAN, f"Still live in Xero: {blocked}.", record.status)
	new_status = _new_status(record)
	key = keys.status_key(tenant_id, kind.value, [(xero_id, new_status, attempt)])
	(result,) = gateway.set_statuses(tenant_id, kind, [(xero_id, new_status)], key)
	if not result.ok:
		refused = "; ".join(result.errors) or "Xero refused the void"
		return Finding(kind, xero_id, record.number, ORPHAN, refused, record.status)
	return Finding(
		kind, xero_id, record.number, VOIDED, f"{new_status.capitalize()} in Xero by hand.", new_status
	)


def _finding(record: XeroRecord, claim: Claim, status: str, reason: str, xero_status: str = "") -> Finding:
	return Finding(
		kind=record.kind,
		xero_id=record.xero_id,
		number=record.number,
		status=status,
		reason=reason,
		xero_status=xero_status or record.status,
		reference=claim.ref,
	)


def _orphan_reason(record: XeroRecord, claim: Claim, copy_of: XeroRecord | None, reason: str) -> str:
	what = f"{record.number or record.xero_id} ({record.status})"
	of = f" of {copy_of.number} ({copy_of.xero_id})" if copy_of else ""
	ref = f"{claim.doctype} {claim.name}"
	if copy_of is None:
		# Nothing to compare it with: it may be the real document (keyed by hand, or a Backfill conflict).
		advice = (
			f"It may be the real document for {ref}: compare the two, correct whichever side is wrong and run "
			"a Backfill to link them, or press Ignore to keep it as it is."
		)
	elif not copy_of.is_live:
		advice = f"It is now the only live Xero document for {ref}: keep it (press Ignore) unless {ref} should not be in Xero."
	else:
		advice = "Void it in Xero, or press Void in Xero here once nothing blocks it."
	return (
		f"{what} in Xero carries the number of {ref} but no log row points to it"
		f"{' (a copy' + of + ')' if copy_of else ''}: {reason}. {advice}"
	)


def _look_alike_reason(record: XeroRecord, claim: Claim, copy_of: XeroRecord | None, site_url: str) -> str:
	"""A document that looks like a copy, but which nothing proves this app made: a person decides."""
	what = f"{record.number or record.xero_id} ({record.status}, {record.date or 'no date'})"
	of = (
		f"{copy_of.number} ({copy_of.xero_id}, {copy_of.date or 'no date'})" if copy_of else "the tracked one"
	)
	if record.kind.is_credit_note:
		proof = "Xero cannot say which app made a credit note"
	elif not _carries_marker(record, claim, site_url):
		proof = f"it does not carry this site's link to {claim.doctype} {claim.name}"
	else:
		proof = "Xero does not list it as created by this app"
	return (
		f"{what} in Xero has the number, contact and total of {claim.doctype} {claim.name}, whose Xero "
		f"document is {of}, but {proof}: it may have been keyed in Xero by a person, so it was not "
		"touched. Compare the two in Xero: if it is a second copy, press Void in Xero here; if it is a "
		"document of its own, press Ignore."
	)


# -- the Ledger over the log and ERPNext's invoice tables (frappe.db or PyMySQL) -------------------------


class SqlLedger:
	"""Ledger over SQL: `tabXero Sync Log` and the Sales/Purchase Invoice tables (xero_id, bill_no)."""

	def __init__(
		self,
		db: SqlDb,
		companies_of: Callable[[str], Sequence[str]],
		before_go_live: Callable[[str, date | None], bool] | None = None,
	):
		self.db = db
		self.companies_of = companies_of  # the ERP companies linked to a Xero organisation
		# (company, posting date) -> whether the document is older than the company's go-live date: such a
		# document was never pushed (a hand-keyed copy in Xero is not ours) unless a Backfill took it.
		self.before_go_live = before_go_live or (lambda company, posting_date: False)

	def tracked(self, xero_ids: Sequence[str]) -> set[str]:
		ids = tuple(dict.fromkeys(i for i in xero_ids if i))
		if not ids:
			return set()
		tables = [LOG_TABLE, *XERO_FIELDS_TABLES.values()]
		sql = " UNION ".join(f"SELECT xero_id FROM {t} WHERE xero_id IN %(ids)s" for t in tables)
		found: set[str] = set()
		for start in range(0, len(ids), ID_CHUNK):
			found |= {r["xero_id"] for r in self.db.query(sql, {"ids": ids[start : start + ID_CHUNK]})}
		return found

	def claims(self, tenant_id: str, numbers: Sequence[str]) -> list[Claim]:
		wanted = tuple(dict.fromkeys(n for n in numbers if n))
		if not wanted:
			return []
		companies = tuple(self.companies_of(tenant_id)) or ("",)
		params = {"numbers": wanted, "tenant": tenant_id, "companies": companies}
		found: dict[tuple[str, str], Claim] = {}
		for doctype, table in XERO_FIELDS_TABLES.items():
			by_number = (
				"(d.name IN %(numbers)s OR TRIM(d.bill_no) IN %(numbers)s)"
				if doctype == PURCHASE_INVOICE
				else "d.name IN %(numbers)s"
			)
			bill_no = "d.bill_no" if doctype == PURCHASE_INVOICE else "NULL"
			rows = self.db.query(
				f"""SELECT d.name, d.docstatus, d.is_return, {bill_no} AS bill_no, d.xero_id AS doc_xero_id,
					d.company, d.posting_date, l.status, l.xero_id, l.xero_type, l.xero_number
				FROM {table} d
				LEFT JOIN {LOG_TABLE} l ON l.reference_doctype = %(doctype)s AND l.reference_name = d.name
				WHERE {by_number}
					AND (l.tenant_id = %(tenant)s OR (l.name IS NULL AND d.company IN %(companies)s))""",
				{**params, "doctype": doctype},
			)
			for r in rows:
				untouched = r["status"] in (None, Status.SKIPPED.value) and not (
					r["xero_id"] or r["doc_xero_id"]
				)
				if untouched and self.before_go_live(r["company"], r["posting_date"]):
					continue  # posted before go-live and never sent: a Xero document of that number is not ours
				number = (r["bill_no"] or "").strip() or r["name"]
				claim = Claim(
					doctype=doctype,
					name=r["name"],
					kind=_claim_kind(doctype, r["xero_type"], r["is_return"]),
					number=r["xero_number"] if r["xero_number"] in wanted else number,
					docstatus=int(r["docstatus"]),
					row_status=r["status"],
					xero_id=r["xero_id"] or r["doc_xero_id"] or None,
				)
				if claim.number in wanted:
					found[claim.ref] = claim
		# rows whose document was deleted in ERPNext: the log keeps the number it had in Xero
		for r in self.db.query(
			f"""SELECT reference_doctype, reference_name, status, xero_id, xero_type, xero_number FROM {LOG_TABLE}
			WHERE tenant_id = %(tenant)s AND (xero_number IN %(numbers)s OR reference_name IN %(numbers)s)""",
			params,
		):
			ref = (r["reference_doctype"], r["reference_name"])
			number = r["xero_number"] or (r["reference_name"] if ref[0] == SALES_INVOICE else None)
			if ref in found or number not in wanted or ref[0] not in XERO_FIELDS_TABLES:
				continue
			if self._exists(ref):
				continue
			found[ref] = Claim(
				doctype=ref[0],
				name=ref[1],
				kind=_claim_kind(ref[0], r["xero_type"], 0),
				number=number,
				docstatus=None,
				row_status=r["status"],
				xero_id=r["xero_id"] or None,
			)
		return list(found.values())

	def _exists(self, ref: tuple[str, str]) -> bool:
		table = XERO_FIELDS_TABLES[ref[0]]
		return bool(self.db.query(f"SELECT name FROM {table} WHERE name = %(n)s", {"n": ref[1]}))


def _claim_kind(doctype: str, xero_type: str | None, is_return) -> Kind:
	if xero_type:
		return Kind(xero_type)
	if doctype == PURCHASE_INVOICE:
		return Kind.BILL_CREDIT if int(is_return or 0) else Kind.BILL
	return Kind.SALES_CREDIT if int(is_return or 0) else Kind.SALES_INVOICE
