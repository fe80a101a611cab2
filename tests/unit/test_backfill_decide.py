"""Backfill decisions and its pacing, without Xero or a database (fakes only)."""

from __future__ import annotations

import datetime
from decimal import Decimal

from nexwave_xero_connector.sync.backfill import (
	ADOPT_ONLY,
	Candidate,
	Verdict,
	backfill,
	candidate_of,
	decide,
)
from nexwave_xero_connector.sync.errors import XeroError
from nexwave_xero_connector.sync.model import ErrorClass, Kind, XeroRecord

DAY = datetime.date(2026, 3, 2)


def _candidate(kind=Kind.SALES_INVOICE, number="SINV-1", total="115.00", **changes) -> Candidate:
	values = dict(
		doctype="Purchase Invoice" if kind in (Kind.BILL, Kind.BILL_CREDIT) else "Sales Invoice",
		name="DOC-1",
		company="Co",
		kind=kind,
		number=number,
		party="P1",
		party_name="Party One",
		posting_date=DAY,
		total=Decimal(total),
	)
	values.update(changes)
	return Candidate(**values)


def _record(
	kind=Kind.SALES_INVOICE, number="SINV-1", total="115.00", contact="c-1", status="AUTHORISED", on=DAY
):
	return XeroRecord(
		kind=kind,
		xero_id=f"x-{number}-{contact}-{total}",
		number=number,
		status=status,
		contact_id=contact,
		total=Decimal(total),
		date=on,
	)


def test_sales_document_with_equal_total_and_contact_is_adopted():
	decision = decide(_candidate(), [_record()], {"c-1"})
	assert decision.verdict is Verdict.ADOPT and decision.message.startswith("Adopted: already in Xero")


def test_sales_document_whose_total_contact_or_status_differs_is_a_conflict_with_both_figures():
	total = decide(_candidate(), [_record(total="125.00")], {"c-1"})
	assert total.verdict is Verdict.CONFLICT
	assert "total 125.00 in Xero, 115.00 in ERPNext" in total.message
	contact = decide(_candidate(), [_record(contact="c-9")], {"c-1"})
	assert (
		contact.verdict is Verdict.CONFLICT
		and "contact c-9 in Xero, Customer P1 in ERPNext" in contact.message
	)
	voided = decide(_candidate(), [_record(status="VOIDED")], {"c-1"})
	assert voided.verdict is Verdict.CONFLICT and "status VOIDED in Xero" in voided.message


def test_no_document_of_that_number_is_missing():
	assert decide(_candidate(), [], {"c-1"}).verdict is Verdict.MISSING


def test_a_bill_number_of_another_supplier_is_not_ours_and_the_supplier_s_own_is_judged():
	bill = _candidate(Kind.BILL, "INV-1")
	assert decide(bill, [_record(Kind.BILL, "INV-1", contact="other")], {"c-1"}).verdict is Verdict.MISSING
	both = [_record(Kind.BILL, "INV-1", contact="other"), _record(Kind.BILL, "INV-1")]
	assert decide(bill, both, {"c-1"}).verdict is Verdict.ADOPT
	later = decide(bill, [_record(Kind.BILL, "INV-1", on=DAY + datetime.timedelta(days=3))], {"c-1"})
	assert (
		later.verdict is Verdict.CONFLICT
		and "date 2026-03-05 in Xero, 2026-03-02 in ERPNext" in later.message
	)
	keyed_on_bill_date = _candidate(Kind.BILL, "INV-1", bill_date=DAY - datetime.timedelta(days=2))
	on_bill_date = [_record(Kind.BILL, "INV-1", on=DAY - datetime.timedelta(days=2))]
	assert decide(keyed_on_bill_date, on_bill_date, {"c-1"}).verdict is Verdict.ADOPT


def test_candidate_of_takes_the_number_and_the_positive_total_the_mapper_would_send():
	sales_return = candidate_of(
		{
			"doctype": "Sales Invoice",
			"name": "SR-1",
			"is_return": 1,
			"customer": "C",
			"posting_date": "2026-03-02",
			"grand_total": -1505.75,
			"rounded_total": -1506.0,
		}
	)
	assert (sales_return.kind, sales_return.number, sales_return.total) == (
		Kind.SALES_CREDIT,
		"SR-1",
		Decimal("1506.00"),
	)
	bill = candidate_of(
		{
			"doctype": "Purchase Invoice",
			"name": "PI-1",
			"bill_no": " SP-9 ",
			"supplier": "S",
			"posting_date": "2026-03-02",
			"grand_total": 999.28,
			"rounded_total": 999.28,
			"disable_rounded_total": 1,
		}
	)
	assert (bill.kind, bill.number, bill.total, bill.party_type) == (
		Kind.BILL,
		"SP-9",
		Decimal("999.28"),
		"Supplier",
	)


class FakeDb:
	def __init__(self):
		self.inserted = 0
		self.commits = []

	def query(self, sql, params):
		return []

	def execute(self, sql, params):
		self.inserted += "INSERT" in sql
		return 1

	def commit(self, reason):
		self.commits.append(reason)


class Source:
	def __init__(self, n):
		self.items = [_candidate(name=f"DOC-{i}", number=f"SINV-{i}") for i in range(n)]

	def candidates(self, company, kinds, date_from, date_to, decided_since=None):
		return list(self.items)

	def contact_id(self, party_type, party, tenant_id):
		return "c-1"


class LimitedGateway:
	"""Refuses the first document lookup with a rate limit of `retry_after` seconds."""

	def __init__(self, retry_after):
		self.retry_after = retry_after
		self.lookups = 0

	def find_contacts(self, tenant_id, numbers):
		return []

	def find_contacts_by_name(self, tenant_id, names):
		return []

	def find_documents(self, tenant_id, kind, numbers, contact_ids=()):
		self.lookups += 1
		if self.lookups == 1:
			raise XeroError("Rate limited", error_class=ErrorClass.RATE_LIMITED, retry_after=self.retry_after)
		return []


def _run(gateway, n=3, **kwargs):
	slept = []
	db = FakeDb()
	report = backfill(
		"t",
		"Co",
		[Kind.SALES_INVOICE],
		DAY,
		DAY,
		ADOPT_ONLY,
		source=Source(n),
		gateway=gateway,
		db=db,
		clock=lambda: datetime.datetime(2026, 3, 3),
		sleep=slept.append,
		monotonic=lambda: 0.0,
		**kwargs,
	)
	return report, slept, db


def test_a_short_rate_limit_is_waited_out_and_the_slice_looked_up_again():
	report, slept, db = _run(LimitedGateway(retry_after=20))
	assert (report.waits, slept, report.skipped, report.stopped_by, db.inserted) == (1, [20], 3, "", 3)


def test_the_day_budget_pauses_the_run_before_anything_is_written():
	report, slept, db = _run(LimitedGateway(retry_after=5 * 3600))
	assert report.stopped_by.startswith("Paused: Rate limited") and (slept, db.inserted, db.commits) == (
		[],
		0,
		[],
	)


def test_lookups_are_paced_to_leave_the_live_pushes_their_budget():
	gateway = LimitedGateway(retry_after=1)
	gateway.lookups = 1  # no refusal
	report, slept, _db = _run(gateway, n=4, slice_size=2, min_interval=2.0)
	# contacts (2 lookups) then one document lookup per slice: every call after the first waits 2 s
	assert report.calls == 4 and slept == [2.0, 2.0, 2.0]
