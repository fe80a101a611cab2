"""The background-call budget and the cadence it gives (sync.background): pure functions, no I/O."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from nexwave_xero_connector.sync.background import (
	DAY,
	HINTS,
	STATUS,
	DayUse,
	ListedOnce,
	Plan,
	ReadRecord,
	allowance,
	interval,
	next_read_at,
	payments_needed,
)
from nexwave_xero_connector.sync.model import Kind, XeroRecord

STARTER, STANDARD = 1000, 5000
MIDNIGHT = datetime(2026, 4, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(
	("limit", "webhooks", "budget", "floor_minutes"),
	[
		(STARTER, True, 20, 60),
		(STARTER, False, 100, 30),
		(STANDARD, True, 100, 60),
		(STANDARD, False, 500, 10),
	],
)
def test_the_budget_is_a_share_of_the_plan_and_the_floor_its_freshness(
	limit, webhooks, budget, floor_minutes
):
	plan = Plan(limit, webhooks)
	assert plan.budget == budget
	assert plan.poll_floor == floor_minutes * 60
	assert plan.freshness == (60 if webhooks else floor_minutes * 60)


def test_an_idle_starter_organisation_with_webhooks_reads_every_few_hours():
	plan = Plan(STARTER, webhooks=True)
	allowed = allowance(plan, DayUse(), 0)
	assert allowed == 17  # 20, three of them kept for webhook reads
	# a read listing invoices and credit notes (two calls): eight reads a day, every 2.8 hours
	assert interval(plan, allowed, 2, DAY) == pytest.approx(DAY * 2 / 17)
	# invoices alone (no credit note of ours in play): every 85 minutes
	assert interval(plan, allowed, 1, DAY) == pytest.approx(DAY / 17)


def test_without_webhooks_the_freshness_target_sets_the_pace_within_the_budget():
	starter = Plan(STARTER, webhooks=False)
	assert interval(starter, allowance(starter, DayUse(), 0), 2, DAY) == pytest.approx(30 * 60)
	standard = Plan(STANDARD, webhooks=False)
	assert interval(standard, allowance(standard, DayUse(), 0), 2, DAY) == 10 * 60
	# 30-minute reads of two calls spend 96 of the 100
	assert DAY / (30 * 60) * 2 <= starter.budget


def test_what_was_spent_slows_the_rest_of_the_day():
	plan = Plan(STARTER, webhooks=True)
	noon = DAY / 2
	# reads took 12 of the 20 by noon: five left for twelve hours, three kept for webhook reads
	allowed = allowance(plan, DayUse(background=12), noon)
	assert allowed == 5
	assert interval(plan, allowed, 1, DAY - noon) == pytest.approx(DAY / 2 / 5)
	assert interval(plan, allowance(plan, DayUse(background=17), noon), 1, DAY - noon) is None


def test_pushes_come_first():
	plan = Plan(STARTER, webhooks=False)
	# 400 push calls by 06:00 are on course for 1,600: nothing is left for reading
	assert allowance(plan, DayUse(pushes=400), DAY / 4) == 0
	# 300 by noon are on course for 600; 1000 - 300 - 300 - 50 reserved leaves more than the budget
	assert allowance(plan, DayUse(pushes=300), DAY / 2) == 100
	# 450 by noon: on course for 900; 1000 - 450 - 450 - 50 = 50 left for reading
	assert allowance(plan, DayUse(pushes=450), DAY / 2) == 50
	# Xero says another app spent the day: its word wins
	assert allowance(plan, DayUse(remaining=60), DAY / 2) == 10
	# one push in the first minute is not a trend (paced over an hour at least)
	assert allowance(plan, DayUse(pushes=1), 60) == 100


def test_next_read_is_due_after_the_interval_and_says_why():
	plan = Plan(STARTER, webhooks=False)
	now = MIDNIGHT + timedelta(hours=9)
	assert next_read_at(plan, DayUse(), None, 1, now) == (now, "never read")
	last = now - timedelta(minutes=5)
	due, why = next_read_at(plan, DayUse(background=30), last, 1, now)
	assert due == last + timedelta(minutes=30) and why == "freshness target"
	due, why = next_read_at(Plan(STARTER, True), DayUse(background=10), last, 2, now)
	assert why == "budget" and due > last + timedelta(hours=1)
	due, why = next_read_at(plan, DayUse(background=100), last, 1, now)
	assert (due, why) == (MIDNIGHT + timedelta(days=1), "today's background budget is spent")
	due, why = next_read_at(plan, DayUse(pushes=900), last, 1, now)
	assert (due, why) == (MIDNIGHT + timedelta(days=1), "pushes need today's calls")


def test_the_payments_listing_is_read_only_when_it_can_have_changed():
	now = MIDNIGHT + timedelta(hours=12)
	recent = now - timedelta(hours=1)
	assert not payments_needed(False, 5, None, now)  # no company pulls payments
	assert payments_needed(True, 0, None, now)  # never read
	assert not payments_needed(True, 0, recent, now)  # nothing changed: a payment touches its document
	assert payments_needed(True, 1, recent, now)
	assert payments_needed(True, 0, now - timedelta(days=1), now)  # the daily safety net


def test_the_record_keeps_each_read_and_the_day_spend():
	record = ReadRecord()
	at = MIDNIGHT + timedelta(hours=1)
	record.note(STATUS, at, 1, listings=1)
	record.note(HINTS, at + timedelta(minutes=5), 2)
	record.note(STATUS, at + timedelta(hours=1), 3, listings=1)
	again = ReadRecord.loads(record.dumps())
	assert again.spent(at.date()) == 6
	assert again.last_at(STATUS) == at + timedelta(hours=1)
	assert again.last[HINTS]["calls"] == 2
	assert again.cost(1) == pytest.approx(1 + 0.3 * 2)  # only scheduled reads move the estimate
	assert ReadRecord.loads("not json").days == {}
	for day in range(40):
		again.note(STATUS, at + timedelta(days=day), 1, listings=1)
	assert len(again.days) == 35


class _Gateway:
	def __init__(self):
		self.asked = []

	def live_since(self, tenant_id, since):
		self.asked.append(since)
		return []

	def get_documents(self, *args):
		return "read"


def test_the_untracked_scan_reuses_the_listing_unless_it_asks_further_back():
	old = MIDNIGHT - timedelta(hours=1)
	new = MIDNIGHT + timedelta(hours=1)
	records = [
		XeroRecord(Kind.SALES_INVOICE, "a", "A", "AUTHORISED", updated=old),
		XeroRecord(Kind.SALES_INVOICE, "b", "B", "AUTHORISED", updated=new),
	]
	gateway = _Gateway()
	listed = ListedOnce(gateway, records, old - timedelta(minutes=1))
	assert [r.xero_id for r in listed.live_since("t", MIDNIGHT)] == ["b"]
	assert gateway.asked == []
	listed.live_since("t", old - timedelta(hours=5))
	assert gateway.asked == [old - timedelta(hours=5)]
	assert listed.get_documents("t") == "read"
	assert len(ListedOnce(gateway, records, None).live_since("t", old - timedelta(days=9))) == 2


def test_webhook_reads_come_before_the_scheduled_ones():
	plan = Plan(STARTER, webhooks=True)
	noon = DAY / 2
	# six calls of webhook reads by noon are on course for six more: the polls pace on what is left
	assert allowance(plan, DayUse(background=10, hints=6), noon) == 20 - 10 - 6
	# a quiet morning: the reserve is kept all the same
	assert allowance(plan, DayUse(background=10, hints=0), noon) == 20 - 10 - 3
	assert Plan(STARTER, webhooks=False).hint_reserve == 0
	record = ReadRecord()
	record.note(HINTS, MIDNIGHT + timedelta(hours=3), 2)
	record.note(STATUS, MIDNIGHT + timedelta(hours=4), 1, listings=1)
	assert record.use(MIDNIGHT.date(), pushes=7) == DayUse(pushes=7, background=3, hints=2)
