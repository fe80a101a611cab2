"""Journal Entries in a chaos run (--journals N): submitted during the run, some cancelled right away, while
being pushed or once Synced, some of those deleted and their name reused by a new entry; then every live
Manual Journal must be exactly one per submitted Journal Entry, with its lines, and none for a cancelled one.

Kept apart from harness.py, which calls `JournalChaos.tick` while it drives and settles and `check` at the
end; the workers learn the company through JOURNALS_ENV (worker.chaos_config)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from nexwave_xero_connector.sync.manual_journal_mapping import JOURNAL_ENTRY, desk_url
from nexwave_xero_connector.sync.money import money
from tests.support.journal_entries import create_table, journal_entry, submit_entry
from tests.support.world import SITE_URL

JOURNALS_ENV = "NXC_CHAOS_JOURNALS"
KEYS = ("journals_lost", "journals_duplicates", "journals_stale", "journals_wrong_lines")
TEMPLATES = ("je_three_lines_cost_centres", "je_usd_bank_transfer")


@dataclass
class Planned:
	name: str
	cancel_at: float | None = None  # run seconds; inf: once Synced
	reuse: bool = False  # deleted after the cancel, and the name submitted again
	cancelled: bool = False


class JournalChaos:
	"""The run's Journal Entries, driven through the harness (its rng, its user(), its clock)."""

	def __init__(self, harness, count: int, tenant_id: str):
		self.h, self.count, self.tenant_id = harness, count, tenant_id
		self.planned: dict[str, Planned] = {}
		self.stats = Counter()

	def start(self) -> None:
		create_table(self.h.db)

	def tick(self, now: float, progress: float) -> None:
		"""Submit what is due by `progress`, then land the cancels, deletes and reuses that are due."""
		due = round(self.count * progress) - self.stats["submitted"]
		for _ in range(max(0, due)):
			name = f"ACC-JV-{self.h.args.seed}-{self.stats['submitted']:05d}"
			self._submit(name)
			plan = Planned(name)
			r = self.h.rng.random()
			if r < 0.08:
				plan.cancel_at = now
			elif r < 0.16:
				plan.cancel_at = now + self.h.rng.uniform(0.02, 1.5)
			elif r < 0.26:
				plan.cancel_at = float("inf")
			plan.reuse = plan.cancel_at is not None and self.h.rng.random() < 0.3
			self.planned[name] = plan
		self._cancels(now)

	def _submit(self, name: str) -> None:
		template = self.h.rng.choice(TEMPLATES)
		self.h.user(submit_entry, self.h.db, datetime.now(), journal_entry(name, template), self.tenant_id)
		self.stats["submitted"] += 1
		self.h.wake(self.tenant_id)

	def _cancels(self, now: float) -> None:
		waiting = [p for p in self.planned.values() if p.cancel_at is not None and not p.cancelled]
		states = {
			r["reference_name"]: r["status"]
			for r in self.h.read(
				"SELECT reference_name, status FROM `tabXero Sync Log` WHERE reference_doctype = %(dt)s",
				{"dt": JOURNAL_ENTRY},
			)
		}
		for plan in waiting:
			if plan.cancel_at == float("inf"):
				if states.get(plan.name) != "Synced" and now != float("inf"):
					continue
			elif plan.cancel_at > now:
				continue
			self.h.user(self.h.erp.cancel, JOURNAL_ENTRY, plan.name, self.tenant_id)
			plan.cancelled = True
			self.stats["cancelled"] += 1
			if plan.reuse:
				self.h.user(self.h.erp.delete, JOURNAL_ENTRY, plan.name, self.tenant_id)
				self._submit(plan.name)  # the same name, a new entry: it needs its own journal
				self.stats["reused"] += 1
			self.h.wake(self.tenant_id)

	def check(self) -> Counter:
		"""Every submitted entry is exactly one live journal with its lines; a cancelled one has none."""
		result = Counter({k: 0 for k in KEYS})
		live: dict[str, list[dict]] = {}
		for journal in self.h.emulator.manual_journals(self.tenant_id):
			if journal["status"] in ("DRAFT", "POSTED"):
				live.setdefault(journal["url"], []).append(journal)
		for entry in self.h.read(f"SELECT name, docstatus, data FROM `tab{JOURNAL_ENTRY}`"):
			found = live.pop(desk_url(SITE_URL, entry["name"]), [])
			if entry["docstatus"] == 2:
				if found:
					self._bad(result, "journals_stale", f"{entry['name']} is cancelled but live in Xero")
				continue
			if not found:
				self._bad(result, "journals_lost", f"{entry['name']} has no live manual journal")
				continue
			if len(found) > 1:
				self._bad(result, "journals_duplicates", f"{entry['name']} has {len(found)} live journals")
			doc = json.loads(entry["data"])
			want = sorted(money(a["debit"]) - money(a["credit"]) for a in doc["accounts"])
			want = [w for w in want if w]
			got = sorted(money(x["amount"]) for x in found[0]["lines"])
			if want != got:
				self._bad(
					result, "journals_wrong_lines", f"{entry['name']}: {got} in Xero, {want} in ERPNext"
				)
		for url, journals in live.items():
			self._bad(result, "journals_stale", f"{len(journals)} live journal(s) of no entry: {url}")
		return result

	def _bad(self, result: Counter, key: str, why: str) -> None:
		result[key] += 1
		if result[key] <= 5:
			self.h.problems.append(f"{key}: {why}")

	def summary(self, result: Counter) -> str:
		return f"journals={self.stats['submitted']} " + " ".join(f"{k}={result[k]}" for k in KEYS)
