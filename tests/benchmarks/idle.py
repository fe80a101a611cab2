"""Idle benchmark: what an organisation spends on background reading in a day when nothing is pushed, and
how late a payment or a void made in Xero reaches ERPNext, with the budget (sync/background.py) against
today's fixed cadence (status poll every 10 minutes, untracked-copy scan every hour), in the same run.

The emulator's clock is the simulation's: it is scaled down to a standstill (time_scale) and moved by the
script, minute by minute as the Frappe scheduler ticks, so a simulated day takes seconds. Each organisation
has invoices pushed before the day (Synced rows in a stand-in ERP on MariaDB, as tests/support/world.py
keeps them); during the day a person records payments and voids in Xero at random times (the same script
for both policies). Every read goes through the real core code (status_poll, background, reconcile,
payment_pull) and the real SDK; calls are the emulator's counters. With --webhooks each change is also
delivered as a signed webhook (5 s after it, picked up 1 s later), read by ID as status_job.refresh_hinted
does, and its calls count against the same budget.

	python -m tests.benchmarks.idle --orgs 5 --days 1 [--webhooks] [--plan starter|standard]
		[--events 6] [--credit-notes] [--pull-payments]
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import itertools
import math
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from nexwave_xero_connector.sync.background import (
	HINTS,
	PAYMENTS,
	STATUS,
	ListedOnce,
	Plan,
	ReadRecord,
	credit_notes_in_play,
	next_read_at,
	payments_needed,
	read_organisation,
)
from nexwave_xero_connector.sync.config import PAYMENTS_IN_XERO
from nexwave_xero_connector.sync.model import Kind
from nexwave_xero_connector.sync.payments_from_xero import poll_payments
from nexwave_xero_connector.sync.status_poll import poll_tenant, refresh_documents
from nexwave_xero_connector.sync.untracked_scan import OVERLAP as SCAN_OVERLAP
from nexwave_xero_connector.sync.untracked_scan import SqlLedger, reconcile
from nexwave_xero_connector.xero.webhooks import by_tenant, hints
from tests.emulator import XeroEmulator
from tests.support.db import PyMySqlDb, create_database, drop_database
from tests.support.world import COMPANY, PERSON_TOKEN, SITE_URL, emulator_gateway, nz_config

PLANS = {"starter": 1000, "standard": 5000}
DAY = 86_400
TICK = 60  # the Frappe scheduler's granularity: read_due is a "* * * * *" job
FIXED_POLL = 600  # today's hooks.py before the budget: */10 status poll
FIXED_SCAN = 3600  # and the hourly untracked-copy scan
WEBHOOK_DELAY = 5.0  # Xero delivers a change's event (assumed; Xero documents no bound)
JOB_DELAY = 1.0  # the refresh job is picked up from the short queue
INVOICES = 20  # pushed before the day, per organisation
WEBHOOK_KEY = "idle-bench-webhook-key"
FIRST_WINDOW = timedelta(days=1)  # reconcile_job: the first scan looks a day back


@dataclass
class Org:
	"""One organisation under one policy."""

	policy: str
	tenant_id: str
	invoices: list[tuple[str, str]]  # (ERP name, Xero ID)
	record: ReadRecord = field(default_factory=ReadRecord)
	marks: dict = field(default_factory=dict)
	scan_since: datetime | None = None
	last_poll: float | None = None
	last_scan: float | None = None
	event_seq: int = 0
	calls: int = 0
	reads: int = 0
	hint_reads: int = 0
	pending: dict[str, tuple[float, str]] = field(default_factory=dict)  # ERP name -> (event time, status)
	lags: list[float] = field(default_factory=list)


class Marks:
	"""The watermarks port over an Org's dict."""

	def __init__(self, org: Org):
		self.org = org

	def get(self, key):
		return self.org.marks.get(key)

	def put(self, key, value):
		self.org.marks[key] = value


@dataclass
class PolicyResult:
	policy: str
	orgs: int
	days: int
	calls: int = 0
	reads: int = 0  # scheduled and webhook reads
	lags: list[float] = field(default_factory=list)
	events: int = 0
	most: int = 0  # the most one organisation spent

	@property
	def per_org_day(self) -> float:
		return self.calls / (self.orgs * self.days)

	def lag(self, q: float) -> float:
		if not self.lags:
			return 0.0
		ordered = sorted(self.lags)
		return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


@dataclass
class Result:
	plan: str
	daily_limit: int
	webhooks: bool
	fixed: PolicyResult
	budget: PolicyResult
	rate_limited: int

	def table(self) -> str:
		head = (
			f"{'policy':>24} {'calls/org/day':>13} {'max org':>7} {'share':>7} {'reads/org/day':>13} "
			f"{'lag p50 s':>9} {'lag p95 s':>9} {'lag max s':>9} {'seen':>6}"
		)
		lines = [f"plan={self.plan} ({self.daily_limit}/day) webhooks={int(self.webhooks)}", head]
		for label, r in (("today (10 min + hourly)", self.fixed), ("budget", self.budget)):
			lines.append(
				f"{label:>24} {r.per_org_day:>13.1f} {r.most / r.days:>7.0f} {r.per_org_day / self.daily_limit:>7.1%} "
				f"{r.reads / (r.orgs * r.days):>13.1f} {r.lag(0.5):>9.0f} "
				f"{r.lag(0.95):>9.0f} {r.lag(1.0):>9.0f} {len(r.lags):>3}/{r.events:<3}"
			)
		return "\n".join(lines)

	def last_line(self) -> str:
		n = self.budget.per_org_day
		return (
			f"idle_calls_per_org_day={n:.1f} starter_share={n / 1000:.3f} webhooks={int(self.webhooks)} "
			f"status_lag_p95_s={self.budget.lag(0.95):.0f}"
		)


class Bench:
	def __init__(self, emulator, db, *, plan: Plan, pull_payments: bool, credit_notes: bool):
		self.emulator = emulator
		self.db = db
		self.plan = plan
		self.gateway = emulator_gateway(emulator.identity_url)
		self.person = emulator_gateway(emulator.identity_url, token=PERSON_TOKEN)
		self.pull_payments = pull_payments
		self.credit_notes = credit_notes
		self.configs: dict[str, object] = {}

	def now(self) -> datetime:
		return datetime.fromtimestamp(self.emulator.now(), tz=timezone.utc)

	def site_now(self) -> datetime:
		return self.now().replace(tzinfo=None)

	# -- seeding ---------------------------------------------------------------------------------

	def add_org(self, policy: str, index: int, run_id: str) -> Org:
		tenant_id = f"{policy}-{index}-{run_id}"
		self.emulator.add_tenant(
			tenant_id,
			name=f"{COMPANY} {index}",
			country="NZ",
			base_currency="NZD",
			currencies=("NZD",),
			short_code="!kTl1",
			day_limit=self.plan.daily_limit,
		)
		contact = self.emulator.add_contact(tenant_id, "Tui Hardware Ltd", f"CUST-{index}")
		body = {
			"Contact": {"ContactID": contact},
			"Date": date(2026, 4, 1),
			"DueDate": date(2026, 5, 20),
			"LineAmountTypes": "Exclusive",
			"Status": "AUTHORISED",
			"LineItems": [
				{
					"Description": "Widget",
					"Quantity": 1,
					"UnitAmount": Decimal(100),
					"AccountCode": "200",
					"TaxType": "OUTPUT2",
				}
			],
		}
		names = [f"SINV-{tenant_id}-{i:03d}" for i in range(INVOICES)]
		results = self.gateway.create_documents(
			tenant_id,
			Kind.SALES_INVOICE,
			[{**body, "InvoiceNumber": n} for n in names],
			uuid.uuid4().hex,
		)
		invoices = [(n, r.record.xero_id) for n, r in zip(names, results, strict=True)]
		params: dict = {"t": tenant_id, "now": self.site_now()}
		rows, docs = [], []
		for i, (name, xero_id) in enumerate(invoices):
			params[f"n{i}"], params[f"x{i}"] = name, xero_id
			rows.append(
				f"(%(n{i})s, %(now)s, %(now)s, 'Synced', 'Sales Invoice', %(n{i})s, %(t)s, 'ACCREC', %(x{i})s)"
			)
			docs.append(f"(%(n{i})s, %(now)s, %(now)s, 1, %(x{i})s)")
		self.db.execute(
			"INSERT INTO `tabXero Sync Log` (name, creation, modified, status, reference_doctype, "
			"reference_name, tenant_id, xero_type, xero_id) VALUES " + ", ".join(rows),
			params,
		)
		self.db.execute(
			"INSERT INTO `tabSales Invoice` (name, creation, modified, docstatus, xero_id) VALUES "
			+ ", ".join(docs),
			params,
		)
		if self.credit_notes:  # a return of ours still live in Xero: its listing can change
			self.db.execute(
				"INSERT INTO `tabXero Sync Log` (name, creation, modified, status, reference_doctype, "
				"reference_name, tenant_id, xero_type, xero_id, xero_status) VALUES (%(n)s, %(now)s, %(now)s, "
				"'Synced', 'Sales Invoice', %(n)s, %(t)s, 'ACCRECCREDIT', %(x)s, 'AUTHORISED')",
				{"n": f"SRET-{tenant_id}", "now": self.site_now(), "t": tenant_id, "x": str(uuid.uuid4())},
			)
		self.db.commit("bench seed")
		owner = PAYMENTS_IN_XERO if self.pull_payments else None
		base = nz_config(tenant_id)
		self.configs[tenant_id] = dataclasses.replace(
			base,
			tenants=tuple(
				dataclasses.replace(t, payments_owned_by=owner, pull_payments=True) if owner else t
				for t in base.tenants
			),
		)
		return Org(policy, tenant_id, invoices)

	# -- what each policy runs -------------------------------------------------------------------

	def _counted(self, org: Org, run) -> int:
		before = self.emulator.total_calls(org.tenant_id)
		run()
		self.db.commit("bench read")
		spent = self.emulator.total_calls(org.tenant_id) - before
		org.calls += spent
		return spent

	def _payments(self, org: Org, started: datetime) -> None:
		poll_payments(
			org.tenant_id,
			reader=self.gateway.payments,
			db=self.db,
			watermarks=Marks(org),
			started=started,
			now=self.site_now(),
			config=self.configs[org.tenant_id],
		)

	def _scan(self, org: Org, gateway, started: datetime) -> None:
		since = org.scan_since or started - FIRST_WINDOW
		report = reconcile(
			org.tenant_id,
			since,
			gateway=gateway,
			ledger=SqlLedger(self.db, lambda _t: [COMPANY]),
			site_url=SITE_URL,
			started=started,
		)
		org.scan_since = report.next_since or started - SCAN_OVERLAP

	def fixed_tick(self, org: Org) -> None:
		"""Today's cadence: the status poll (and payments) every 10 minutes, the scan every hour."""
		t = self.emulator.now()
		if org.last_poll is None or t - org.last_poll >= FIXED_POLL:
			org.last_poll = t
			org.reads += 1

			def poll():
				started = self.now()
				poll_tenant(
					org.tenant_id,
					gateway=self.gateway,
					db=self.db,
					watermarks=Marks(org),
					started=started,
					now=self.site_now(),
				)
				if self.pull_payments:
					self._payments(org, started)

			self._counted(org, poll)
			self.settle(org)
		if org.last_scan is None or t - org.last_scan >= FIXED_SCAN:
			org.last_scan = t
			self._counted(org, lambda: self._scan(org, self.gateway, self.now()))

	def budget_tick(self, org: Org) -> None:
		"""status_job.read_due for one organisation."""
		now = self.now()
		in_play = credit_notes_in_play(self.db, org.tenant_id)
		listings = 2 if in_play else 1
		use = org.record.use(now.date())
		due, _why = next_read_at(self.plan, use, org.record.last_at(STATUS), org.record.cost(listings), now)
		if due > now:
			return
		org.reads += 1
		spent: dict[str, int] = {}

		def read():
			started = self.now()
			folded = read_organisation(
				org.tenant_id,
				gateway=self.gateway,
				db=self.db,
				watermarks=Marks(org),
				started=started,
				now=self.site_now(),
				credit_notes=in_play,
				scan_since=org.scan_since or started - FIRST_WINDOW,
			)
			self._scan(org, ListedOnce(self.gateway, folded.live, folded.since), started)
			pulls = self.configs[org.tenant_id].tenant_pulls_payments(org.tenant_id)
			if payments_needed(pulls, folded.report.listed, org.record.last_at(PAYMENTS), started):
				before = self.emulator.total_calls(org.tenant_id)
				self._payments(org, started)
				spent[PAYMENTS] = self.emulator.total_calls(org.tenant_id) - before

		calls = self._counted(org, read)
		org.record.note(STATUS, now, calls - spent.get(PAYMENTS, 0), listings=listings)
		if PAYMENTS in spent:
			org.record.note(PAYMENTS, now, spent[PAYMENTS])
		self.settle(org)

	def webhook(self, org: Org) -> None:
		"""status_job.refresh_hinted for one organisation, from the emulator's signed delivery."""
		body, _headers, org.event_seq = self.emulator.webhook_delivery(
			org.tenant_id, WEBHOOK_KEY, org.event_seq
		)
		ids = by_tenant(hints(body)).get(org.tenant_id)
		if not ids:
			return
		org.hint_reads += 1

		def refresh():
			refresh_documents(org.tenant_id, ids, gateway=self.gateway, db=self.db, now=self.site_now())
			if self.pull_payments:
				self._payments(org, self.now())

		calls = self._counted(org, refresh)
		if org.policy == "budget":
			org.record.note(HINTS, self.now(), calls)
		self.settle(org)

	# -- the person in Xero, and when ERPNext saw it ------------------------------------------------

	def change(self, org: Org, index: int, status: str) -> None:
		name, xero_id = org.invoices[index]
		before = self.emulator.total_calls(org.tenant_id)
		if status == "PAID":
			self.emulator.pay(org.tenant_id, xero_id, Decimal("115.00"))
		else:
			self.person.set_statuses(
				org.tenant_id, Kind.SALES_INVOICE, [(xero_id, "VOIDED")], uuid.uuid4().hex
			)
		self.emulator._tenant_calls[org.tenant_id] -= self.emulator.total_calls(org.tenant_id) - before
		org.pending[name] = (self.emulator.now(), status)

	def settle(self, org: Org) -> None:
		if not org.pending:
			return
		rows = self.db.query(
			"SELECT name, xero_status FROM `tabSales Invoice` WHERE name IN %(n)s", {"n": tuple(org.pending)}
		)
		for row in rows:
			at, status = org.pending[row["name"]]
			if row["xero_status"] == status:
				org.lags.append(self.emulator.now() - at)
				del org.pending[row["name"]]


def run(
	orgs: int = 5,
	days: int = 1,
	*,
	webhooks: bool = False,
	plan: str = "starter",
	events: int = 6,
	credit_notes: bool = False,
	pull_payments: bool = False,
	seed: int = 20,
	log=lambda s: None,
) -> Result:
	run_id = uuid.uuid4().hex[:6]
	# a standstill clock the script moves: one simulated day in seconds
	emulator = XeroEmulator(rate_limits=True, time_scale=1e-9)
	emulator.start(port=0)
	database = create_database("nxc_bench")
	db = PyMySqlDb(database)
	policy = Plan(PLANS[plan], webhooks)
	bench = Bench(emulator, db, plan=policy, pull_payments=pull_payments, credit_notes=credit_notes)
	try:
		fixed = [bench.add_org("fixed", i, run_id) for i in range(orgs)]
		budget = [bench.add_org("budget", i, run_id) for i in range(orgs)]
		everyone = fixed + budget
		# the day starts at midnight UTC, after each organisation's first (full) read
		emulator.advance(600)
		for org in everyone:
			(bench.fixed_tick if org.policy == "fixed" else bench.budget_tick)(org)
			org.calls = org.reads = 0
			org.event_seq = max(org.event_seq, _last_event(emulator, org.tenant_id))
		midnight = (math.floor(emulator.now() / DAY) + 1) * DAY
		emulator.advance(midnight - emulator.now())
		for org in everyone:
			org.record = ReadRecord(last=org.record.last)  # the warm-up's spend was yesterday's
		start = emulator.now()
		end = start + days * DAY
		# the person's day, the same for both policies: each change on an invoice not touched before
		queue: list = []
		order = itertools.count()
		for i in range(orgs):
			rng = random.Random(seed * 1000 + i)
			picks = rng.sample(range(INVOICES), min(events * days, INVOICES))
			for n, index in enumerate(picks):
				at = start + rng.uniform(0, days * DAY)
				status = "VOIDED" if n % 3 == 2 else "PAID"
				for org in (fixed[i], budget[i]):
					heapq.heappush(queue, (at, next(order), "change", org, (index, status)))
		# the day's calls are counted at its end; the reading goes on (uncounted) until every change of the
		# day has reached ERPNext, so a change late in the day still has its lag measured
		heapq.heappush(queue, (float(end), -1, "day over", None, None))
		for tick in range(int(start), int(end + DAY / 4), TICK):
			heapq.heappush(queue, (float(tick), next(order), "tick", None, None))
		day_calls: dict[str, int] = {}
		day_reads: dict[str, int] = {}
		while queue:
			at, _n, what, org, data = heapq.heappop(queue)
			if day_calls and not any(o.pending for o in everyone):
				break
			if at > emulator.now():
				emulator.advance(at - emulator.now())
			if what == "day over":
				day_calls = {o.tenant_id: o.calls for o in everyone}
				day_reads = {o.tenant_id: o.reads + o.hint_reads for o in everyone}
			elif what == "tick":
				for one in everyone:
					(bench.fixed_tick if one.policy == "fixed" else bench.budget_tick)(one)
			elif what == "change":
				bench.change(org, *data)
				if webhooks:
					heapq.heappush(queue, (at + WEBHOOK_DELAY + JOB_DELAY, next(order), "webhook", org, None))
			elif what == "webhook":
				bench.webhook(org)
		results = {}
		for name, group in (("fixed", fixed), ("budget", budget)):
			r = PolicyResult(name, orgs, days, events=sum(len(o.lags) + len(o.pending) for o in group))
			for org in group:
				calls = day_calls.get(org.tenant_id, org.calls)
				r.calls += calls
				r.most = max(r.most, calls)
				r.reads += day_reads.get(org.tenant_id, org.reads + org.hint_reads)
				r.lags += org.lags
			results[name] = r
		return Result(
			plan, policy.daily_limit, webhooks, results["fixed"], results["budget"], emulator.rate_limit_hits
		)
	finally:
		db.close()
		emulator.stop()
		drop_database(database)


def _last_event(emulator, tenant_id: str) -> int:
	return max(emulator.tenants[tenant_id].events, default=0)


def main(argv: list[str] | None = None) -> Result:
	parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.idle", description=__doc__)
	parser.add_argument("--orgs", type=int, default=5)
	parser.add_argument("--days", type=int, default=1)
	parser.add_argument("--webhooks", action="store_true", help="a webhook key is configured")
	parser.add_argument("--plan", choices=sorted(PLANS), default="starter")
	parser.add_argument("--events", type=int, default=6, help="payments and voids per organisation a day")
	parser.add_argument("--credit-notes", action="store_true", help="each organisation has a live return")
	parser.add_argument("--pull-payments", action="store_true", help="companies take Xero's payments")
	parser.add_argument("--seed", type=int, default=20)
	args = parser.parse_args(argv)
	started = time.monotonic()
	result = run(
		args.orgs,
		args.days,
		webhooks=args.webhooks,
		plan=args.plan,
		events=args.events,
		credit_notes=args.credit_notes,
		pull_payments=args.pull_payments,
		seed=args.seed,
	)
	print(result.table())
	print(
		f"budget: {Plan(result.daily_limit, result.webhooks).budget} calls/org/day; 429s={result.rate_limited}; "
		f"wall {time.monotonic() - started:.1f}s"
	)
	print(result.last_line())
	return result


if __name__ == "__main__":
	main()
