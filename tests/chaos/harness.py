"""The chaos run: real drains in RQ worker processes, killed at random, against a faulty emulator.

The harness plays ERPNext (submit, cancel, Retry through the same SQL the Frappe hooks run, in a fresh
MariaDB database), Frappe's enqueue (deduplicated per tenant, plus deliberate duplicates) and its
scheduler (a sweeper that enqueues a drain whenever the log has claimable work). When the run has
quiesced it compares the log with the emulator's ledger and prints the verdict on its last line.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pymysql
from redis import Redis
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry

from nexwave_xero_connector.sync.errors import XeroError
from nexwave_xero_connector.sync.journal import SqlJournal, requeue
from nexwave_xero_connector.sync.status_poll import poll_tenant
from tests.emulator import XeroEmulator
from tests.support.db import PyMySqlDb, create_database, drop_database
from tests.support.erp import SqlErp
from tests.support.world import COMPANY, SITE_URL, clone, emulator_gateway

REPO = Path(__file__).resolve().parents[2]
TENANT = "tenant-nz"
REDIS_URL = os.environ.get("NXC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DRAIN_JOB = "tests.chaos.worker.drain_job"
CHAOS_FAULTS = ("500", "503", "429", "latency:0.3", "drop_before_commit", "lost_after_commit")
FINAL = ("Synced", "Voided", "Failed", "Skipped", "Orphan")
SLUGS = {"sales-invoice": "Sales Invoice", "purchase-invoice": "Purchase Invoice"}
LOG = "`tabXero Sync Log`"


@dataclass
class Doc:
	"""One ERP document of the run and what the run will do to it."""

	name: str
	doctype: str
	template: str
	fate: str = "keep"  # keep | cancel_now | cancel_pushing | cancel_synced
	against: str | None = None
	unmapped: bool = False
	bill_no: str | None = None
	submit_at: float = 0.0
	cancel_at: float | None = None
	submitted: bool = False
	cancelled: bool = False

	def body(self) -> dict:
		changes = {}
		if self.bill_no:
			changes["bill_no"] = self.bill_no
		if self.against:
			# a return ERPNext applied to the original (update_outstanding_for_self unset) is allocated
			changes.update(return_against=self.against, update_outstanding_for_self=0)
		body = clone(self.template, self.name, **changes)
		if self.unmapped:
			body["items"][0]["income_account"] = "Unmapped Income - KTL"  # fails mapping: Failed, Retry
		return body


def plan(count: int, seed: int, submit_s: float) -> list[Doc]:
	"""Mixed documents (invoices, returns, bills) and their fates, reproducible from the seed."""
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
	return docs


class Harness:
	"""Everything one run owns: database, emulator, Redis queue, worker processes, counters."""

	def __init__(self, args: argparse.Namespace):
		self.args = args
		self.rng = random.Random(args.seed * 7919 + 1)
		self.qname = f"nxc-chaos-{args.seed}-{os.getpid()}"
		self.drain_id = f"{self.qname}--xero-drain--{TENANT}"
		self.submit_s = args.submit_seconds or max(3.0, args.docs * 0.05)
		self.docs = plan(args.docs, args.seed, self.submit_s)
		self.by_name = {d.name: d for d in self.docs}
		self.stats: Counter[str] = Counter()
		self.procs: dict[int, tuple[subprocess.Popen, str]] = {}
		self.generation = 0
		self.dead_names: set[str] = set()
		self.logdir = Path(tempfile.mkdtemp(prefix=f"{self.qname}-"))
		self.database = ""
		self.emulator: XeroEmulator | None = None
		# --payments: payments recorded in Xero during the run (payment id -> document id), and the status
		# poll the scheduler runs every couple of seconds with its watermark
		self.payments: dict[str, str] = {}
		self.watermarks: dict[str, datetime] = {}

	# -- setup and teardown ---------------------------------------------------------------------

	def start(self) -> None:
		self.database = create_database("nxc_chaos")
		self.db = PyMySqlDb(self.database)
		self.erp = SqlErp(self.db, datetime.now)
		self.journal = SqlJournal(self.db, datetime.now, worker="scheduler")
		self.erp.add_party("Customer", "Tui Hardware Ltd", "accounts@tui.example")
		self.erp.add_party("Supplier", "Southern Packaging Ltd")
		self.emulator = XeroEmulator(rate_limits=False)
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
		)
		self.emulator.set_chaos(
			rate=self.args.fault_rate, seed=self.args.seed, faults=CHAOS_FAULTS, reads=self.args.chaos_reads
		)
		self.gateway = emulator_gateway(self.emulator.base_url)
		self.redis = Redis.from_url(REDIS_URL)
		self.redis.ping()
		self.queue = Queue(self.qname, connection=self.redis)
		for slot in range(self.args.workers):
			self.spawn(slot)

	def stop(self) -> None:
		for proc, _ in self.procs.values():
			if proc.poll() is None:
				proc.send_signal(signal.SIGKILL)
				proc.wait()
		self.procs.clear()
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

	def spawn(self, slot: int) -> None:
		"""Start a fresh worker process in this slot (RQ worker names must be unique)."""
		self.generation += 1
		name = f"{self.qname}-w{slot}-{self.generation}"
		env = {
			**os.environ,
			"NXC_CHAOS_LEASE_SECONDS": str(self.args.lease),
			"NXC_CHAOS_BATCH_SIZE": str(self.args.batch_size),
			"PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
		}
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
				REDIS_URL,
			],
			cwd=REPO,
			env=env,
			stdout=log,
			stderr=subprocess.STDOUT,
		)
		log.close()
		self.procs[slot] = (proc, name)

	# -- what Frappe and the users do ------------------------------------------------------------

	def read(self, sql: str, params: dict | None = None) -> list[dict]:
		"""A fresh snapshot (REPEATABLE READ would otherwise keep showing the first one)."""
		self.db.commit("chaos: end the read snapshot")
		rows = self.db.query(sql, params or {})
		self.db.commit("chaos: end the read snapshot")
		return rows

	def enqueue_drain(self, duplicate: bool = False) -> bool:
		"""Enqueue a drain as Frappe does: one per tenant unless one is queued or running."""
		job_id = self.drain_id
		if duplicate:
			self.stats["duplicate_enqueues"] += 1
			job_id = f"{self.qname}--dup-{self.stats['duplicate_enqueues']}"
		else:
			try:
				job = Job.fetch(job_id, connection=self.redis)
				status = job.get_status(refresh=False)
				# A worker killed between popping the job and starting it leaves it "queued" but nowhere.
				queued = status == JobStatus.QUEUED and job_id in self.queue.get_job_ids()
				if queued or (status == JobStatus.STARTED and job.worker_name not in self.dead_names):
					self.stats["enqueues_deduped"] += 1
					return False
			except NoSuchJobError:
				pass
		self.queue.enqueue(
			DRAIN_JOB,
			args=(self.database, self.emulator.base_url, TENANT),
			job_id=job_id,
			job_timeout=120,
			result_ttl=30,
			failure_ttl=3600,
		)
		self.stats["enqueues"] += 1
		return True

	def user(self, action, *args):
		"""Run a user's action; a deadlock rolls it back whole, and the user simply tries again."""
		for attempt in range(10):
			try:
				return action(*args)
			except pymysql.err.OperationalError as exc:
				if exc.args[0] not in (1205, 1213) or attempt == 9:
					raise
				self.db.rollback()
				self.stats[f"{action.__name__}_deadlocks"] += 1
				time.sleep(0.05 * (attempt + 1))

	def submit(self, doc: Doc) -> None:
		self.user(self.erp.submit, doc.body(), TENANT)
		doc.submitted = True
		self.stats["submitted"] += 1
		if doc.fate == "cancel_now":
			self.cancel(doc)

	def cancel(self, doc: Doc) -> None:
		self.user(self.erp.cancel, doc.doctype, doc.name)
		doc.cancelled = True
		self.stats[doc.fate] += 1

	def sweep(self) -> None:
		"""The scheduler: hurry rows waiting on a long backoff, enqueue a drain if there is work."""
		now = datetime.now()
		self.stats["hurried"] += self.user(self._hurry, now + timedelta(seconds=2))
		self.db.commit("chaos: fresh snapshot")
		if self.journal.tenants_with_work():
			self.enqueue_drain()

	def _hurry(self, soon: datetime) -> int:
		hurried = self.db.execute(
			f"UPDATE {LOG} SET next_attempt_at = NULL WHERE status = 'Queued' AND next_attempt_at > %(soon)s",
			{"soon": soon},
		)
		self.db.commit("chaos: a human pressing Retry on rows waiting for their backoff")
		return hurried

	def cancel_synced(self) -> None:
		"""Cancel documents marked for it once they are in Xero (or failed)."""
		waiting = [d.name for d in self.docs if d.fate == "cancel_synced" and d.submitted and not d.cancelled]
		if not waiting:
			return
		rows = self.read(
			f"SELECT reference_name, status FROM {LOG} WHERE reference_name IN %(n)s", {"n": tuple(waiting)}
		)
		for row in rows:
			if row["status"] in ("Synced", "Failed"):
				self.cancel(self.by_name[row["reference_name"]])

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
		self.enqueue_drain()

	def _requeue(self, names: list[str]) -> int:
		changed = requeue(self.db, names, datetime.now())
		self.db.commit("chaos: Retry")
		return changed

	def busy_workers(self) -> set[str]:
		"""Names of our live workers that are running a job now (a killed one stays registered a while)."""
		live = {name for _, name in self.procs.values()}
		return {w.name for w in Worker.all(queue=self.queue) if w.name in live and w.get_state() == "busy"}

	def kill(self) -> bool:
		"""SIGKILL a worker (preferably one in the middle of a drain) and start a replacement.

		False (try again shortly) while no worker has even registered with RQ yet.
		"""
		names = {name: slot for slot, (_, name) in self.procs.items()}
		registered = {w.name: w.get_state() for w in Worker.all(queue=self.queue) if w.name in names}
		busy = [names[n] for n, state in registered.items() if state == "busy"]
		ready = [names[n] for n in registered]
		if not ready:
			return False
		slot = self.rng.choice(busy) if busy and self.rng.random() < 0.85 else self.rng.choice(ready)
		proc, name = self.procs[slot]
		self.stats["kills_busy" if slot in busy else "kills_idle"] += 1
		proc.send_signal(signal.SIGKILL)
		proc.wait()
		self.dead_names.add(name)
		self.stats["kills"] += 1
		self.spawn(slot)
		return True

	def check_workers(self) -> None:
		for slot, (proc, name) in list(self.procs.items()):
			if proc.poll() is not None:
				self.stats["worker_crashes"] += 1
				self.dead_names.add(name)
				self.spawn(slot)

	# -- the run --------------------------------------------------------------------------------

	def drive(self) -> None:
		"""Submit, cancel, retry, enqueue duplicates and kill workers on schedule."""
		rng = self.rng
		kill_at = sorted(rng.uniform(0.3, self.submit_s + 2.0) for _ in range(self.args.kills))
		pending = list(self.docs)
		pushing = sorted((d for d in self.docs if d.fate == "cancel_pushing"), key=lambda d: d.cancel_at)
		t0 = time.monotonic()
		next_sweep = 0.0
		last_kill_at, last_kill_calls = 0.0, 0
		while pending or kill_at or pushing:
			now = time.monotonic() - t0
			submitted = False
			while pending and pending[0].submit_at <= now:
				self.submit(pending.pop(0))
				submitted = True
			if submitted:
				self.enqueue_drain()  # on_submit enqueues after commit
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
			if now >= next_sweep:
				next_sweep = now + 0.5
				self.sweep()
				self.cancel_synced()
				self.check_workers()
				if self.args.payments:
					self.record_payments(min(1.0, now / (self.submit_s + 2.0)))
					if rng.random() < 0.25:
						self.poll()
				if self.args.verbose:
					self.trace(now)
				if rng.random() < 0.4:
					self.enqueue_drain(duplicate=True)
				if rng.random() < 0.25:
					self.press_retry(bulk=rng.random() < 0.4)
			time.sleep(0.02)

	def settle(self) -> float:
		"""Chaos off; keep scheduling until nothing is queued or running; return the seconds it took."""
		self.calls_in_chaos = self.emulator.total_calls(TENANT)
		self.emulator.set_chaos(rate=0)
		self.press_retry(bulk=True, error_class="Transient")
		t1 = time.monotonic()
		stable = 0
		while time.monotonic() - t1 < self.args.settle_timeout:
			self.sweep()
			self.cancel_synced()
			self.check_workers()
			stable = stable + 1 if self.quiescent() else 0
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
			f"SELECT xero_id, xero_type FROM {LOG} WHERE status = 'Synced' AND xero_id IS NOT NULL"
		)
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

	def poll(self) -> None:
		"""The scheduler's status poll; a call that fails (chaos on reads) leaves it for the next one."""
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

	def trace(self, t: float) -> None:
		rows = self.read(
			f"SELECT name, reference_name, lease_owner, lease_expires_at, next_attempt_at, attempts, "
			f"cancel_requested FROM {LOG} WHERE status = 'Queued'"
		)
		busy = sorted(self.busy_workers())
		calls = self.emulator.total_calls(TENANT)
		print(
			f"[{t:5.1f}] queued={len(rows)} rq_queued={self.queue.count} busy={busy} calls={calls}",
			file=sys.stderr,
		)
		for r in rows[:5]:
			print(f"    {r}", file=sys.stderr)

	def quiescent(self) -> bool:
		if any(d.fate == "cancel_synced" and d.submitted and not d.cancelled for d in self.docs):
			return False
		if self.read(f"SELECT name FROM {LOG} WHERE status = 'Queued' LIMIT 1"):
			return False
		if self.queue.count:
			return False
		return not self.busy_workers()

	# -- the verdict ----------------------------------------------------------------------------

	def check(self) -> dict:
		"""Compare the log and the ERP documents with the emulator's ledger."""
		erp = {}
		for doctype in ("Sales Invoice", "Purchase Invoice"):
			for r in self.read(f"SELECT name, docstatus, data FROM `tab{doctype}`"):
				erp[(doctype, r["name"])] = r
		rows = {(r["reference_doctype"], r["reference_name"]): r for r in self.read(f"SELECT * FROM {LOG}")}
		live: dict[tuple[str, str], list[dict]] = {}
		unmatched = 0
		bills = {
			_json(d["data"]).get("bill_no"): ref for ref, d in erp.items() if ref[0] == "Purchase Invoice"
		}
		for entry in self.emulator.ledger(TENANT):
			ref = _ref_of(entry, bills)
			if ref is None:
				unmatched += 1
				continue
			if entry["status"] in ("DRAFT", "SUBMITTED", "AUTHORISED", "PAID"):
				live.setdefault(ref, []).append(entry)
		result = Counter(duplicates=0, lost=0, desynced=0, wrong_totals=0)
		problems: list[str] = []

		def bad(metric: str, ref, why: str) -> None:
			result[metric] += 1
			if len(problems) < 25:
				problems.append(f"{metric}: {ref[1]}: {why}")

		for ref, doc in erp.items():
			row = rows.get(ref)
			in_xero = live.get(ref, [])
			if len(in_xero) > 1:
				bad("duplicates", ref, f"{len(in_xero)} live Xero documents")
			if row is None:
				bad("lost", ref, "no sync log row")
				continue
			status = row["status"]
			if status not in FINAL:
				bad("lost", ref, f"row still {status}")
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
					bad("desynced", ref, "Synced but its Xero document is not live")
					continue
				data = _json(doc["data"])
				expected = abs(Decimal(str(data.get("rounded_total") or data.get("grand_total"))))
				if abs(Decimal(str(match[0]["total"]))) != expected:
					bad("wrong_totals", ref, f"Xero total {match[0]['total']} != ERPNext {expected}")
			elif status in ("Voided", "Orphan"):
				bad("desynced", ref, f"submitted but {status}")
			elif in_xero:
				bad("desynced", ref, f"{status} but live in Xero")
		if self.args.verbose:
			for ref, row in rows.items():
				if row["status"] in ("Orphan", "Failed"):
					problems.append(f"(ok) {row['status']}: {ref[1]}: {row['error_message']}")
		self.problems = problems
		self.statuses = Counter(r["status"] for r in rows.values())
		self.unmatched = unmatched
		return result


def _json(text: str) -> dict:
	import json

	return json.loads(text)


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
	p.add_argument("--seed", type=int, default=1)
	p.add_argument("--workers", type=int, default=4)
	p.add_argument("--fault-rate", type=float, default=0.15)
	p.add_argument("--chaos-reads", action="store_true", help="inject faults into GETs as well")
	p.add_argument("--lease", type=int, default=10, help="lease seconds in the workers (> read timeout 5 s)")
	p.add_argument("--batch-size", type=int, default=10, help="rows per claim (the engine allows up to 50)")
	p.add_argument("--submit-seconds", type=float, default=0.0, help="default: docs × 0.05, at least 3")
	p.add_argument("--settle-timeout", type=float, default=90.0)
	p.add_argument("--verbose", action="store_true", help="trace the settle phase on stderr")
	p.add_argument("--keep", action="store_true", help="keep the MariaDB database")
	p.add_argument("--payments", type=int, default=0, help="payments recorded in Xero during the run")
	return p.parse_args(argv)


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
		result = harness.check()
		mismatch = 0
		if args.payments:
			for _ in range(2):  # after quiescence the poll alone must bring every status in
				harness.poll()
			mismatch = harness.payment_mismatches()
		calls = harness.emulator.total_calls(TENANT)
		faults = harness.emulator.faults_injected
		failed_jobs = FailedJobRegistry(queue=harness.queue)
		job_errors = len(failed_jobs.get_job_ids())
		first_error = ""
		for job in Job.fetch_many(failed_jobs.get_job_ids()[:1], connection=harness.redis):
			if job is not None and job.exc_info:
				lines = job.exc_info.strip().splitlines()
				where = [ln.strip() for ln in lines if "nexwave_xero_connector/" in ln]
				first_error = lines[-1] + (f" at {where[-1]}" if where else "")
	except Exception:
		traceback.print_exc()
		harness.stop()
		print(
			f"docs={args.docs} kills=0 faults=0 duplicates=0 lost={args.docs} desynced=0 wrong_totals=0 quiesce_s=0"
		)
		return 2
	harness.stop()
	s = harness.stats
	wall = time.monotonic() - started
	table = [
		("documents submitted", s["submitted"]),
		("  cancelled right after submit", s["cancel_now"]),
		("  cancelled while being pushed", s["cancel_pushing"]),
		("  cancelled after sync", s["cancel_synced"]),
		*((f"log rows {status}", harness.statuses.get(status, 0)) for status in ("Queued", *FINAL)),
		("emulator calls (while faults were on)", f"{calls} ({harness.calls_in_chaos})"),
		("faults injected", faults),
		("workers killed (busy/idle)", f"{s['kills']} ({s['kills_busy']}/{s['kills_idle']})"),
		("workers died on their own", s["worker_crashes"]),
		("drains enqueued / deduplicated", f"{s['enqueues']} / {s['enqueues_deduped']}"),
		("duplicate drain jobs", s["duplicate_enqueues"]),
		("drain jobs that raised", f"{job_errors} {first_error}".strip()),
		(
			"deadlocks hit by submit/cancel/Retry/hurry",
			"/".join(str(s[f"{a}_deadlocks"]) for a in ("submit", "cancel", "_requeue", "_hurry")),
		),
		("Retry pressed (single/bulk), rows", f"{s['retry_single']}/{s['retry_bulk']}, {s['retried_rows']}"),
		("rows hurried past their backoff", s["hurried"]),
		("Xero documents matched to no ERP document", harness.unmatched),
		(
			"payments recorded / deleted in Xero, status polls (failed)",
			f"{s['payments']} / {s['payments_deleted']}, {s['polls']} ({s['polls_failed']})",
		),
		("wall seconds", f"{wall:.1f}"),
	]
	width = max(len(k) for k, _ in table)
	for key, value in table:
		print(f"{key:<{width}}  {value}")
	for line in harness.problems:
		print("  " + line)
	print(
		f"docs={args.docs} kills={s['kills']} faults={faults} duplicates={result['duplicates']} "
		f"lost={result['lost']} desynced={result['desynced']} wrong_totals={result['wrong_totals']} "
		f"quiesce_s={quiesce_s:.1f}"
		+ (f" payments={s['payments']} payment_mismatch={mismatch}" if args.payments else "")
	)
	return 1 if any(result[k] for k in ("duplicates", "lost", "desynced", "wrong_totals")) or mismatch else 0
