"""The chaos run: real drains in forking RQ workers, killed and frozen at random, against a faulty emulator.

The harness plays ERPNext (submit, cancel, delete, Retry through the same SQL the Frappe hooks run, in a
fresh MariaDB database), Frappe's enqueue (`wake`, deduplicated per tenant, plus deliberate duplicates),
its scheduler (a sweeper that wakes a drain whenever the log has claimable work) and Log Settings (which
clears old finished log rows). The faults it injects, each counted in its table:

- SIGKILL of the worker, its work horse or both (Frappe's RQ workers fork a horse per job);
- SIGSTOP of a busy horse or worker for longer than the lease, then SIGCONT;
- emulator faults, among them a create Xero commits only after the client's read timeout;
- per-worker clock skew and a daylight-saving jump of ±1 h on some workers mid-run;
- log clearing during the run; cancelled documents deleted and their names reused by new documents;
- two customers sharing one name; brand-new customers whose first documents are submitted at once;
- with --redis-restarts: the run's own Redis (queues, the rate governor's counters and slots, wake-up
  keys) SIGKILLed and restarted empty; with --db-kills: the workers' MariaDB connections killed (some
  right after Xero applied a create, before the drain records it) and a lock storm on the log rows.

When the run has quiesced it compares the ERP documents and the log with the emulator's ledger and prints
the verdict on its last line.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pymysql
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry

from nexwave_xero_connector.sync.errors import XeroError
from nexwave_xero_connector.sync.journal import CLEARABLE_VALUES, SqlJournal, clear_old_rows, requeue
from nexwave_xero_connector.sync.payments_from_xero import poll_payments
from nexwave_xero_connector.sync.status_poll import poll_tenant
from tests.emulator import XeroEmulator
from tests.support.db import PyMySqlDb, create_database, drop_database
from tests.support.erp import SqlErp
from tests.support.payment_entries import payment_entry
from tests.support.world import COMPANY, SITE_URL, clone, emulator_gateway

from . import journals as chaos_journals
from . import worker as chaos_worker
from .infra import DbFaults, RedisServer, fail_fast

REPO = Path(__file__).resolve().parents[2]
TENANT = "tenant-nz"
REDIS_URL = os.environ.get("NXC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BASE_FAULTS = ("500", "503", "429", "latency:0.3", "drop_before_commit", "lost_after_commit")
FINAL = ("Synced", "Voided", "Failed", "Skipped", "Orphan")
SLUGS = {"sales-invoice": "Sales Invoice", "purchase-invoice": "Purchase Invoice"}
LOG = "`tabXero Sync Log`"
ATTEMPTS = "`tabXero Sync Attempt`"
LIVE = ("DRAFT", "SUBMITTED", "AUTHORISED", "PAID")
# Xero's 429s after the governor lost its counters must stop within this many seconds of the loss.
RATE_429_WINDOW = 60.0
# An aimed database kill that has met no create for this long kills a random worker connection instead.
AIMED_DB_KILL_WAIT = 10.0
HOSTNAME = socket.gethostname()

# Two customers with one name (scenario 5) and the alternative parties a reused name may get.
SHARED_NAME = "Kauri Traders Ltd"
SHARED_CUSTOMERS = ("CUST-KAURI-A", "CUST-KAURI-B")
OTHER_CUSTOMER = "Pacific Rim Traders Inc"
OTHER_SUPPLIER = "Harakeke Supplies Ltd"


@dataclass
class Doc:
	"""One ERP document of the run and what the run will do to it."""

	name: str
	doctype: str
	template: str
	fate: str = "keep"  # keep | cancel_now | cancel_pushing | cancel_synced | cancel_cleared | reuse
	against: str | None = None
	unmapped: bool = False
	bill_no: str | None = None
	party: str | None = None  # another customer/supplier than the template's
	party_title: str | None = None
	submit_at: float = 0.0
	cancel_at: float | None = None
	delete_at_once: bool = False  # reuse: delete right after the cancel, not once the row settled
	successor: Doc | None = None  # reuse: the new document that takes this name
	tags: set[str] = field(default_factory=set)
	# a return: applied to the invoice it reverses (ERPNext lowers that one's outstanding, the push allocates
	# the credit note to it in Xero), else standing on its own (update_outstanding_for_self set)
	applied: bool = True
	group: str | None = None  # an original and the returns applied to it share its name here
	submitted: bool = False
	cancelled: bool = False
	deleted: bool = False

	def body(self) -> dict:
		changes = {}
		if self.bill_no:
			changes["bill_no"] = self.bill_no
		if self.against:
			# a return ERPNext applied to the original (update_outstanding_for_self unset) is allocated
			changes.update(return_against=self.against, update_outstanding_for_self=int(not self.applied))
		if self.party:
			field_ = "supplier" if self.doctype == "Purchase Invoice" else "customer"
			changes[field_] = self.party
			changes[f"{field_}_name"] = self.party_title or self.party
		body = clone(self.template, self.name, **changes)
		if self.unmapped:
			body["items"][0]["income_account"] = "Unmapped Income - KTL"  # fails mapping: Failed, Retry
		return body


def plan(count: int, seed: int, submit_s: float, args: argparse.Namespace | None = None) -> list[Doc]:
	"""Mixed documents (invoices, returns, bills), their parties and fates, reproducible from the seed."""
	rng = random.Random(seed)
	docs: list[Doc] = []
	free_originals: list[Doc] = []
	protected: set[str] = set()
	for i in range(count):
		r = rng.random()
		if r < 0.15 and free_originals:
			original = free_originals.pop(rng.randrange(len(free_originals)))
			protected.add(original.name)  # ERPNext will not cancel an invoice with a submitted return
			doc = Doc(f"SRET-{seed}-{i:05d}", "Sales Invoice", "si_nz_return", against=original.name)
			if _payment_mode(args):
				doc.applied = rng.random() < 0.5  # refunds need returns with credit of their own
			if doc.applied:
				doc.group = original.group = original.name
		elif r < 0.45:
			doc = Doc(f"SINV-{seed}-{i:05d}", "Sales Invoice", "si_nz_exclusive_discount")
			doc.unmapped = rng.random() < 0.05
		elif r < 0.70:
			doc = Doc(f"SINV-{seed}-{i:05d}", "Sales Invoice", "si_nz_inclusive")
			free_originals.append(doc)
		else:
			doc = Doc(
				f"PINV-{seed}-{i:05d}", "Purchase Invoice", "pi_nz_freight", bill_no=f"SP-{seed}-{i:05d}"
			)
		doc.submit_at = submit_s * i / max(1, count)
		docs.append(doc)
	clearing = bool(args and args.clear_logs)
	for doc in docs:
		if doc.name in protected:
			continue
		r = rng.random()
		if r < 0.07:
			doc.fate = "cancel_now"
		elif r < 0.17:
			doc.fate = "cancel_pushing"
			doc.cancel_at = doc.submit_at + rng.uniform(0.02, 1.5)
		elif r < 0.25:
			doc.fate = "cancel_synced"
		elif r < 0.29 and clearing:
			doc.fate = "cancel_cleared"  # cancelled once Log Settings cleared its Synced row (scenario 3)
			doc.tags.add("log_cleared")
	if args is not None:
		_plan_parties(docs, rng, args, seed)
		_plan_reuse(docs, rng, args, seed)
	return docs


def _payment_mode(args: argparse.Namespace | None) -> str:
	""" "pull" (issue 12: Xero's payments become Payment Entries), "push" (issue 13) or ""."""
	if args is None:
		return ""
	return "pull" if args.pull_payments else ("push" if args.payment_entries else "")


def _plain(doc: Doc) -> bool:
	"""A document no other scenario has claimed yet (new parties and reuse stay apart)."""
	return not (doc.unmapped or doc.party or doc.against or doc.tags) and doc.template != "si_nz_return"


def _plan_parties(docs: list[Doc], rng: random.Random, args: argparse.Namespace, seed: int) -> None:
	"""Customers sharing a name, and bursts of first invoices of brand-new customers."""
	sales = [d for d in docs if d.template == "si_nz_exclusive_discount" and _plain(d) and d.fate == "keep"]
	rng.shuffle(sales)
	shared = sales[: int(len(sales) * args.shared_names)]
	for k, doc in enumerate(shared):
		doc.party, doc.party_title = SHARED_CUSTOMERS[k % 2], SHARED_NAME
		doc.tags.add("shared_name")
	rest = [d for d in docs if d.template == "si_nz_exclusive_discount" and _plain(d) and d.fate == "keep"]
	for group in range(args.new_customers):
		# Two or three new customers, their first invoices interleaved and submitted within a second or two,
		# so that concurrent drains need overlapping but different sets of new contacts.
		customers = rng.randint(2, 4)
		size = customers * rng.randint(3, 5)
		if len(rest) < size:
			break
		start = rng.randrange(len(rest) - size + 1)
		burst = rest[start : start + size]
		rest = rest[:start] + rest[start + size :]
		for k, doc in enumerate(burst):
			number = f"{group:03d}{'abcd'[k % customers]}"
			doc.party, doc.party_title = f"NEWCUST-{seed}-{number}", f"Harbour Trading {seed}-{number}"
			# one after another, as people submit: each wakes a drain while the previous drains still run
			doc.submit_at = burst[0].submit_at + k * rng.uniform(0.02, 0.15)
			doc.tags.add("new_customer")
	docs.sort(key=lambda d: d.submit_at)


def _plan_reuse(docs: list[Doc], rng: random.Random, args: argparse.Namespace, seed: int) -> None:
	"""Documents cancelled, deleted and whose name a new document (other party or amounts) takes."""
	for doc in docs:
		plain = (
			_plain(doc)
			and doc.fate == "keep"
			and doc.template in ("si_nz_exclusive_discount", "pi_nz_freight")
		)
		if not plain or rng.random() >= args.reuse:
			continue
		doc.fate = "reuse"
		doc.tags.add("reuse")
		doc.cancel_at = doc.submit_at + rng.uniform(0.05, 4.0)
		doc.delete_at_once = rng.random() < 0.5
		successor = Doc(doc.name, doc.doctype, doc.template, tags={"reuse"})
		choice = rng.randrange(3)
		if doc.doctype == "Purchase Invoice":
			successor.bill_no = f"{doc.bill_no}-R"
			successor.party = OTHER_SUPPLIER
		else:
			if choice != 1:
				successor.party = OTHER_CUSTOMER
			if choice != 0:
				successor.template = "si_nz_inclusive"  # other lines and totals
		doc.successor = successor


def clear_logs(db: PyMySqlDb, older_than_seconds: float) -> list[dict]:
	"""Log Settings' clean-up of Xero Sync Log: the app's own journal.clear_old_rows (what
	XeroSyncLog.clear_old_logs runs), with `days` in seconds here. Returns the rows it deleted (name,
	reference_doctype, reference_name, status, xero_id), read under the same cutoff for the verdicts."""
	db.commit("chaos: fresh snapshot")
	cutoff = datetime.now() - timedelta(seconds=older_than_seconds)
	rows = db.query(
		f"SELECT name, reference_doctype, reference_name, status, xero_id FROM {LOG} "
		"WHERE modified < %(cutoff)s AND status IN %(statuses)s FOR UPDATE",
		{"cutoff": cutoff, "statuses": CLEARABLE_VALUES},
	)
	clear_old_rows(db, cutoff)
	db.commit("chaos: Log Settings clean-up")
	return rows


# -- processes ----------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
	"""Fields of /proc/<pid>/stat after the command name (state, ppid, ...), or None if gone."""
	try:
		text = Path(f"/proc/{pid}/stat").read_text()
	except OSError:
		return None
	return text.rsplit(")", 1)[1].split()


def _identity(pid: int) -> tuple[int, str] | None:
	"""(pid, start time): a process, not just a number the kernel may hand out again."""
	fields = _stat(pid)
	return (pid, fields[19]) if fields and fields[0] != "Z" else None


def _children(pid: int) -> list[int]:
	"""Live child processes of pid (a forking RQ worker's work horse)."""
	kids = []
	for entry in os.listdir("/proc"):
		if entry.isdigit():
			fields = _stat(int(entry))
			if fields and fields[0] != "Z" and int(fields[1]) == pid:
				kids.append(int(entry))
	return kids


def _die_with_parent() -> None:
	"""In a worker before exec: the kernel SIGKILLs it when the harness dies (a test timeout, Ctrl-C)."""
	ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _signal(ident: tuple[int, str] | None, sig: int) -> bool:
	"""Send sig to that very process if it still runs."""
	if ident is None or _identity(ident[0]) != ident:
		return False
	try:
		os.kill(ident[0], sig)
	except ProcessLookupError:
		return False
	return True


@dataclass
class Entry:
	"""A Payment Entry the run submits (push mode) and maybe cancels."""

	name: str
	refs: list[tuple[str, str, Decimal]]  # (doctype, name, allocated)
	cancel_at: float | None = None  # inf: once its row is Synced
	cancelled: bool = False


@dataclass
class Event:
	"""A kill or stall, and what has to move again before the organisation counts as resumed."""

	at: float
	what: str
	held: dict[str, int]  # rows the victim horse held: name -> attempts at the event
	work: bool  # whether rows were claimable at the event
	resumed_at: float | None = None


class Harness:
	"""Everything one run owns: database, emulator, Redis queue, worker processes, counters."""

	def __init__(self, args: argparse.Namespace):
		self.args = args
		self.rng = random.Random(args.seed * 7919 + 1)
		self.qname = f"nxc-chaos-{args.seed}-{os.getpid()}"
		self.drain_id = f"{self.qname}::xero-drain::{TENANT}"  # Frappe's "<site>::<job_id>"
		self.submit_s = args.submit_seconds or max(3.0, args.docs * 0.05)
		self.docs = plan(args.docs, args.seed, self.submit_s, args)
		self.by_name = {d.name: d for d in self.docs}
		self.stats: Counter[str] = Counter()
		self.procs: dict[int, tuple[subprocess.Popen, str]] = {}
		self.generation = 0
		self.dead_names: set[str] = set()
		self.leftovers: list[tuple[int, str]] = []  # horses whose worker was killed, still running
		self.stalled: list[tuple[tuple[int, str], float, str]] = []  # (process, resume at, what)
		self.stall_lock = threading.Lock()
		self.armed: list[str] = []  # aimed stalls waiting for their create: "before" | "after"
		self.aimed: list[tuple[float, int, str]] = []  # fired aimed stalls: (at, pid, phase)
		self.aimed_misfired = 0
		self.quiet_since = 0.0
		self.max_asleep = 0.0
		self.events: list[Event] = []
		self.cleared: dict[tuple[str, str], dict] = {}
		self.attempts_seen: dict[str, int] = {}
		self.logdir = Path(tempfile.mkdtemp(prefix=f"{self.qname}-"))
		self.database = ""
		self.emulator: XeroEmulator | None = None
		self.t0 = time.monotonic()
		self.calls_in_chaos = 0
		self.problems: list[str] = []
		self.statuses: Counter[str] = Counter()
		self.unmatched = 0
		# --payments: payments recorded in Xero during the run (payment id -> document id), and the status
		# poll the scheduler runs every couple of seconds with its watermark
		self.payments: dict[str, str] = {}
		self.watermarks: dict[str, datetime] = {}
		# --pull-payments / --payment-entries: the company's payments and who owns them
		self.mode = _payment_mode(args)
		self.config = chaos_worker.chaos_config(TENANT, self.mode)
		self.entries: dict[str, Entry] = {}  # push: the run's Payment Entries
		self.pulled = Counter()
		self.pushed = Counter()
		# --journals: Journal Entries submitted, cancelled and name-reused during the run (journals.py)
		self.journals = chaos_journals.JournalChaos(self, args.journals, TENANT) if args.journals else None
		# --redis-restarts / --db-kills: the run's own Redis, the database faults, and their own random
		# stream (a run without them draws exactly what it drew before they existed)
		self.infra_rng = random.Random(args.seed * 104_729 + 3)
		self.redis_url = REDIS_URL
		self.redis_server: RedisServer | None = None
		self.db_faults: DbFaults | None = None
		self.armed_db_kills: list[float] = []  # aimed kills waiting for a create, until these moments
		self.aimed_db_kills: list[tuple[float, int]] = []  # fired: (at, pid)
		self.db_kills_due = 0  # kills of a random worker connection waiting for one to exist
		self.spawned_at: dict[int, float] = {}

	# -- setup and teardown ---------------------------------------------------------------------

	def start(self) -> None:
		self.database = create_database("nxc_chaos")
		self.db = PyMySqlDb(self.database)
		self.erp = SqlErp(self.db, datetime.now)
		self.journal = SqlJournal(self.db, datetime.now, worker="scheduler")
		self.erp.add_company(COMPANY, "NZD")
		if self.journals:
			self.journals.start()
		self.erp.add_party("Customer", "Tui Hardware Ltd", "accounts@tui.example")
		self.erp.add_party("Customer", OTHER_CUSTOMER)
		self.erp.add_party("Supplier", "Southern Packaging Ltd")
		self.erp.add_party("Supplier", OTHER_SUPPLIER)
		for customer in SHARED_CUSTOMERS:
			self.erp.add_named_party("Customer", customer, SHARED_NAME)
		if self.args.redis_restarts:
			self.redis_server = RedisServer(self.logdir, _die_with_parent)
			self.redis_server.start()
			self.redis_url = self.redis_server.url
		minute = self.args.rate_minute
		self.emulator = XeroEmulator(rate_limits=bool(minute), minute_seconds=minute or 60.0)
		self.emulator.start(port=0)
		# A dropped connection makes the server thread print a BrokenPipe traceback: expected here.
		self.emulator._server.handle_error = lambda request, address: None
		self.emulator.add_tenant(
			TENANT,
			name=COMPANY,
			country="NZ",
			base_currency="NZD",
			currencies=("NZD", "USD"),
			short_code="!kTl1",
			day_limit=10**9,  # the run tests the minute and concurrency limits, not the daily one
		)
		faults = BASE_FAULTS
		if self.args.late_commit_hold > 0:
			faults += (f"late_commit:{self.args.late_commit_hold}",)
		self.emulator.set_chaos(
			rate=self.args.fault_rate, seed=self.args.seed, faults=faults, reads=self.args.chaos_reads
		)
		self.emulator.interceptor = self.intercept
		if self.args.contact_latency:
			self.emulator.slow("PUT", "Contacts", self.args.contact_latency)
		# The scheduler's polls call Xero through the same governor as the drains.
		hooks = {}
		if minute:
			hooks = chaos_worker.governor_hooks(self.redis_url, self.qname, minute, self.args.read_timeout)
		self.gateway = emulator_gateway(self.emulator.base_url, **hooks)
		self.redis = Redis.from_url(self.redis_url, retry=fail_fast())
		self.redis.ping()
		self.queue = Queue(self.qname, connection=self.redis)
		if self.args.db_kills:
			self.db_faults = DbFaults(
				self.database, {self.db.conn.thread_id()}, self.args.lock_wait, self.args.seed
			)
		self.t0 = time.monotonic()
		for slot in range(self.args.workers):
			self.spawn(slot)

	def stop(self) -> None:
		if self.db_faults:
			self.db_faults.close()
		for proc, _ in self.procs.values():
			if proc.poll() is None:
				proc.send_signal(signal.SIGKILL)
				proc.wait()
		self.procs.clear()
		for ident in self.leftovers + [s[0] for s in self.stalled]:
			_signal(ident, signal.SIGKILL)
		if self.redis_server:
			self.redis_server.stop()
		else:
			try:
				for key in self.redis.scan_iter(f"*{self.qname}*"):
					self.redis.delete(key)
			except Exception:
				pass
		if self.emulator:
			self.emulator.stop()
		try:
			self.db.close()
		except Exception:
			pass
		if self.database and not self.args.keep:
			drop_database(self.database)
			shutil.rmtree(self.logdir, ignore_errors=True)

	def in_flight_seconds(self) -> int:
		"""The longest the emulator may hold a create before committing it, plus a margin."""
		return math.ceil(max(self.args.read_timeout + self.args.late_commit_hold, self.args.lease + 6.0) + 5)

	def spawn(self, slot: int) -> None:
		"""Start a fresh worker process in this slot (RQ worker names must be unique), with its own clock."""
		self.generation += 1
		name = f"{self.qname}-w{slot}-{self.generation}"
		skew = self.rng.uniform(-self.args.skew, self.args.skew) if self.args.skew else 0.0
		env = {
			**os.environ,
			chaos_worker.LEASE_ENV: str(self.args.lease),
			chaos_worker.BATCH_ENV: str(self.args.batch_size),
			chaos_worker.READ_TIMEOUT_ENV: str(self.args.read_timeout),
			# The engine's in-flight window must outlast the longest the emulator holds a create before it
			# commits (a late commit after the client's timeout; an aimed stall holds one for lease + 6 s),
			# as the production default (7 min) outlasts Xero's.
			chaos_worker.IN_FLIGHT_ENV: str(self.in_flight_seconds()),
			chaos_worker.CLOCK_OFFSET_ENV: f"{skew:.3f}",
			chaos_worker.PAYMENTS_ENV: self.mode,
			chaos_worker.WAKE_ENV: self.args.wake,
			# a job lost between its dequeue and its start frees the wake key after a lease, as in production
			chaos_worker.WAKE_TTL_ENV: str(self.args.lease),
			chaos_journals.JOURNALS_ENV: "1" if self.journals else "",
			chaos_worker.LOCK_LOG_ENV: str(self.logdir / "lock-conflicts"),
			chaos_worker.HELD_LOG_ENV: str(self.logdir / "governor-held"),
			"PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
		}
		if self.args.rate_minute:
			env[chaos_worker.RATE_MINUTE_ENV] = str(self.args.rate_minute)
			env[chaos_worker.GOVERNOR_REDIS_ENV] = self.redis_url
			env[chaos_worker.GOVERNOR_PREFIX_ENV] = self.qname
		if self.args.db_kills:
			env[chaos_worker.LOCK_WAIT_ENV] = str(self.args.lock_wait)
		if skew:
			self.stats["clock_skews"] += 1
			self.stats["max_skew_ms"] = max(self.stats["max_skew_ms"], int(abs(skew) * 1000))
		elapsed = time.monotonic() - self.t0
		if self.rng.random() < self.args.dst and elapsed < self.submit_s:
			shift = self.rng.choice((3600, -3600))
			env[chaos_worker.DST_AT_ENV] = str(time.time() + self.rng.uniform(0, self.submit_s - elapsed))
			env[chaos_worker.DST_SHIFT_ENV] = str(shift)
			self.stats["dst_forward" if shift > 0 else "dst_back"] += 1
		log = open(self.logdir / f"w{slot}.log", "ab")  # the child process keeps its own copy
		proc = subprocess.Popen(
			[
				sys.executable,
				"-m",
				"tests.chaos.worker",
				"--queue",
				self.qname,
				"--name",
				name,
				"--redis",
				self.redis_url,
			],
			cwd=REPO,
			env=env,
			stdout=log,
			stderr=subprocess.STDOUT,
			preexec_fn=_die_with_parent,
		)
		log.close()
		self.procs[slot] = (proc, name)
		self.spawned_at[slot] = time.monotonic()

	# -- what Frappe and the users do ------------------------------------------------------------

	def read(self, sql: str, params: dict | None = None) -> list[dict]:
		"""A fresh snapshot (REPEATABLE READ would otherwise keep showing the first one)."""
		self.db.commit("chaos: end the read snapshot")
		rows = self.db.query(sql, params or {})
		self.db.commit("chaos: end the read snapshot")
		return rows

	def wake(self, tenant: str) -> bool:
		"""Wake the tenant's drain, by the policy --wake names; True if a job was enqueued. With Redis down
		the wake-up is lost (as an enqueue after commit fails in Frappe): the row is the truth, and the
		sweeper wakes the drain again once Redis is back."""
		try:
			if self.args.wake == "frappe":
				return self._wake_frappe(tenant)
			return self._wake_app(tenant)
		except RedisError:
			self.stats["wakes_lost"] += 1
			return False

	def _wake_frappe(self, tenant: str) -> bool:
		"""frappe.enqueue(..., job_id=..., deduplicate=True) in Frappe 15.92: a job with that id that is
		queued or started suppresses the enqueue (even if its worker is dead); any other is replaced."""
		job_id = f"{self.qname}::xero-drain::{tenant}"
		try:
			job = Job.fetch(job_id, connection=self.redis)
			if job.get_status(refresh=False) in (JobStatus.QUEUED, JobStatus.STARTED):
				self.stats["enqueues_deduped"] += 1
				return False
			job.delete()
		except NoSuchJobError:
			pass
		self._enqueue(job_id, tenant)
		return True

	def _wake_app(self, tenant: str) -> bool:
		"""The app's policy (events.wake_drain): one SET NX on the tenant's wake key decides; the drain
		deletes the key when it starts and ends (worker.drain_job)."""
		if not chaos_worker.wake(
			self.redis, self.qname, tenant, (self.database, self.emulator.base_url, tenant)
		):
			self.stats["enqueues_deduped"] += 1
			return False
		self.stats["enqueues"] += 1
		return True

	def _enqueue(self, job_id: str, tenant: str) -> None:
		chaos_worker.enqueue_drain(
			self.redis, self.qname, job_id, (self.database, self.emulator.base_url, tenant)
		)
		self.stats["enqueues"] += 1

	def enqueue_duplicate(self) -> None:
		"""A second drain beside the first (two enqueues racing past the dedup check before commit)."""
		self.stats["duplicate_enqueues"] += 1
		try:
			self._enqueue(f"{self.qname}--dup-{self.stats['duplicate_enqueues']}", TENANT)
		except RedisError:
			self.stats["wakes_lost"] += 1

	def user(self, action, *args):
		"""Run a user's action; a deadlock rolls it back whole, and the user simply tries again."""
		for attempt in range(10):
			try:
				return action(*args)
			except pymysql.err.OperationalError as exc:
				if exc.args[0] not in (1205, 1213) or attempt == 9:
					raise
				self.db.rollback()
				self.stats[f"{getattr(action, '__name__', 'action')}_deadlocks"] += 1
				time.sleep(0.05 * (attempt + 1))

	def submit(self, doc: Doc) -> None:
		if doc.party and doc.party.startswith("NEWCUST-"):
			self.erp.add_named_party("Customer", doc.party, doc.party_title)  # INSERT IGNORE: once
		try:
			self.user(self.erp.submit, doc.body(), TENANT)
		except pymysql.err.IntegrityError as exc:
			if exc.args[0] != 1062:
				raise
			self.db.rollback()  # the name's old log row is still there: the hook's requeue path
			self.user(self.erp.submit_over_row, doc.body(), TENANT)
			self.stats["submitted_over_old_row"] += 1
		doc.submitted = True
		self.stats["submitted"] += 1
		if doc.fate == "cancel_now":
			self.cancel(doc)

	def cancel(self, doc: Doc) -> None:
		self.user(self.erp.cancel, doc.doctype, doc.name, TENANT)
		doc.cancelled = True
		self.stats[doc.fate] += 1
		self.wake(TENANT)  # on_cancel wakes the drain after commit

	def sweep(self) -> None:
		"""The scheduler: hurry rows waiting on a long backoff, wake a drain if there is work."""
		now = datetime.now()
		self.stats["hurried"] += self.user(self._hurry, now + timedelta(seconds=2))
		self.db.commit("chaos: fresh snapshot")
		if self.journal.tenants_with_work():
			self.wake(TENANT)

	def _hurry(self, soon: datetime) -> int:
		hurried = self.db.execute(
			f"UPDATE {LOG} SET next_attempt_at = NULL WHERE status = 'Queued' AND next_attempt_at > %(soon)s",
			{"soon": soon},
		)
		self.db.commit("chaos: a human pressing Retry on rows waiting for their backoff")
		return hurried

	def row_states(self, names: list[str]) -> dict[str, str | None]:
		"""Current status of each document's row (None: no row, e.g. cleared)."""
		if not names:
			return {}
		rows = self.read(
			f"SELECT reference_name, status FROM {LOG} WHERE reference_name IN %(n)s", {"n": tuple(names)}
		)
		found = {r["reference_name"]: r["status"] for r in rows}
		return {n: found.get(n) for n in names}

	def cancel_synced(self, settling: bool = False) -> None:
		"""Cancel documents marked for it once they are in Xero (or failed), or once their row is cleared
		(while settling, whatever their row: one written by a worker whose clock ran ahead is not old yet)."""
		waiting = [
			d
			for d in self.docs
			if d.fate in ("cancel_synced", "cancel_cleared") and d.submitted and not d.cancelled
		]
		states = self.row_states([d.name for d in waiting])
		for doc in waiting:
			state = states[doc.name]
			if doc.fate == "cancel_synced" and state in ("Synced", "Failed", None):
				self.cancel(doc)
			elif doc.fate == "cancel_cleared" and (
				state in (None, "Failed") or (settling and state in FINAL)
			):
				self.cancel(doc)

	def reuse_names(self, now: float) -> None:
		"""Cancel, delete and resubmit under the same name, for documents planned so."""
		due = [d for d in self.docs if d.fate == "reuse" and d.submitted and not d.deleted]
		for doc in due:
			if not doc.cancelled and doc.cancel_at is not None and doc.cancel_at <= now:
				self.cancel(doc)
		settled = self.row_states([d.name for d in due if d.cancelled and not d.delete_at_once])
		for doc in due:
			if not doc.cancelled:
				continue
			if not doc.delete_at_once and settled.get(doc.name) not in (*FINAL, None):
				continue
			self.user(self.erp.delete, doc.doctype, doc.name, TENANT)
			doc.deleted = True
			self.stats["deleted"] += 1
			self.submit(doc.successor)
			self.stats["names_reused"] += 1
			self.wake(TENANT)

	def press_retry(self, bulk: bool, error_class: str | None = None) -> None:
		sql = f"SELECT name FROM {LOG} WHERE status = 'Failed'"
		if error_class:
			sql += " AND error_class = %(c)s"
		names = [r["name"] for r in self.read(sql, {"c": error_class})]
		if not names:
			return
		picked = self.rng.sample(names, min(len(names), 20)) if bulk else [self.rng.choice(names)]
		if error_class:
			picked = names
		self.stats["retried_rows"] += self.user(self._requeue, picked)
		self.stats["retry_bulk" if bulk else "retry_single"] += 1
		self.wake(TENANT)

	def _requeue(self, names: list[str]) -> int:
		changed = requeue(self.db, names, datetime.now())
		self.db.commit("chaos: Retry")
		return changed

	def clear(self) -> None:
		"""Log Settings' clean-up, run several times during the run."""
		rows = self.user(clear_logs, self.db, self.args.clear_after)
		self.stats["log_clears"] += 1
		self.stats["log_rows_cleared"] += len(rows)
		for r in rows:
			self.cleared[(r["reference_doctype"], r["reference_name"])] = r

	# -- workers: kills and stalls ----------------------------------------------------------------

	def busy_workers(self) -> set[str]:
		"""Names of our live workers that are running a job now (a killed one stays registered a while)."""
		busy, _ = self._registered()
		return {self.procs[slot][1] for slot in busy}

	def _registered(self) -> tuple[list[int], list[int]]:
		"""(busy slots, ready slots) of our workers: what RQ says, and what the processes say, since a
		worker that lived through a Redis restart works on but is no longer registered (nor is its horse's
		job): busy when it has a work horse, ready once it has had time to start listening."""
		names = {name: slot for slot, (_, name) in self.procs.items()}
		try:
			registered = {w.name: w.get_state() for w in Worker.all(queue=self.queue) if w.name in names}
		except RedisError:
			registered = {}
		busy = {names[n] for n, state in registered.items() if state == "busy"}
		ready = {names[n] for n in registered}
		for slot, (proc, _) in self.procs.items():
			if proc.poll() is not None:
				continue
			if _children(proc.pid):
				busy.add(slot)
				ready.add(slot)
			elif time.monotonic() - self.spawned_at.get(slot, 0.0) > 3.0:
				ready.add(slot)
		return sorted(busy), sorted(ready)

	def _held_by(self, horse: int) -> dict[str, int]:
		rows = self.read(
			f"SELECT name, attempts FROM {LOG} WHERE status = 'Queued' AND lease_owner LIKE %(o)s",
			{"o": f"{HOSTNAME}:{horse}:%"},
		)
		return {r["name"]: r["attempts"] for r in rows}

	def _event(self, what: str, horse: int | None) -> None:
		held = self._held_by(horse) if horse else {}
		self.db.commit("chaos: fresh snapshot")
		work = bool(held) or bool(self.journal.tenants_with_work())
		self.events.append(Event(time.monotonic() - self.t0, what, held, work))

	def kill(self) -> bool:
		"""SIGKILL a worker, its work horse or both (preferably in the middle of a drain); respawn a dead
		worker. False (try again shortly) while no worker has even registered with RQ yet."""
		busy, ready = self._registered()
		if not ready:
			return False
		slot = self.rng.choice(busy) if busy and self.rng.random() < 0.85 else self.rng.choice(ready)
		proc, name = self.procs[slot]
		horses = _children(proc.pid)
		target = self.rng.choice(("horse", "worker", "both")) if horses else "worker"
		horse = _identity(horses[0]) if horses else None
		if target in ("horse", "both") and horse:
			self._event(f"kill {target}", horse[0])
			_signal(horse, signal.SIGKILL)
		else:
			self._event(f"kill {target}", None)
		if target in ("worker", "both"):
			proc.send_signal(signal.SIGKILL)
			proc.wait()
			self.dead_names.add(name)
			if target == "worker" and horse:
				self.leftovers.append(horse)  # the horse runs on in its own session, orphaned
			self.spawn(slot)
		self.stats[f"kills_{target}" if slot in busy else "kills_idle"] += 1
		self.stats["kills"] += 1
		return True

	def arm_stall(self) -> None:
		"""An aimed stall: freeze the next horse that creates invoices or credit notes, either as its request
		arrives (the request lands only after its lease is gone: issue 10, 2b) or right after Xero applied it
		(the answer waits in the socket while another worker takes the row: 1)."""
		self.armed.append(self.rng.choice(("before", "after")))

	def intercept(self, phase: str, method: str, endpoint: str, headers) -> None:
		"""The emulator's interceptor, in the request's thread: fire an armed stall or database kill on a
		create."""
		pid = headers.get(chaos_worker.PID_HEADER)
		creates = (
			("Invoices", "CreditNotes", "Payments") if self.mode == "push" else ("Invoices", "CreditNotes")
		)
		if method != "PUT" or endpoint not in creates or not pid:
			return
		if phase == "after" and self.armed_db_kills:
			self._aimed_db_kill(int(pid), headers.get(chaos_worker.DB_HEADER))
		if not self.armed:
			return
		with self.stall_lock:
			if not self.armed or self.armed[0] != phase:
				return
			self.armed.pop(0)
			ident = _identity(int(pid))
			if ident is None or not _signal(ident, signal.SIGSTOP):
				self.aimed_misfired += 1  # the caller was gone already (killed meanwhile)
				return
			delay = self.args.lease + self.rng.uniform(1.0, 6.0)
			entry = (ident, time.monotonic() + delay, f"aimed {phase} {endpoint}")
			self.stalled.append(entry)
			self.aimed.append((time.monotonic() - self.t0, int(pid), phase))
		timer = threading.Timer(delay, self._resume_one, (entry,))
		timer.daemon = True
		timer.start()
		if phase == "before":
			time.sleep(max(0.0, delay - 0.3))  # the request is applied just before its sender wakes up

	def _aimed_db_kill(self, pid: int, connection: str | None) -> None:
		"""Xero applied the create and its answer is not sent yet: kill the drain's database connection, so
		that the commit storing the Xero ID fails (the drain dies with the create unrecorded)."""
		with self.stall_lock:
			if not self.armed_db_kills or not connection:
				return
			self.armed_db_kills.pop(0)
		killed = self.db_faults.kill_aimed(int(connection))
		with self.stall_lock:
			if killed:
				self.aimed_db_kills.append((time.monotonic() - self.t0, pid))
			else:  # its connection was gone already (killed meanwhile): a random one instead
				self.stats["db_kills_aimed_fallback"] += 1
				self.db_kills_due += 1

	def take_aimed(self) -> None:
		"""Turn the aimed stalls fired since the last tick into events (the frozen horse's rows stay put)."""
		while self.aimed:
			at, pid, phase = self.aimed.pop(0)
			held = self._held_by(pid)
			self.events.append(Event(at, f"stall aimed {phase}", held, True))
			self.stats[f"stalls_aimed_{phase}"] += 1
			self.stats["stalls"] += 1
		while self.aimed_db_kills:
			with self.stall_lock:
				at, pid = self.aimed_db_kills.pop(0)
			self.events.append(Event(at, "db kill aimed", self._held_by(pid), True))

	def crash_redis(self) -> bool:
		"""SIGKILL the run's Redis; it comes back empty on the same port a moment later. False while the
		previous crash has not come back yet."""
		server = self.redis_server
		if server.down:
			return False
		self._event("redis restart", None)
		server.crash(self.infra_rng.uniform(0.5, 3.0))
		self.stats["redis_restarts"] += 1
		return True

	def kill_db_connection(self) -> bool:
		"""KILL CONNECTION of a random worker connection to the run's database. False when there is none."""
		if not self.db_faults.kill_random():
			return False
		self._event("db kill", None)
		return True

	def db_kills(self, planned: list[tuple[float, bool]], now: float, next_try: float) -> float:
		"""Arm the aimed kills that are due, turn those that met no create in time into random ones, and
		kill a random worker connection if one is due and one exists; return when to try again."""
		while planned and planned[0][0] <= now:
			_, aimed = planned.pop(0)
			with self.stall_lock:
				if aimed:
					self.armed_db_kills.append(now + AIMED_DB_KILL_WAIT)
				else:
					self.db_kills_due += 1
		with self.stall_lock:
			expired = [t for t in self.armed_db_kills if t <= now]
			if expired:
				self.armed_db_kills = [t for t in self.armed_db_kills if t > now]
				self.stats["db_kills_aimed_fallback"] += len(expired)
				self.db_kills_due += len(expired)
		if not self.db_kills_due or now < next_try:
			return next_try
		if self.kill_db_connection():
			with self.stall_lock:
				self.db_kills_due -= 1
			return now
		if now > self.submit_s + 30:  # no worker connection to kill any more
			with self.stall_lock:
				self.stats["db_kills_missed"] += self.db_kills_due
				self.db_kills_due = 0
		return now + 0.1

	def stall(self) -> bool:
		"""SIGSTOP a busy worker's horse (the process doing HTTP) or the worker itself for longer than the
		lease; resume() sends SIGCONT. False while no worker is busy."""
		busy, _ = self._registered()
		candidates = [(s, h) for s in busy for h in _children(self.procs[s][0].pid)]
		if not candidates:
			return False
		slot, horse = self.rng.choice(candidates)
		target = "horse" if self.rng.random() < 0.75 else "worker"
		ident = _identity(horse) if target == "horse" else _identity(self.procs[slot][0].pid)
		if ident is None:
			return False
		self._event(f"stall {target}", horse)
		if not _signal(ident, signal.SIGSTOP):
			return False
		delay = self.args.lease + self.rng.uniform(1.0, 6.0)
		entry = (ident, time.monotonic() + delay, target)
		self.stalled.append(entry)
		# Its own thread: the frozen process may hold row locks our next statement waits for.
		timer = threading.Timer(delay, self._resume_one, (entry,))
		timer.daemon = True
		timer.start()
		self.stats[f"stalls_{target}"] += 1
		self.stats["stalls"] += 1
		return True

	def _resume_one(self, entry) -> None:
		with self.stall_lock:
			if entry in self.stalled:
				_signal(entry[0], signal.SIGCONT)
				self.stalled.remove(entry)

	def resume(self, force: bool = False) -> None:
		now = time.monotonic()
		for entry in list(self.stalled):
			if force or entry[1] <= now:
				self._resume_one(entry)

	def check_workers(self) -> None:
		for slot, (proc, name) in list(self.procs.items()):
			if proc.poll() is not None:
				self.stats["worker_crashes"] += 1
				self.dead_names.add(name)
				self.spawn(slot)

	def watch_claims(self) -> None:
		"""Poll the log: a claim shows as attempts going up. Resolve the kills and stalls waiting on it."""
		rows = self.read(f"SELECT name, status, attempts FROM {LOG}")
		claimed = False
		current = {}
		for r in rows:
			current[r["name"]] = (r["status"], r["attempts"])
			if r["attempts"] > self.attempts_seen.get(r["name"], 0):
				claimed = True
		self.attempts_seen = {n: a for n, (_, a) in current.items()}
		now = time.monotonic() - self.t0
		self.db.commit("chaos: fresh snapshot")
		if claimed or not self.journal.tenants_with_work():
			self.quiet_since = now
		else:  # claimable rows and nobody claims them: the queue sleeps
			self.max_asleep = max(self.max_asleep, now - self.quiet_since)
		for event in self.events:
			if event.resumed_at is not None:
				continue
			if event.held:
				moved = all(
					n not in current or current[n][0] != "Queued" or current[n][1] > attempts
					for n, attempts in event.held.items()
				)
			else:
				moved = claimed or not event.work
			if moved:
				event.resumed_at = event.at if not (event.held or event.work) else now

	# -- the run --------------------------------------------------------------------------------

	def drive(self) -> None:
		"""Submit, cancel, delete and reuse, retry, clear logs, enqueue duplicates, kill and stall workers."""
		rng = self.rng
		kill_at = sorted(rng.uniform(0.3, self.submit_s + 2.0) for _ in range(self.args.kills))
		stall_at = sorted(rng.uniform(0.3, self.submit_s) for _ in range(self.args.stalls))
		clear_at = sorted(
			rng.uniform(self.submit_s * 0.2, self.submit_s + 2.0) for _ in range(self.args.clear_logs)
		)
		irng = self.infra_rng
		redis_at = sorted(irng.uniform(0.5, self.submit_s) for _ in range(self.args.redis_restarts))
		# (when, aimed between a create Xero applied and the commit recording it)
		db_kill_at = sorted(
			(irng.uniform(0.3, self.submit_s + 2.0), irng.random() < self.args.aimed_db_kills)
			for _ in range(self.args.db_kills)
		)
		pending = sorted(self.docs, key=lambda d: d.submit_at)
		pushing = sorted((d for d in self.docs if d.fate == "cancel_pushing"), key=lambda d: d.cancel_at)
		if self.db_faults:
			self.db_faults.start_storm()
		self.t0 = t0 = time.monotonic()
		next_sweep = next_db_kill = 0.0
		last_kill_at, last_kill_calls = 0.0, 0
		while (
			pending
			or kill_at
			or pushing
			or stall_at
			or self.stalled
			or clear_at
			or self.armed
			or self.aimed
			or redis_at
			or db_kill_at
			or self.armed_db_kills
			or self.aimed_db_kills
			or self.db_kills_due
			or self.redis_down()
		):
			if self.redis_server:
				self.redis_server.tick()
			now = time.monotonic() - t0
			while pending and pending[0].submit_at <= now:
				self.submit(pending.pop(0))
				self.wake(TENANT)  # on_submit enqueues after commit
			while pushing and pushing[0].cancel_at <= now and pushing[0].submitted:
				self.cancel(pushing.pop(0))
			# A kill waits until the workers made some progress since the last one (or 3 s passed).
			progressed = self.emulator.total_calls(TENANT) >= last_kill_calls + 3 or now > last_kill_at + 3
			if kill_at and kill_at[0] <= now and progressed:
				if self.kill():
					kill_at.pop(0)
					last_kill_at, last_kill_calls = now, self.emulator.total_calls(TENANT)
				else:
					kill_at[0] = now + 0.2
			if stall_at and stall_at[0] <= now and rng.random() < self.args.aimed:
				stall_at.pop(0)
				self.arm_stall()
			elif stall_at and stall_at[0] <= now:
				if self.stall():
					stall_at.pop(0)
				elif now > self.submit_s + 30:
					stall_at.pop(0)  # nothing busy to freeze any more
					self.stats["stalls_missed"] += 1
				else:
					stall_at[0] = now + 0.2
			if redis_at and redis_at[0] <= now:
				if self.crash_redis():
					redis_at.pop(0)
				else:
					redis_at[0] = now + 0.5  # the previous crash is still down
			if db_kill_at or self.armed_db_kills or self.db_kills_due:
				next_db_kill = self.db_kills(db_kill_at, now, next_db_kill)
			self.resume()
			self.take_aimed()
			if self.armed and now > self.submit_s + 30:
				with self.stall_lock:
					self.stats["stalls_missed"] += len(self.armed)
					self.armed.clear()
			if clear_at and clear_at[0] <= now:
				clear_at.pop(0)
				self.clear()
			if now >= next_sweep:
				next_sweep = now + 0.5
				self.sweep()
				self.cancel_synced()
				self.reuse_names(now)
				self.check_workers()
				self.watch_claims()
				progress = min(1.0, now / (self.submit_s + 2.0))
				if self.args.payments:
					self.record_payments(progress)
				if self.mode == "push":
					self.submit_entries(progress)
					self.cancel_entries(now)
				if self.journals:
					self.journals.tick(now, progress)
				if (self.args.payments or self.mode) and rng.random() < 0.25:
					self.poll()
				if self.args.verbose:
					self.trace(now)
				if rng.random() < self.args.duplicate_rate:
					self.enqueue_duplicate()
				if rng.random() < 0.25:
					self.press_retry(bulk=rng.random() < 0.4)
			time.sleep(0.02)

	def redis_down(self) -> bool:
		"""Whether the run's own Redis is crashed and not back yet."""
		return self.redis_server is not None and self.redis_server.down

	def settle(self) -> float:
		"""Chaos off; keep scheduling until nothing is queued or running; return the seconds it took."""
		self.calls_in_chaos = self.emulator.total_calls(TENANT)
		self.emulator.set_chaos(rate=0)
		if self.db_faults:
			self.db_faults.end_storm()
		with self.stall_lock:
			self.stats["stalls_missed"] += len(self.armed)
			self.armed.clear()
			self.stats["db_kills_missed"] += len(self.armed_db_kills) + self.db_kills_due
			self.armed_db_kills.clear()
			self.db_kills_due = 0
		self.resume(force=True)
		self.take_aimed()
		self.press_retry(bulk=True, error_class="Transient")
		t1 = time.monotonic()
		stable = 0
		next_clear = t1
		while time.monotonic() - t1 < self.args.settle_timeout:
			self.sweep()
			self.cancel_synced(settling=time.monotonic() - t1 > 6)
			self.reuse_names(float("inf"))
			if self.mode == "push":
				self.cancel_entries(float("inf"))
			if self.journals:
				self.journals.tick(float("inf"), 1.0)
			# payments made or deleted late are found by the poll alone: quiet only once one ran whole
			polled = self.poll() if self.mode == "pull" else True
			self.check_workers()
			self.watch_claims()
			waiting_clear = any(d.fate == "cancel_cleared" and not d.cancelled for d in self.docs)
			if waiting_clear and self.args.clear_logs and time.monotonic() >= next_clear:
				next_clear = time.monotonic() + 2.0
				self.clear()
			stable = stable + 1 if self.quiescent() and polled else 0
			if self.args.verbose:
				self.trace(time.monotonic() - t1)
			if stable >= 2:
				break
			time.sleep(0.5)
		return time.monotonic() - t1

	# -- payments made in Xero and the status poll (--payments) -----------------------------------

	def record_payments(self, progress: float) -> None:
		"""Someone in Xero records payments (and deletes a few) on synced documents, spread over the run."""
		due = round(self.args.payments * progress) - self.stats["payments"]
		if due <= 0:
			return
		synced = self.read(
			f"SELECT reference_name, xero_id, xero_type FROM {LOG} WHERE status = 'Synced' AND xero_id IS NOT NULL "
			"AND reference_doctype IN ('Sales Invoice', 'Purchase Invoice')"
		)
		if self.mode == "pull":
			synced = [r for r in synced if self.payable(r["reference_name"])]
		ledger = {e["xero_id"]: e for e in self.emulator.ledger(TENANT)}
		for _ in range(due):
			if self.payments and self.rng.random() < 0.15:
				payment_id = self.rng.choice(sorted(self.payments))
				try:
					self.emulator.unpay(TENANT, payment_id)
					self.stats["payments_deleted"] += 1
				except ValueError:
					pass
				self.payments.pop(payment_id)
				continue
			open_docs = [
				(r, ledger[r["xero_id"]])
				for r in synced
				if ledger.get(r["xero_id"], {}).get("status") == "AUTHORISED"
			]
			if not open_docs:
				return
			row, entry = self.rng.choice(open_docs)
			left = entry["amount_due"] if "amount_due" in entry else entry["remaining_credit"]
			if left <= 0:
				continue
			amount = (
				left
				if self.rng.random() < 0.5
				else max(Decimal("0.01"), (left / 3).quantize(Decimal("0.01")))
			)
			try:
				if row["xero_type"] in ("ACCRECCREDIT", "ACCPAYCREDIT"):
					payment_id = self.emulator.refund(TENANT, row["xero_id"], amount)
				else:
					payment_id = self.emulator.pay(TENANT, row["xero_id"], amount)
			except ValueError:
				continue  # voided or paid off meanwhile
			self.payments[payment_id] = row["xero_id"]
			self.stats["payments"] += 1
			ledger = {e["xero_id"]: e for e in self.emulator.ledger(TENANT)}

	def poll(self) -> bool:
		"""The scheduler's status poll; a call that fails (chaos on reads, or held back by the rate governor
		while the drains use the organisation's minute) leaves it for the next one. True if it all ran."""
		marks = self.watermarks

		class Marks:
			def get(self, tenant_id):
				return marks.get(tenant_id)

			def put(self, tenant_id, value):
				marks[tenant_id] = value

		def status_poll():
			return poll_tenant(
				TENANT,
				gateway=self.gateway,
				db=self.db,
				watermarks=Marks(),
				started=datetime.now().astimezone(),
				now=datetime.now(),
			)

		try:
			self.user(status_poll)
			self.db.commit("chaos: status poll")
			self.stats["polls"] += 1
		except XeroError:
			self.db.rollback()
			self.stats["polls_failed"] += 1
			return False
		if self.mode != "pull":
			return True

		def payments_poll():
			return poll_payments(
				TENANT,
				reader=self.gateway.payments,
				db=self.db,
				watermarks=Marks(),
				started=datetime.now(timezone.utc),
				now=datetime.now(),
				config=self.config,
			)

		try:
			found = self.user(payments_poll)
			self.db.commit("chaos: payments poll")
			self.stats["payment_polls"] += 1
			self.stats["pulls_queued"] += len(found.queued)
			self.stats["pulls_undone"] += len(found.undone)
			if found.queued or found.undone:
				self.wake(TENANT)  # the poll wakes the drain after commit
		except XeroError:
			self.db.rollback()
			self.stats["polls_failed"] += 1
			return False
		return True

	def final_polls(self, times: int = 2, within: float = 120.0) -> None:
		"""After quiescence: the scheduler's polls until `times` of them ran whole (a governed one waits for
		the organisation's budget)."""
		done, deadline = 0, time.monotonic() + within
		while done < times and time.monotonic() < deadline:
			if self.poll():
				done += 1
			else:
				time.sleep(0.5)

	def payment_mismatches(self) -> int:
		"""Synced rows (and their invoices) whose Xero status or amount due differs from the ledger."""
		ledger = {e["xero_id"]: e for e in self.emulator.ledger(TENANT)}
		mismatched = 0
		for doctype in ("Sales Invoice", "Purchase Invoice"):
			rows = self.read(
				f"SELECT l.reference_name, l.xero_id, l.xero_status, l.xero_amount_due, d.xero_status AS doc_status, "
				f"d.xero_amount_due AS doc_due FROM {LOG} l JOIN `tab{doctype}` d ON d.name = l.reference_name "
				f"WHERE l.status = 'Synced' AND l.reference_doctype = %(dt)s",
				{"dt": doctype},
			)
			for r in rows:
				entry = ledger.get(r["xero_id"])
				due = None if entry is None else entry.get("amount_due", entry.get("remaining_credit"))
				kept = (r["xero_status"], r["xero_amount_due"], r["doc_status"], r["doc_due"])
				if entry is None or kept != (entry["status"], due, entry["status"], due):
					mismatched += 1
					if len(self.problems) < 25:
						self.problems.append(
							f"payment_mismatch: {r['reference_name']}: kept {kept}, Xero {entry and (entry['status'], due)}"
						)
		return mismatched

	# -- Payment Entries pushed to Xero (--payment-entries) and Xero's payments pulled (--pull-payments) --

	def payable(self, name: str) -> bool:
		"""A document the run's payments may go on: one that stays submitted (no cancel, no reused name),
		neither an original nor a return applied to it. (ERPNext applies such a return at once, Xero only
		once both are there and the original still owes that much: a payment in between has no answer
		both sides accept, and the connector rightly refuses it; see check_outstanding.)"""
		doc = self.by_name.get(name)
		if doc is None or doc.fate != "keep" or "reuse" in doc.tags or doc.unmapped:
			return False
		return doc.group is None

	def _open_documents(self) -> list[dict]:
		"""Submitted documents pushed (Synced) or on their way (Queued) that still have something to pay."""
		out = []
		for doctype, party in (("Sales Invoice", "customer"), ("Purchase Invoice", "supplier")):
			out += self.read(
				f"SELECT d.name, '{doctype}' AS doctype, d.{party} AS party, d.is_return, d.outstanding_amount "
				f"FROM `tab{doctype}` d JOIN {LOG} l ON l.reference_doctype = %(dt)s AND l.reference_name = d.name "
				"WHERE d.docstatus = 1 AND l.status IN ('Synced', 'Queued') "
				# what a Payment Entry may allocate to: an invoice's debt, a return's credit (an original a return
				# was applied to after it was paid owes nothing: ERPNext would refuse a receipt on it)
				"AND IF(d.is_return, d.outstanding_amount < 0, d.outstanding_amount > 0)",
				{"dt": doctype},
			)
		return [r for r in out if self.payable(r["name"])]

	def _share(self, left: Decimal) -> Decimal:
		"""All of what is left, or a third of it (signed as `left`: negative on a return)."""
		if self.rng.random() < 0.5:
			return left
		return max(Decimal("0.01"), (abs(left) / 3).quantize(Decimal("0.01"))).copy_sign(left)

	def submit_entries(self, progress: float) -> None:
		"""Someone in ERPNext submits Payment Entries on documents the run pushed: receipts, some paying
		several invoices of one customer, supplier payments, refunds against returns; a few get cancelled
		right away, while being pushed, or once Synced."""
		due = round(self.args.payment_entries * progress) - self.stats["payment_entries"]
		for _ in range(max(0, due)):
			docs = self._open_documents()
			if not docs:
				return
			first = self.rng.choice(docs)
			same = [
				d
				for d in docs
				if (d["doctype"], d["party"], d["is_return"])
				== (first["doctype"], first["party"], first["is_return"])
				and d["name"] != first["name"]
			]
			self.rng.shuffle(same)
			extra = self.rng.choice((0, 0, 1, 2)) if not first["is_return"] else 0
			picked = [first, *same[:extra]]
			refs = [
				(
					d["doctype"],
					d["name"],
					self._share(Decimal(d["outstanding_amount"])),
				)
				for d in picked
			]
			purchase = first["doctype"] == "Purchase Invoice"
			refund = bool(first["is_return"])
			name = f"ACC-PAY-{self.args.seed}-{self.stats['payment_entries']:05d}"
			doc = payment_entry(
				name,
				payment_type="Pay" if purchase != refund else "Receive",
				party_type="Supplier" if purchase else "Customer",
				party=first["party"],
				refs=[(dt, dn, str(amount)) for dt, dn, amount in refs],
			)
			self.user(self.erp.submit_payment, doc, TENANT)
			self.stats["payment_entries"] += 1
			self.stats["payment_refs"] += len(refs)
			self.stats["refunds"] += refund
			entry = Entry(name, refs)
			self.entries[name] = entry
			r = self.rng.random()
			now = time.monotonic() - self.t0
			if r < 0.07:
				entry.cancel_at = now  # right after submit
			elif r < 0.17:
				entry.cancel_at = now + self.rng.uniform(0.02, 1.5)  # while being pushed
			elif r < 0.27:
				entry.cancel_at = float("inf")  # once in Xero
			self.wake(TENANT)
			self.cancel_entries(now)

	def cancel_entries(self, now: float) -> None:
		"""Cancel the Payment Entries planned for it (those waiting for Synced once their row is final)."""
		waiting = [e for e in self.entries.values() if e.cancel_at is not None and not e.cancelled]
		later = [e.name for e in waiting if e.cancel_at == float("inf")]
		states = self.row_states(later)
		for entry in waiting:
			if entry.cancel_at == float("inf"):
				if states[entry.name] not in ("Synced", "Failed", None) and now != float("inf"):
					continue
			elif entry.cancel_at > now:
				continue
			self.user(self.erp.cancel, "Payment Entry", entry.name, TENANT)
			entry.cancelled = True
			self.stats["payment_entries_cancelled"] += 1
			self.wake(TENANT)

	def _documents(self) -> dict[tuple[str, str], dict]:
		docs = {}
		for doctype in ("Sales Invoice", "Purchase Invoice"):
			for r in self.read(
				f"SELECT name, docstatus, is_return, outstanding_amount, xero_id FROM `tab{doctype}`"
			):
				docs[(doctype, r["name"])] = r
		return docs

	def _mismatch(self, why: str) -> None:
		self.stats["payment_mismatch"] += 1
		if self.stats["payment_mismatch"] <= 8:
			self.problems.append(f"payment_mismatch: {why}")

	def check_outstanding(self) -> None:
		"""Every submitted document in Xero: ERPNext's outstanding is Xero's AmountDue (minus RemainingCredit
		for a credit note). An original and the returns applied to it are compared together: ERPNext applies
		such a return to the original at once, while the push allocates its credit note in Xero only if the
		original is in Xero and still owes that much (else the credit stays on the note)."""
		ledger = {e["xero_id"]: e for e in self.emulator.ledger(TENANT)}
		groups: dict[tuple[str, str], list[tuple[Decimal, Decimal | None]]] = {}
		for (doctype, name), d in self._documents().items():
			if d["docstatus"] != 1:
				continue
			doc = self.by_name.get(name)
			key = (doctype, doc.group) if doc is not None and doc.group else (doctype, name)
			entry = ledger.get(d["xero_id"]) if d["xero_id"] else None
			xero = None
			if entry is not None and entry["status"] in LIVE:
				xero = entry["amount_due"] if "amount_due" in entry else -entry["remaining_credit"]
			groups.setdefault(key, []).append((Decimal(d["outstanding_amount"] or 0), xero))
		for (_, name), members in sorted(groups.items()):
			if any(x is None for _, x in members):
				continue  # not (or no longer) in Xero: check() judges that
			erp, xero = sum(m[0] for m in members), sum(m[1] for m in members)
			self.stats["outstanding_checked"] += 1
			if erp != xero:
				self._mismatch(
					f"{name}{' (with its returns)' if len(members) > 1 else ''}: ERPNext "
					f"outstanding {erp}, Xero {xero}"
				)

	def check_pulled(self) -> None:
		"""Every live Xero payment is exactly one submitted Payment Entry on its document for its amount;
		a deleted one, or one Xero does not have, has none."""
		docs = {d["xero_id"]: ref for ref, d in self._documents().items() if d["xero_id"]}
		entries: dict[str | None, list[dict]] = {}
		for e in self.read("SELECT name, docstatus, xero_payment_id FROM `tabPayment Entry`"):
			entries.setdefault(e["xero_payment_id"], []).append(e)
		refs: dict[str, list[dict]] = {}
		for r in self.read(
			"SELECT parent, reference_name, allocated_amount FROM `tabPayment Entry Reference`"
		):
			refs.setdefault(r["parent"], []).append(r)

		def bad(metric: str, why: str) -> None:
			self.pulled[metric] += 1
			if self.pulled[metric] <= 6:
				self.problems.append(f"{metric}: {why}")

		seen = set()
		for p in self.emulator.payments_of(TENANT):
			pid = p["PaymentID"]
			seen.add(pid)
			ref = docs.get(_paid_document(p))
			if ref is None:
				continue  # not on a document of this run
			submitted = [e for e in entries.get(pid, []) if e["docstatus"] == 1]
			self.pulled["checked"] += 1
			if p["Status"] == "DELETED":
				if submitted:
					bad("pulled_stale", f"{pid} deleted in Xero, {submitted[0]['name']} still submitted")
				continue
			if not submitted:
				states = [e["docstatus"] for e in entries.get(pid, [])]
				bad(
					"pulled_lost",
					f"{pid} ({p['Amount']} on {ref[1]}) has no submitted entry (entries {states})",
				)
			elif len(submitted) > 1:
				bad("pulled_duplicates", f"{pid}: {len(submitted)} submitted entries")
			else:
				lines = refs.get(submitted[0]["name"], [])
				got = [(r["reference_name"], abs(Decimal(r["allocated_amount"]))) for r in lines]
				if got != [(ref[1], Decimal(p["Amount"]))]:
					self._mismatch(
						f"{submitted[0]['name']} allocates {got}, Xero paid {p['Amount']} on {ref[1]}"
					)
		for pid, found in entries.items():
			if pid not in seen and any(e["docstatus"] == 1 for e in found):
				bad("pulled_stale", f"{found[0]['name']} records {pid}, which Xero does not have")

	def check_pushed(self) -> None:
		"""Every reference of a submitted Payment Entry is exactly one live Xero payment (its document, its
		amount, the entry's name as Reference); a cancelled entry has none live; no live payment is
		unaccounted for."""
		docs = self._documents()
		live: dict[str, list[dict]] = {}
		for p in self.emulator.payments_of(TENANT):
			if p["Status"] != "DELETED":
				live.setdefault(p["Reference"], []).append(p)
		refs: dict[str, list[dict]] = {}
		for r in self.read(
			"SELECT parent, reference_doctype, reference_name, allocated_amount FROM `tabPayment Entry Reference`"
		):
			refs.setdefault(r["parent"], []).append(r)

		def bad(metric: str, why: str) -> None:
			self.pushed[metric] += 1
			if self.pushed[metric] <= 6:
				self.problems.append(f"{metric}: {why}")

		for e in self.read("SELECT name, docstatus FROM `tabPayment Entry`"):
			payments = live.pop(e["name"], [])
			if e["docstatus"] != 1:
				if payments:
					bad("pushed_stale", f"{e['name']} cancelled, {len(payments)} payments live in Xero")
				continue
			for r in refs.get(e["name"], []):
				self.pushed["checked"] += 1
				xero_id = docs[(r["reference_doctype"], r["reference_name"])]["xero_id"]
				amount = abs(Decimal(r["allocated_amount"]))
				hits = [
					p for p in payments if _paid_document(p) == xero_id and Decimal(p["Amount"]) == amount
				]
				if not hits:
					bad(
						"pushed_lost",
						f"{e['name']}: no live Xero payment of {amount} on {r['reference_name']}",
					)
				elif len(hits) > 1:
					bad(
						"pushed_duplicates",
						f"{e['name']}: {len(hits)} payments of {amount} on {r['reference_name']}",
					)
				for p in hits[:1]:
					payments.remove(p)
			if payments:
				bad("pushed_duplicates", f"{e['name']}: {len(payments)} live payments beyond its references")
		for reference, payments in live.items():
			bad("pushed_stale", f"{len(payments)} live payments with Reference {reference!r}, no such entry")

	def trace(self, t: float) -> None:
		rows = self.read(
			f"SELECT name, reference_name, lease_owner, lease_expires_at, next_attempt_at, attempts, "
			f"cancel_requested FROM {LOG} WHERE status = 'Queued'"
		)
		busy = sorted(self.busy_workers())
		calls = self.emulator.total_calls(TENANT)
		try:
			rq_queued = self.queue.count
		except RedisError:
			rq_queued = "down"
		print(
			f"[{t:5.1f}] queued={len(rows)} rq_queued={rq_queued} busy={busy} calls={calls}",
			file=sys.stderr,
		)
		for r in rows[:5]:
			print(f"    {r}", file=sys.stderr)

	def quiescent(self) -> bool:
		if any(
			d.fate in ("cancel_synced", "cancel_cleared") and d.submitted and not d.cancelled
			for d in self.docs
		):
			return False
		if any(d.fate == "reuse" and d.submitted and not d.deleted for d in self.docs):
			return False
		if any(e.cancel_at is not None and not e.cancelled for e in self.entries.values()):
			return False
		if self.read(f"SELECT name FROM {LOG} WHERE status = 'Queued' LIMIT 1"):
			return False
		try:
			if self.queue.count:
				return False
		except RedisError:
			return False
		return not self.busy_workers()

	def max_resume(self) -> tuple[float, int]:
		"""Longest time from a kill or stall to the next claim of the organisation's rows it concerned, and
		how many never resumed (counted up to now)."""
		now = time.monotonic() - self.t0
		worst, unresolved = 0.0, 0
		for event in self.events:
			end = event.resumed_at
			if end is None:
				unresolved += 1
				end = now
			worst = max(worst, end - event.at)
		return worst, unresolved

	def check_429s(self) -> int:
		"""Count Xero's real (not injected) 429s; return how many came later than RATE_429_WINDOW after the
		latest Redis loss before them (or with no loss before them at all): the governor must keep to the
		limits, and relearn them within a minute of losing its counters."""
		crashes = self.redis_server.crashed_at if self.redis_server else []
		late = 0
		self.stats["rate_429"] = self.emulator.rate_limit_hits
		latest = 0.0
		for at, problem in self.emulator.rate_limited_at:
			before = [c for c in crashes if c <= at]
			since = at - before[-1] if before else None
			if since is not None:
				latest = max(latest, since)
			if since is None or since > RATE_429_WINDOW:
				late += 1
				if late <= 5:
					when = "no Redis loss before it" if since is None else f"{since:.1f} s after a Redis loss"
					self.problems.append(f"rate_429: a {problem} 429 at {at - self.t0:.1f} s, {when}")
		self.stats["rate_429_latest_s"] = latest
		return late

	def recovered_creates(self) -> tuple[int, int, int]:
		"""Outcomes (of rows not cleared) that recorded a create an earlier, interrupted attempt made: found
		by the lookup, found by the ID it had stored, adopted after Xero refused the number as taken."""
		found = []
		for note in (
			"%Already in Xero from an earlier, interrupted attempt%",
			"%Found the Xero ID stored by an interrupted attempt%",
			"%an earlier response was lost); adopted it%",
		):
			found.append(
				self.read(f"SELECT COUNT(*) AS n FROM {ATTEMPTS} WHERE message LIKE %(m)s", {"m": note})[0][
					"n"
				]
			)
		return tuple(found)

	def lock_conflicts(self) -> Counter[int]:
		"""The lock-wait timeouts (1205) and deadlocks (1213) the drains' journal re-ran."""
		return Counter(int(x) for x in self._worker_log("lock-conflicts"))

	def governor_held(self) -> Counter[str]:
		"""Why the drains' rate governor held calls back: minute, concurrent, paused, unavailable, ..."""
		return Counter(self._worker_log("governor-held"))

	def _worker_log(self, name: str) -> list[str]:
		try:
			return (self.logdir / name).read_text().split()
		except OSError:
			return []

	# -- the verdict ----------------------------------------------------------------------------

	def check(self) -> dict:
		"""Compare the ERP documents and the log with the emulator's ledger."""
		erp = {}
		for doctype in ("Sales Invoice", "Purchase Invoice"):
			for r in self.read(f"SELECT name, docstatus, data, xero_id FROM `tab{doctype}`"):
				erp[(doctype, r["name"])] = {**r, "doc": json.loads(r["data"])}
		all_rows = self.read(f"SELECT * FROM {LOG}")
		rows = {(r["reference_doctype"], r["reference_name"]): r for r in all_rows}
		by_xero_id: dict[str, tuple[str, str]] = {}
		for ref, r in rows.items():
			if r["xero_id"]:
				by_xero_id[r["xero_id"]] = ref
		for ref, d in erp.items():
			if d["xero_id"]:
				by_xero_id[d["xero_id"]] = ref
		bills = {d["doc"].get("bill_no"): ref for ref, d in erp.items() if ref[0] == "Purchase Invoice"}
		contact_numbers = {c["contact_id"]: c["number"] for c in self.emulator.contacts(TENANT)}
		ledger = self.emulator.ledger(TENANT)
		xero_status = {e["xero_id"]: e["status"] for e in ledger}
		live: dict[tuple[str, str], list[dict]] = {}
		result = Counter(duplicates=0, lost=0, desynced=0, wrong_totals=0, untracked=0, wrong_party=0)
		problems: list[str] = []
		by_tag: Counter[str] = Counter()
		shown: Counter[str] = Counter()
		unmatched = 0

		def bad(metric: str, ref, why: str) -> None:
			result[metric] += 1
			doc = self.by_name.get(ref[1])
			tags = sorted(doc.tags) if doc else []
			for tag in tags or ["plain"]:
				by_tag[f"{metric}:{tag}"] += 1
			shown[metric] += 1
			if shown[metric] <= 6:
				problems.append(f"{metric}: {ref[1]}: {why}" + (f" [{','.join(tags)}]" if tags else ""))

		for entry in ledger:
			ref = by_xero_id.get(entry["xero_id"]) or _ref_of(entry, bills)
			if ref is None:
				unmatched += 1
			if entry["status"] not in LIVE:
				continue
			if entry["xero_id"] not in by_xero_id:
				bad("untracked", ref or ("?", entry["number"]), f"live {entry['kind']} {entry['xero_id']}")
			if ref is None:
				continue
			live.setdefault(ref, []).append(entry)
			doc = erp.get(ref)
			if doc is not None:
				party = doc["doc"].get("supplier" if ref[0] == "Purchase Invoice" else "customer")
				number = contact_numbers.get(entry["contact_id"])
				if number != party:
					bad("wrong_party", ref, f"Xero contact {number!r} is not {party!r}")

		for ref, doc in erp.items():
			row = rows.get(ref)
			in_xero = live.get(ref, [])
			if len(in_xero) > 1:
				bad("duplicates", ref, f"{len(in_xero)} live Xero documents")
			if row is None:
				if ref not in self.cleared:
					bad("lost", ref, "no sync log row")
				elif doc["docstatus"] == 2 and in_xero:
					bad("desynced", ref, "cancelled after its log row was cleared; still live in Xero")
				elif doc["docstatus"] == 1:
					match = [x for x in in_xero if x["xero_id"] == doc["xero_id"]]
					if not match:
						was = self.cleared[ref]["status"]
						bad(
							"desynced",
							ref,
							f"submitted, its log row (then {was}) cleared, nothing live in Xero",
						)
					else:
						self._check_total(bad, ref, doc, match[0])
				continue
			status = row["status"]
			if status not in FINAL:
				lease, retry = row["lease_expires_at"], row["next_attempt_at"]
				bad(
					"lost",
					ref,
					f"row still {status}, lease {_ago(lease)}, next attempt {_ago(retry)}, "
					f"owner {row['lease_owner']}, cancel {row['cancel_requested']}",
				)
				continue
			if status == "Failed" and not (row["error_message"] or "").strip():
				bad("lost", ref, "Failed without a message")
			if doc["docstatus"] == 2:
				if in_xero and status != "Orphan":
					bad("desynced", ref, f"cancelled but live in Xero and {status}")
				elif status not in ("Voided", "Skipped", "Orphan"):
					bad("desynced", ref, f"cancelled but {status}")
				elif status == "Orphan" and not (row["error_message"] or "").strip():
					bad("desynced", ref, "Orphan without a reason")
				continue
			if status == "Synced":
				match = [x for x in in_xero if x["xero_id"] == row["xero_id"]]
				if not match:
					gone = xero_status.get(row["xero_id"], "missing")
					bad(
						"desynced",
						ref,
						f"Synced but its Xero document is {gone} ({len(in_xero)} others live)",
					)
					continue
				self._check_total(bad, ref, doc, match[0])
			elif status in ("Voided", "Orphan", "Skipped"):
				bad("desynced", ref, f"submitted but {status}")
			elif in_xero:
				bad("desynced", ref, f"{status} but live in Xero")
		planned_to_fail = {d.name for d in self.docs if d.unmapped}
		self.unexpected_failed = [
			r for r in all_rows if r["status"] == "Failed" and r["reference_name"] not in planned_to_fail
		]
		# Failed on the way, then retried by a person (the run's random Retry hides them from the statuses).
		self.failed_attempts = [
			a
			for a in self.read(
				f"SELECT l.reference_name, a.message FROM {ATTEMPTS} a JOIN {LOG} l ON l.name = a.parent "
				"WHERE a.outcome = 'Failed'"
			)
			if a["reference_name"] not in planned_to_fail
		]
		if self.args.verbose:
			for ref, row in rows.items():
				if row["status"] in ("Orphan", "Failed"):
					problems.append(f"(ok) {row['status']}: {ref[1]}: {row['error_message']}")
		self.problems = problems
		self.by_tag = by_tag
		self.statuses = Counter(r["status"] for r in all_rows)
		self.unmatched = unmatched
		return result

	@staticmethod
	def _check_total(bad, ref, doc: dict, entry: dict) -> None:
		data = doc["doc"]
		expected = abs(Decimal(str(data.get("rounded_total") or data.get("grand_total"))))
		if abs(Decimal(str(entry["total"]))) != expected:
			bad("wrong_totals", ref, f"Xero total {entry['total']} != ERPNext {expected}")


def _paid_document(payment: dict) -> str | None:
	"""The InvoiceID or CreditNoteID a payment (as GET /Payments renders it) is on."""
	if payment.get("Invoice"):
		return payment["Invoice"].get("InvoiceID")
	return (payment.get("CreditNote") or {}).get("CreditNoteID")


def _ago(moment: datetime | None) -> str:
	"""A timestamp relative to now, e.g. "+3582s" (an hour-ahead worker clock shows here)."""
	return "none" if moment is None else f"{(moment - datetime.now()).total_seconds():+.0f}s"


def _ref_of(entry: dict, bills: dict[str, tuple[str, str]]) -> tuple[str, str] | None:
	"""The ERP document a Xero document belongs to: its Url marker, else its number (credit notes)."""
	url = entry.get("url") or ""
	prefix = f"{SITE_URL}/app/"
	if url.startswith(prefix):
		slug, _, name = url[len(prefix) :].partition("/")
		return (SLUGS[slug], name) if slug in SLUGS else None
	if entry["kind"] in ("ACCPAY", "ACCPAYCREDIT"):
		return bills.get(entry["number"])
	return ("Sales Invoice", entry["number"]) if entry["number"] else None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
	p = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
	p.add_argument("--docs", type=int, default=300)
	p.add_argument("--kills", type=int, default=30)
	p.add_argument("--stalls", type=int, default=0, help="SIGSTOPs of a busy horse or worker past the lease")
	p.add_argument("--aimed", type=float, default=0.6, help="share of stalls aimed at a create request")
	p.add_argument("--seed", type=int, default=1)
	p.add_argument("--workers", type=int, default=4)
	p.add_argument("--fault-rate", type=float, default=0.15)
	p.add_argument("--chaos-reads", action="store_true", help="inject faults into GETs as well")
	p.add_argument("--lease", type=int, default=10, help="lease seconds in the workers (> read timeout)")
	p.add_argument("--read-timeout", type=float, default=1.5, help="the workers' gateway read timeout (s)")
	p.add_argument(
		"--late-commit-hold",
		type=float,
		default=None,
		help="seconds a late-committed create is held (default: read timeout + 2.5; 0: no such fault)",
	)
	p.add_argument("--batch-size", type=int, default=10, help="rows per claim (the engine allows up to 50)")
	p.add_argument("--submit-seconds", type=float, default=0.0, help="default: docs × 0.05, at least 3")
	p.add_argument("--settle-timeout", type=float, default=90.0)
	p.add_argument("--wake", choices=("frappe", "app"), default="app", help="the drain wake-up policy")
	p.add_argument("--skew", type=float, default=20.0, help="max ± seconds of each worker's clock skew")
	p.add_argument("--dst", type=float, default=0.25, help="share of workers whose clock jumps ±1 h mid-run")
	p.add_argument("--clear-logs", type=int, default=4, help="Log Settings clean-ups during the run")
	p.add_argument("--clear-after", type=float, default=3.0, help="age (s) of finished rows they delete")
	p.add_argument("--reuse", type=float, default=0.04, help="share of documents deleted and name-reused")
	p.add_argument(
		"--shared-names", type=float, default=0.15, help="share of sales invoices to same-name customers"
	)
	p.add_argument(
		"--new-customers", type=int, default=None, help="bursts of new customers (default docs/100)"
	)
	p.add_argument(
		"--contact-latency",
		type=float,
		default=0.4,
		help="seconds a contact create takes (Xero is not instant)",
	)
	p.add_argument("--duplicate-rate", type=float, default=0.4, help="chance per tick of a duplicate drain")
	p.add_argument("--verbose", action="store_true", help="trace the settle phase on stderr")
	p.add_argument("--keep", action="store_true", help="keep the MariaDB database")
	p.add_argument("--payments", type=int, default=0, help="payments recorded in Xero during the run")
	p.add_argument(
		"--pull-payments",
		action="store_true",
		help="Xero owns the payments: the --payments made there become Payment Entries (issue 12)",
	)
	p.add_argument(
		"--payment-entries",
		type=int,
		default=0,
		help="Payment Entries submitted (some cancelled) and pushed as Xero payments (issue 13)",
	)
	p.add_argument(
		"--journals", type=int, default=0, help="Journal Entries submitted (some cancelled, names reused)"
	)
	p.add_argument(
		"--redis-restarts",
		type=int,
		default=0,
		help="SIGKILLs of the run's own Redis (queues, governor counters, locks), each restarted empty",
	)
	p.add_argument(
		"--db-kills",
		type=int,
		default=0,
		help="KILL CONNECTION of the workers' MariaDB connections; also runs a lock storm on the log rows",
	)
	p.add_argument(
		"--aimed-db-kills",
		type=float,
		default=0.4,
		help="share of --db-kills aimed between a create Xero applied and the commit that records it",
	)
	p.add_argument(
		"--lock-wait",
		type=int,
		default=1,
		help="innodb_lock_wait_timeout (s) of the drains' sessions with --db-kills (the storm holds longer)",
	)
	p.add_argument(
		"--rate-minute",
		type=float,
		default=None,
		help="Xero's rate limits (60 calls a minute, 5 in flight) enforced with a minute this many seconds "
		"long, and the workers' rate governor keeping to them (default 10 with "
		"--redis-restarts; 0: no limits and no governor)",
	)
	args = p.parse_args(argv)
	if args.rate_minute is None:
		args.rate_minute = 10.0 if args.redis_restarts else 0.0
	if args.pull_payments and not args.payments:
		p.error("--pull-payments needs --payments")
	if args.pull_payments and args.payment_entries:
		p.error(
			"one company either pushes or pulls its payments: run --pull-payments and --payment-entries apart"
		)
	if args.payments and args.payment_entries:
		p.error("--payments records payments in Xero; with --payment-entries ERPNext owns them")
	if args.late_commit_hold is None:
		args.late_commit_hold = args.read_timeout + 2.5
	if args.new_customers is None:
		args.new_customers = max(1, args.docs // 100)
	return args


def last_line(
	args,
	s: Counter,
	faults: int,
	result: Counter,
	quiesce_s: float,
	resume_s: float,
	mismatch: int = 0,
	pulled: Counter | None = None,
	pushed: Counter | None = None,
) -> str:
	pulled, pushed = pulled or Counter(), pushed or Counter()
	line = (
		f"docs={args.docs} kills={s['kills']} faults={faults} duplicates={result['duplicates']} "
		f"lost={result['lost']} desynced={result['desynced']} wrong_totals={result['wrong_totals']} "
		f"quiesce_s={quiesce_s:.1f} stalls={s['stalls']} untracked={result['untracked']} "
		f"wrong_party={result['wrong_party']} max_resume_s={resume_s:.1f}"
		+ (f" payments={s['payments']} payment_mismatch={mismatch}" if args.payments else "")
	)
	if args.pull_payments:
		line += " " + " ".join(f"{k}={pulled[k]}" for k in PULL_KEYS)
	if args.payment_entries:
		line += f" payment_entries={s['payment_entries']} payment_mismatch={mismatch} " + " ".join(
			f"{k}={pushed[k]}" for k in PUSH_KEYS
		)
	return line + " " + " ".join(f"{k}={s[k]}" for k in INFRA_KEYS)


VERDICT_KEYS = ("duplicates", "lost", "desynced", "wrong_totals", "untracked", "wrong_party")
PULL_KEYS = ("pulled_lost", "pulled_duplicates", "pulled_stale")
PUSH_KEYS = ("pushed_lost", "pushed_duplicates", "pushed_stale")
INFRA_KEYS = ("redis_restarts", "db_kills", "rate_429")


def main(argv: list[str] | None = None) -> int:
	"""Run, check, print the table and the last line; 1 if anything is wrong."""
	args = parse_args(argv)
	harness = Harness(args)
	started = time.monotonic()
	quiesce_s = 0.0
	try:
		harness.start()
		harness.drive()
		quiesce_s = harness.settle()
		resume_s, unresumed = harness.max_resume()
		result = harness.check()
		journals = harness.journals.check() if harness.journals else Counter()
		mismatch = 0
		if args.payments or harness.mode:
			harness.final_polls()  # after quiescence the poll alone must bring every status in
			mismatch = harness.payment_mismatches()
		if harness.mode:
			harness.check_outstanding()
			if harness.mode == "pull":
				harness.check_pulled()
			else:
				harness.check_pushed()
			mismatch += harness.stats["payment_mismatch"]
		calls = harness.emulator.total_calls(TENANT)
		harness.contact_puts = harness.emulator.calls[("PUT", "Contacts")]
		harness.contact_count = len(harness.emulator.contacts(TENANT))
		faults = harness.emulator.faults_injected
		by_fault = dict(harness.emulator.faults.by_fault)
		late_429 = harness.check_429s()
		recovered = harness.recovered_creates()
		locks = harness.lock_conflicts()
		held = harness.governor_held()
		failed_jobs = FailedJobRegistry(queue=harness.queue)
		job_errors = len(failed_jobs.get_job_ids())
		first_error = ""
		for job in Job.fetch_many(failed_jobs.get_job_ids()[:5], connection=harness.redis):
			if job is not None and job.exc_info and "Work-horse terminated" not in job.exc_info:
				lines = job.exc_info.strip().splitlines()
				where = [ln.strip() for ln in lines if "nexwave_xero_connector/" in ln]
				first_error = lines[-1] + (f" at {where[-1]}" if where else "")
				break
	except Exception:
		traceback.print_exc()
		harness.stop()
		print(last_line(args, Counter(), 0, Counter(lost=args.docs), 0.0, 0.0, args.docs))
		return 2
	harness.stop()
	s = harness.stats
	s["stalls_missed"] += harness.aimed_misfired
	if harness.db_faults:
		s.update(harness.db_faults.stats)
	down_s = harness.redis_server.down_s if harness.redis_server else 0.0
	limits = f"60 calls a {args.rate_minute:g} s minute" if args.rate_minute else "no limits"
	wall = time.monotonic() - started
	table = [
		("documents submitted (names reused)", f"{s['submitted']} ({s['names_reused']})"),
		("  cancelled right after submit", s["cancel_now"]),
		("  cancelled while being pushed", s["cancel_pushing"]),
		("  cancelled after sync", s["cancel_synced"]),
		("  cancelled after their log row was cleared", s["cancel_cleared"]),
		("  cancelled, deleted, name reused (over old row)", f"{s['reuse']} ({s['submitted_over_old_row']})"),
		("  to two customers named " + SHARED_NAME, sum("shared_name" in d.tags for d in harness.docs)),
		("  first invoices of new customers, together", sum("new_customer" in d.tags for d in harness.docs)),
		*((f"log rows {status}", harness.statuses.get(status, 0)) for status in ("Queued", *FINAL)),
		("  Failed although planned to succeed", len(harness.unexpected_failed)),
		("  attempts Failed although planned to succeed", len(harness.failed_attempts)),
		("emulator calls (while faults were on)", f"{calls} ({harness.calls_in_chaos})"),
		("contact creates (PUT Contacts), contacts", f"{harness.contact_puts}, {harness.contact_count}"),
		("faults injected", f"{faults} {by_fault}"),
		(
			"workers killed (horse/worker/both/idle)",
			f"{s['kills']} ({s['kills_horse']}/{s['kills_worker']}/{s['kills_both']}/{s['kills_idle']})",
		),
		(
			"stalls past the lease (horse/worker/aimed before/after create, missed)",
			f"{s['stalls']} ({s['stalls_horse']}/{s['stalls_worker']}/{s['stalls_aimed_before']}/"
			f"{s['stalls_aimed_after']}, {s['stalls_missed']})",
		),
		("max resume after a kill or stall (never)", f"{resume_s:.1f} s ({unresumed})"),
		("longest stretch with claimable rows and no claim", f"{harness.max_asleep:.1f} s"),
		("worker clocks skewed (max ms)", f"{s['clock_skews']} ({s['max_skew_ms']})"),
		("DST jumps on workers (+1 h / -1 h)", f"{s['dst_forward']} / {s['dst_back']}"),
		("log clean-ups, rows cleared", f"{s['log_clears']}, {s['log_rows_cleared']}"),
		("workers died on their own (restarted, as a supervisor does)", s["worker_crashes"]),
		(
			f"Redis restarted empty (seconds down), wake-ups lost meanwhile{'' if args.redis_restarts else ' (shared Redis)'}",
			f"{s['redis_restarts']} ({down_s:.1f} s), {s['wakes_lost']}",
		),
		(
			f"Xero 429s, not injected ({limits}; latest after a Redis loss; later)",
			f"{s['rate_429']} ({s['rate_429_latest_s']:.1f} s; {late_429})",
		),
		(
			"calls the drains' governor held back (Redis down/minute/in flight/paused)",
			"/".join(str(held[k]) for k in ("unavailable", "minute", "concurrent", "paused"))
			+ (
				f" (+{sum(held.values()) - sum(held[k] for k in ('unavailable', 'minute', 'concurrent', 'paused'))} other)"
				if set(held) - {"unavailable", "minute", "concurrent", "paused"}
				else ""
			),
		),
		(
			"DB connections killed (in a transaction/idle/aimed after a create; aimed turned random, missed)",
			f"{s['db_kills']} ({s['db_kills_in_trx']}/{s['db_kills_idle']}/{s['db_kills_aimed']}; "
			f"{s['db_kills_aimed_fallback']}, {s['db_kills_missed']})",
		),
		(
			"lock storm: holds, rows locked, its deadlocks/lock-wait timeouts",
			f"{s['storm_holds']}, {s['storm_rows_locked']}, {s['storm_deadlock_victim']}/{s['storm_lock_timeouts']}",
		),
		("lock conflicts the drains re-ran (lock-wait timeouts/deadlocks)", f"{locks[1205]}/{locks[1213]}"),
		(
			"creates recorded by a later attempt (looked up/ID kept/number taken)",
			"/".join(str(n) for n in recovered),
		),
		(f"drains enqueued / deduplicated (wake={args.wake})", f"{s['enqueues']} / {s['enqueues_deduped']}"),
		("duplicate drain jobs", s["duplicate_enqueues"]),
		("drain jobs that raised", f"{job_errors} {first_error}".strip()),
		(
			"deadlocks hit by submit/cancel/Retry/hurry",
			"/".join(str(s[f"{a}_deadlocks"]) for a in ("submit", "cancel", "_requeue", "_hurry")),
		),
		("Retry pressed (single/bulk), rows", f"{s['retry_single']}/{s['retry_bulk']}, {s['retried_rows']}"),
		("rows hurried past their backoff", s["hurried"]),
		("Xero documents matched to no ERP document", harness.unmatched),
		("problems by scenario", dict(sorted(harness.by_tag.items())) or "none"),
		(
			"payments recorded / deleted in Xero, status polls (failed)",
			f"{s['payments']} / {s['payments_deleted']}, {s['polls']} ({s['polls_failed']})",
		),
		(
			"Payment Entries submitted (refunds, references) / cancelled",
			f"{s['payment_entries']} ({s['refunds']}, {s['payment_refs']}) / {s['payment_entries_cancelled']}",
		),
		(
			"payments polls, payments queued / undone, entries checked",
			f"{s['payment_polls']}, {s['pulls_queued']} / {s['pulls_undone']}, "
			f"{harness.pulled['checked'] or harness.pushed['checked']}",
		),
		("documents' outstanding compared with Xero", s["outstanding_checked"]),
		("wall seconds", f"{wall:.1f}"),
		*((("database kept", harness.database),) if args.keep else ()),
	]
	width = max(len(k) for k, _ in table)
	for key, value in table:
		print(f"{key:<{width}}  {value}")
	for row in harness.unexpected_failed[:3]:
		print(f"  failed: {row['reference_name']}: {(row['error_message'] or '')[:160]}")
	kinds = Counter((a["message"] or "")[:60] for a in harness.failed_attempts)
	for message, count in kinds.most_common(3):
		example = next(a for a in harness.failed_attempts if (a["message"] or "")[:60] == message)
		print(
			f"  failed attempts ({count}x) e.g. {example['reference_name']}: {(example['message'] or '')[:160]}"
		)
	for line in harness.problems:
		print("  " + line)
	line = last_line(args, s, faults, result, quiesce_s, resume_s, mismatch, harness.pulled, harness.pushed)
	print(line + (" " + harness.journals.summary(journals) if harness.journals else ""))
	payments_bad = any(harness.pulled[k] for k in PULL_KEYS) or any(harness.pushed[k] for k in PUSH_KEYS)
	bad = (
		any(result[k] for k in VERDICT_KEYS) or mismatch or payments_bad or late_429 or any(journals.values())
	)
	return 1 if bad else 0
