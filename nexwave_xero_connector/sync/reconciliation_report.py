"""ERPNext vs Xero for a company and a period: counts and totals per kind, and every difference.

The ERP side is given as plain data (documents dated in the period, submitted or cancelled, with the
Xero ID their row or the document holds); the Xero side is what Xero holds dated in the period (one
paged listing). Documents are paired by Xero ID first, then by kind and number (for bills, whose
numbers repeat across suppliers, only with our Url marker or an equal total). Differences:
  - in ERPNext, not in Xero: a submitted document with no live Xero counterpart (fix: Push / Retry, or
    Backfill for a document posted before the go-live date);
  - in Xero, not in ERPNext: every live Xero document of the period that no ERP document pairs with,
    each with why (our marker, a tracked ID, our number, or not sent from ERPNext), so every count the
    figures show is itemised (fix: look at it in Xero; the report never suggests voiding it);
  - totals differ: paired, both live, other total (fix: correct the wrong side);
  - status differs: submitted here, voided or deleted there (fix: Retry sends it again);
  - cancelled here, live there (fix: Void in Xero).
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from .mapping import document_url
from .model import Kind, XeroRecord

IN_ERP_ONLY = "In ERPNext, not in Xero"
IN_XERO_ONLY = "In Xero, not in ERPNext"
TOTAL_DIFFERS = "Totals differ"
STATUS_DIFFERS = "Status differs"
CANCELLED_LIVE = "Cancelled here, live in Xero"
CATEGORIES = (IN_ERP_ONLY, IN_XERO_ONLY, TOTAL_DIFFERS, STATUS_DIFFERS, CANCELLED_LIVE)
ZERO = Decimal(0)


@dataclass(frozen=True)
class ErpDocument:
	doctype: str
	name: str
	kind: Kind
	number: str
	total: Decimal  # positive, document currency (as in Xero)
	docstatus: int  # 1 submitted, 2 cancelled
	xero_id: str | None = None  # the row's, else the document's
	row_status: str | None = None
	before_go_live: bool = False  # posted before the company's go-live date: only a Backfill sends it


@dataclass(frozen=True)
class Difference:
	category: str
	kind: Kind
	erp: ErpDocument | None
	xero: XeroRecord | None
	detail: str
	fix: str  # the desk action that fixes it: "Push", "Retry", "Void in Xero" or ""


@dataclass
class KindFigures:
	erp_count: int = 0
	erp_total: Decimal = ZERO
	xero_count: int = 0
	xero_total: Decimal = ZERO


@dataclass
class Comparison:
	figures: dict[Kind, KindFigures] = field(default_factory=lambda: {k: KindFigures() for k in Kind})
	differences: list[Difference] = field(default_factory=list)

	def of(self, category: str) -> list[Difference]:
		return [d for d in self.differences if d.category == category]


def estimate_calls(erp_counts: dict[Kind, int], page_size: int = 1000) -> int:
	"""Calls the comparison will spend: one paged GET for invoices and bills, one for credit notes; each
	takes a page per `page_size` documents (Xero may hold more than ERPNext, so this is a floor)."""
	invoices = sum(n for k, n in erp_counts.items() if not k.is_credit_note)
	notes = sum(n for k, n in erp_counts.items() if k.is_credit_note)
	return max(1, math.ceil(invoices / page_size)) + max(1, math.ceil(notes / page_size))


def compare(erp: Sequence[ErpDocument], xero: Sequence[XeroRecord], site_url: str = "") -> Comparison:
	"""Figures and differences; see the module docstring."""
	out = Comparison()
	by_id = {r.xero_id: r for r in xero}
	paired: set[str] = set()
	for doc in erp:
		if doc.docstatus == 1:
			figures = out.figures[doc.kind]
			figures.erp_count += 1
			figures.erp_total += doc.total
	for record in xero:
		if record.is_live:
			figures = out.figures[record.kind]
			figures.xero_count += 1
			figures.xero_total += Decimal(record.total or 0)
	# pair by ID first, so a number match never steals a document another one is linked to
	matches: dict[tuple[str, str], XeroRecord | None] = {}
	for doc in erp:
		record = by_id.get(doc.xero_id or "")
		if record is not None:
			matches[(doc.doctype, doc.name)] = record
			paired.add(record.xero_id)
	for doc in erp:
		if (doc.doctype, doc.name) in matches:
			continue
		record = _by_number(doc, [r for r in xero if r.xero_id not in paired], site_url)
		matches[(doc.doctype, doc.name)] = record
		if record is not None:
			paired.add(record.xero_id)
	for doc in erp:
		record = matches[(doc.doctype, doc.name)]
		difference = _judge(doc, record)
		if difference is not None:
			out.differences.append(difference)
	ours_by_number = {(d.kind, d.number) for d in erp}
	tracked = {d.xero_id for d in erp if d.xero_id}
	for record in xero:
		if record.xero_id in paired or not record.is_live:
			continue  # every live Xero document counted and not paired is listed: the counts add up
		marker = bool(site_url and record.url and record.url.startswith(site_url.rstrip("/") + "/app/"))
		if marker:
			why = "carries this site's marker but no ERPNext document of the period matches it"
		elif record.xero_id in tracked:
			why = "is the Xero document a log row tracked, but no ERPNext document of the period matches it"
		elif (record.kind, record.number) in ours_by_number:
			why = "has the number of one of our documents, which is linked to another Xero document"
		else:
			why = (
				"was not sent from ERPNext (keyed in Xero, or by another app), and no ERPNext document of the "
				"period has its number"
			)
		out.differences.append(
			Difference(
				IN_XERO_ONLY,
				record.kind,
				None,
				record,
				f"{record.number or record.xero_id} ({record.status}, total {record.total}) {why}.",
				"",
			)
		)
	return out


def _by_number(doc: ErpDocument, candidates: Sequence[XeroRecord], site_url: str) -> XeroRecord | None:
	same = [r for r in candidates if r.kind == doc.kind and r.number == doc.number]
	if not same:
		return None
	if not doc.kind.number_is_unique:
		marker = document_url(site_url, doc.doctype, doc.name) if site_url else None
		same = [r for r in same if (marker and r.url == marker) or Decimal(r.total or 0) == doc.total]
	live = [r for r in same if r.is_live]
	return (live or same or [None])[0]


def _judge(doc: ErpDocument, record: XeroRecord | None) -> Difference | None:
	if doc.docstatus == 2:
		if record is not None and record.is_live:
			return Difference(
				CANCELLED_LIVE,
				doc.kind,
				doc,
				record,
				f"{doc.name} is cancelled in ERPNext; {record.number} is {record.status} in Xero.",
				"Void in Xero",
			)
		return None
	if record is None:
		fix = "Backfill" if doc.before_go_live else "Retry" if doc.row_status == "Failed" else "Push"
		state = f" (log: {doc.row_status})" if doc.row_status else " (never queued)"
		return Difference(IN_ERP_ONLY, doc.kind, doc, None, f"{doc.name}, total {doc.total}{state}.", fix)
	if not record.is_live:
		return Difference(
			STATUS_DIFFERS,
			doc.kind,
			doc,
			record,
			f"{doc.name} is submitted in ERPNext; {record.number} is {record.status} in Xero.",
			"Retry",
		)
	if Decimal(record.total or 0) != doc.total:
		return Difference(
			TOTAL_DIFFERS,
			doc.kind,
			doc,
			record,
			f"{doc.name}: total {doc.total} in ERPNext, {record.total} in Xero.",
			"",
		)
	return None


def period_of(date_from: datetime.date, date_to: datetime.date) -> str:
	return f"{date_from.isoformat()} to {date_to.isoformat()}"
