"""Background reading has a budget: how often an organisation is read, and what one read lists.

Every scheduled read of an organisation (status poll, drift, payments listing, untracked-copy scan) and
every read a webhook wakes comes out of one daily budget: a share of the plan's daily limit (2% when
webhooks are configured, since they carry freshness and the poll is only the safety net; 10% without).
Pushes come first: when today's pushes are on course to need the calls, the budget shrinks to what they
leave, down to nothing. Webhook reads come next (they carry freshness): the scheduled reads are paced on
what is left once the webhooks' pace today is set aside.

The cadence follows from the budget: what is left of it today, spread over what is left of the day, at
what a read costs; never more often than the freshness target needs (with webhooks an hour, as a safety
net; without, 30 minutes on a Starter plan and 10 on the others).

One read serves every reader. The invoices listing since the watermark (and the credit notes one, only
while the organisation has credit notes in play here) is the status poll's, the drift scan's and the
untracked-copy scan's, which lists the same documents (the live ones changed since its own watermark). A
payment made or deleted in Xero changes its document's UpdatedDateUTC, so the payments listing is read
only after a listing showed a change, or once a day as a safety net (its watermark only moves when it is
read, so a skipped listing loses nothing).

Framework-free: the policy is pure functions over small values; `read_organisation` runs the folded read
through the same core functions the status poll uses. Does not commit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone

from .batching import STARTER_DAILY_LIMIT
from .journal import LOG_TABLE, SqlDb
from .model import LIVE_XERO_STATUSES, Kind, XeroRecord
from .ports import XeroGateway
from .status_poll import ALL_STATUSES, OVERLAP, PollReport, Watermarks, apply_records

DAY = 86_400
HOUR = 3_600
WEBHOOK_SHARE = 0.02  # of the plan's daily limit, when webhooks are configured
POLL_SHARE = 0.10  # without webhooks
# Kept for pushes whatever their pace today (a burst of submits after a quiet morning).
PUSH_RESERVE_SHARE = 0.05
# Of a webhook plan's budget, kept for webhook reads whatever their pace today (changes after a quiet
# morning); they are never refused, so this is what keeps a late burst inside the day's budget.
HINT_RESERVE_SHARE = 0.15
# Today's push pace is measured over at least this long (one early push is not a trend).
PACE_WINDOW = HOUR
# The longest a change made in Xero may wait to reach ERPNext: with webhooks the delivery brings it (the
# poll is a safety net at most hourly); without, the poll's interval.
WEBHOOK_FRESHNESS = 60
SAFETY_NET_INTERVAL = HOUR
STARTER_FRESHNESS = 30 * 60
STANDARD_FRESHNESS = 10 * 60
# The payments listing is read at least this often even when no document listing showed a change.
PAYMENTS_MAX_AGE = DAY
# Weight of the newest read in the running estimate of what a read costs beyond its listings.
COST_WEIGHT = 0.3
DAYS_KEPT = 35  # per-day spend kept on the record (the workspace chart shows the last 30)

# Reads of an organisation, as the record keeps them.
STATUS = "status"  # the folded listing: status, drift and untracked copies
PAYMENTS = "payments"
HINTS = "hints"  # documents a webhook named, read by ID
READS = (STATUS, PAYMENTS, HINTS)


# -- the policy ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
	"""What an organisation may spend on background reading, and how fresh it must be."""

	daily_limit: int
	webhooks: bool

	@property
	def starter(self) -> bool:
		return self.daily_limit <= STARTER_DAILY_LIMIT

	@property
	def share(self) -> float:
		return WEBHOOK_SHARE if self.webhooks else POLL_SHARE

	@property
	def budget(self) -> int:
		"""Background calls a day at most."""
		return math.floor(self.daily_limit * self.share)

	@property
	def freshness(self) -> int:
		"""Seconds a change in Xero may take to reach ERPNext."""
		if self.webhooks:
			return WEBHOOK_FRESHNESS
		return STARTER_FRESHNESS if self.starter else STANDARD_FRESHNESS

	@property
	def poll_floor(self) -> int:
		"""Seconds between two polls at least: no more often than freshness needs."""
		return SAFETY_NET_INTERVAL if self.webhooks else self.freshness

	@property
	def push_reserve(self) -> int:
		return math.ceil(self.daily_limit * PUSH_RESERVE_SHARE)

	@property
	def hint_reserve(self) -> int:
		return math.ceil(self.budget * HINT_RESERVE_SHARE) if self.webhooks else 0


@dataclass(frozen=True)
class DayUse:
	"""An organisation's calls today (UTC day)."""

	pushes: int = 0  # the drains' calls (the sync log's attempts)
	background: int = 0  # background reading's calls (the record), webhook reads included
	hints: int = 0  # of those, the reads webhooks woke
	remaining: int | None = None  # Xero's X-DayLimit-Remaining as last seen (other apps included)


def _on_course(spent: int, seconds_into_day: float) -> int:
	"""What today's pace of `spent` comes to over the rest of the day."""
	elapsed = max(seconds_into_day, PACE_WINDOW)
	return math.ceil(spent * max(DAY - seconds_into_day, 0) / elapsed)


def allowance(plan: Plan, use: DayUse, seconds_into_day: float) -> int:
	"""Calls the scheduled reads may still spend today: the budget's rest, less what webhook reads are on
	course to take from it (they carry freshness; at least a reserve), and never what pushes are on course
	to need (today's pace over the rest of the day, plus a reserve). Zero when pushes need everything."""
	hints_ahead = max(_on_course(use.hints, seconds_into_day), plan.hint_reserve)
	left = plan.budget - use.background - hints_ahead
	day_left = plan.daily_limit - use.pushes - use.background
	if use.remaining is not None:
		day_left = min(day_left, use.remaining)
	spare = day_left - _on_course(use.pushes, seconds_into_day) - plan.push_reserve
	return max(0, min(left, spare))


def interval(plan: Plan, allowed: int, cost: float, seconds_left: float) -> float | None:
	"""Seconds from the last read to the next: what is allowed spread over the rest of the day at `cost`
	calls a read, never shorter than the plan's poll floor. None: no read fits in today's allowance."""
	cost = max(cost, 1.0)
	if allowed < cost:
		return None
	return max(float(plan.poll_floor), max(seconds_left, 0.0) * cost / allowed)


def day_start(now: datetime) -> datetime:
	"""Midnight UTC of `now`'s day (an aware datetime)."""
	now = now.astimezone(timezone.utc)
	return now.replace(hour=0, minute=0, second=0, microsecond=0)


def next_read_at(
	plan: Plan, use: DayUse, last_at: datetime | None, cost: float, now: datetime
) -> tuple[datetime, str]:
	"""When the organisation's next scheduled read is due, and why then (for the settings page)."""
	start = day_start(now)
	into = (now - start).total_seconds()
	allowed = allowance(plan, use, into)
	gap = interval(plan, allowed, cost, DAY - into)
	if gap is None:
		tomorrow = start + timedelta(days=1)
		if allowed == 0 and use.background < plan.budget:
			return tomorrow, "pushes need today's calls"
		return tomorrow, "today's background budget is spent"
	if last_at is None:
		return now, "never read"
	due = last_at + timedelta(seconds=gap)
	reason = "freshness target" if gap <= plan.poll_floor else "budget"
	return due, reason


def payments_needed(
	pulls: bool, documents_changed: int, last_payments_at: datetime | None, now: datetime
) -> bool:
	"""Whether the payments listing can have changed: only where a company pulls payments, and only after
	a document listing showed a change (a payment touches its document), or once a day regardless."""
	if not pulls:
		return False
	if documents_changed or last_payments_at is None:
		return True
	return (now - last_payments_at).total_seconds() >= PAYMENTS_MAX_AGE


# -- the record: when each read last ran and what it cost ------------------------------------------


@dataclass
class ReadRecord:
	"""Per organisation: each read's last run and calls, the spend per UTC day (and the webhook reads'
	part of it), the running estimate of what a scheduled read costs beyond its listings."""

	last: dict[str, dict] = field(default_factory=dict)  # read -> {"at": iso, "calls": n}
	days: dict[str, int] = field(default_factory=dict)  # "YYYY-MM-DD" -> background calls
	hint_days: dict[str, int] = field(default_factory=dict)  # "YYYY-MM-DD" -> of which webhook reads
	extra_cost: float = 0.0

	@classmethod
	def loads(cls, text: str | None) -> ReadRecord:
		if not text:
			return cls()
		try:
			data = json.loads(text)
		except ValueError:
			return cls()
		names = ("last", "days", "hint_days", "extra_cost")
		known = {k: data[k] for k in names if k in data}
		return cls(**known)

	def dumps(self) -> str:
		return json.dumps(asdict(self), sort_keys=True)

	def last_at(self, read: str) -> datetime | None:
		value = (self.last.get(read) or {}).get("at")
		return _aware(datetime.fromisoformat(value)) if value else None

	def spent(self, day: date) -> int:
		return int(self.days.get(day.isoformat(), 0))

	def hinted(self, day: date) -> int:
		"""Calls webhook reads spent on `day`."""
		return int(self.hint_days.get(day.isoformat(), 0))

	def use(self, day: date, *, pushes: int = 0, remaining: int | None = None) -> DayUse:
		return DayUse(pushes=pushes, background=self.spent(day), hints=self.hinted(day), remaining=remaining)

	def note(self, read: str, at: datetime, calls: int, *, listings: int | None = None) -> None:
		"""Record a read: its time and calls, today's spend; a scheduled read (`listings` given) also
		updates the estimate of its calls beyond the listings (reads by ID, payments, untracked copies)."""
		at = _aware(at)
		self.last[read] = {"at": at.isoformat(), "calls": int(calls)}
		key = at.date().isoformat()
		self.days[key] = self.spent(at.date()) + int(calls)
		if read == HINTS:
			self.hint_days[key] = self.hinted(at.date()) + int(calls)
		for days in (self.days, self.hint_days):
			for old in sorted(days)[:-DAYS_KEPT]:
				del days[old]
		if listings is not None:
			extra = max(0, calls - listings)
			self.extra_cost = (1 - COST_WEIGHT) * self.extra_cost + COST_WEIGHT * extra

	def cost(self, listings: int) -> float:
		return listings + self.extra_cost


def _aware(value: datetime) -> datetime:
	return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


# -- the folded read -------------------------------------------------------------------------------


CREDIT_NOTES_IN_PLAY_SQL = f"""
SELECT COUNT(*) AS n FROM {LOG_TABLE}
WHERE tenant_id = %(tenant_id)s AND xero_type IN %(types)s
	AND (status IN ('Queued', 'Failed', 'Orphan')
		OR (status = 'Synced' AND COALESCE(xero_status, '') NOT IN ('VOIDED', 'DELETED')))
"""


def credit_notes_in_play(db: SqlDb, tenant_id: str) -> bool:
	"""Whether this organisation has a credit note of ours that can still change in Xero."""
	types = tuple(k.value for k in Kind if k.is_credit_note)
	return bool(db.query(CREDIT_NOTES_IN_PLAY_SQL, {"tenant_id": tenant_id, "types": types})[0]["n"])


@dataclass
class FoldedRead:
	"""One scheduled read: the status report (drift included) and the live documents the untracked-copy
	scan should look at (changed since its own watermark)."""

	report: PollReport
	listed: list[XeroRecord]
	live: list[XeroRecord]
	listings: int  # listings made (a paged listing counts once)
	since: datetime | None  # what the listing asked for (None: everything)


def read_organisation(
	tenant_id: str,
	*,
	gateway: XeroGateway,
	db: SqlDb,
	watermarks: Watermarks,
	started: datetime,
	now: datetime,
	credit_notes: bool,
	scan_since: datetime | None = None,
) -> FoldedRead:
	"""List what changed since the earlier of the status poll's and the untracked scan's watermarks, once,
	and write the status back (status_poll.apply_records: drift included); move the status watermark.
	The untracked-copy scan's records are returned for the caller to hand to sync.untracked_scan (see
	ListedOnce). A failing call raises before any watermark moves."""
	poll_since = watermarks.get(tenant_id)
	since = poll_since
	if poll_since is not None and scan_since is not None:
		since = min(poll_since, scan_since)
	summaries = poll_since is not None
	records = gateway.modified_since(
		tenant_id, since, ALL_STATUSES, summary_only=summaries, credit_notes=credit_notes
	)
	report = apply_records(db, tenant_id, records, gateway=gateway, now=now, summaries=summaries)
	watermarks.put(tenant_id, started - OVERLAP)
	live = [
		r
		for r in records
		if r.status in LIVE_XERO_STATUSES
		and (scan_since is None or r.updated is None or _aware(r.updated) >= _aware(scan_since))
	]
	return FoldedRead(report, list(records), live, listings=2 if credit_notes else 1, since=since)


class ListedOnce:
	"""The gateway, with `live_since` answered from a listing already made (the folded read's): the
	untracked-copy scan (sync.untracked_scan) then costs no listing of its own. Everything else goes to Xero."""

	def __init__(self, gateway, live: Sequence[XeroRecord], listed_since: datetime | None):
		self._gateway = gateway
		self._live = list(live)
		self._listed_since = listed_since

	def live_since(self, tenant_id: str, since: datetime) -> list[XeroRecord]:
		if self._listed_since is not None and _aware(since) < _aware(self._listed_since):
			return self._gateway.live_since(tenant_id, since)  # asked further back than listed: list it
		return [r for r in self._live if r.updated is None or _aware(r.updated) >= _aware(since)]

	def __getattr__(self, name: str):
		return getattr(self._gateway, name)
