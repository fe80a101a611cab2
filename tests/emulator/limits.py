"""Rate limiting (Xero's per-tenant and app-wide limits), fault injection and idempotency records."""

from __future__ import annotations

import fnmatch
import math
import random
import threading
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

CONCURRENT_LIMIT = 5
MINUTE_LIMIT = 60
APP_MINUTE_LIMIT = 10_000
DAY_SECONDS = 86_400
IDEMPOTENCY_TTL = 360  # seconds: Xero keeps idempotency keys for 6 minutes
SIMPLE_FAULTS = ("500", "503", "429", "413", "drop_before_commit", "lost_after_commit")
TIMED_FAULTS = ("latency", "late_commit")
# late_commit:<s> holds a create for <s> seconds (past the client's read timeout), commits it, and only then
# closes the connection without an answer: the client has given up, and the document shows up afterwards.
LATE_COMMIT_ENDPOINTS = ("Invoices", "CreditNotes", "Contacts")


def validate_fault(fault: str) -> str:
	"""Check a fault name ("500", "latency:0.5", "late_commit:3", ...) and return it."""
	if fault in SIMPLE_FAULTS:
		return fault
	name, _, seconds = fault.partition(":")
	if name in TIMED_FAULTS and seconds:
		float(seconds)
		return fault
	raise ValueError(
		f"unknown fault {fault!r}; use one of {SIMPLE_FAULTS}, 'latency:<seconds>' or 'late_commit:<seconds>'"
	)


def fault_applies(fault: str, method: str, endpoint: str) -> bool:
	"""Whether a fault can happen to this request (a late commit needs a create to commit)."""
	if fault.startswith("late_commit:"):
		return method == "PUT" and endpoint in LATE_COMMIT_ENDPOINTS
	return True


class RateLimiter:
	"""Tracks calls per tenant and app-wide; enforces limits only when enabled."""

	def __init__(self, enabled: bool, minute_seconds: float = 60.0):
		self.enabled = enabled
		# How long the per-organisation "minute" lasts: 60 s, as Xero's, unless a harness that scales time
		# down (short leases and timeouts) shortens it too.
		self.minute_seconds = float(minute_seconds)
		self.lock = threading.Lock()
		self.in_flight: Counter[str] = Counter()
		self.minute: dict[str, deque[float]] = {}
		self.day: dict[str, list[float]] = {}
		self.app: deque[float] = deque()

	def _prune(self, tenant_id: str, now: float) -> tuple[deque[float], list[float]]:
		"""Drop calls older than a minute (rolling) and roll the fixed day window."""
		window = self.minute.setdefault(tenant_id, deque())
		while window and window[0] <= now - self.minute_seconds:
			window.popleft()
		while self.app and self.app[0] <= now - 60:
			self.app.popleft()
		day = self.day.setdefault(tenant_id, [now, 0])
		if now - day[0] >= DAY_SECONDS:
			day[0], day[1] = now, 0
		return window, day

	def admit(self, tenant_id: str, day_limit: int, now: float) -> tuple[str, float] | None:
		"""Count a call; return (problem, emulator seconds to wait) when a limit is exceeded."""
		with self.lock:
			window, day = self._prune(tenant_id, now)
			if self.enabled:
				if self.in_flight[tenant_id] >= CONCURRENT_LIMIT:
					return "concurrent", 1.0
				if len(window) >= MINUTE_LIMIT:
					return "minute", window[0] + self.minute_seconds - now
				if day[1] >= day_limit:
					return "day", day[0] + DAY_SECONDS - now
				if len(self.app) >= APP_MINUTE_LIMIT:
					return "appminute", self.app[0] + 60 - now
			window.append(now)
			self.app.append(now)
			day[1] += 1
			self.in_flight[tenant_id] += 1
			return None

	def release(self, tenant_id: str) -> None:
		"""Mark an admitted call as finished."""
		with self.lock:
			self.in_flight[tenant_id] -= 1

	def headers(self, tenant_id: str, day_limit: int, now: float) -> dict[str, str]:
		"""The X-*-Remaining headers Xero puts on every response."""
		with self.lock:
			window, day = self._prune(tenant_id, now)
			return {
				"X-DayLimit-Remaining": str(max(0, day_limit - day[1])),
				"X-MinLimit-Remaining": str(max(0, MINUTE_LIMIT - len(window))),
				"X-AppMinLimit-Remaining": str(max(0, APP_MINUTE_LIMIT - len(self.app))),
			}


def retry_after(emulator_seconds: float, time_scale: float) -> str:
	"""Retry-After in whole real seconds (at least 1)."""
	return str(max(1, math.ceil(emulator_seconds / time_scale)))


@dataclass
class FaultPlan:
	"""Scripted fault rules (consumed in order) plus optional seeded random chaos."""

	rules: list[dict] = field(default_factory=list)
	chaos_rate: float = 0.0
	chaos_faults: tuple[str, ...] = ()
	chaos_reads: bool = False
	rng: random.Random = field(default_factory=lambda: random.Random(0))
	injected: int = 0
	by_fault: Counter[str] = field(default_factory=Counter)
	lock: threading.Lock = field(default_factory=threading.Lock)

	def add(
		self,
		fault: str,
		method: str | None = None,
		endpoint: str | None = None,
		tenant_id: str | None = None,
		times: int | None = 1,
	) -> None:
		"""Queue a fault for matching requests (times=None: every matching request)."""
		rule = {
			"fault": validate_fault(str(fault)),
			"method": method.upper() if method else None,
			"endpoint": endpoint.strip("/") if endpoint else None,
			"tenant_id": tenant_id,
			"times": None if times is None else int(times),
		}
		with self.lock:
			self.rules.append(rule)

	def set_chaos(self, rate: float, seed: int, faults: Iterable[str], reads: bool) -> None:
		"""Random faults on a share of eligible calls, reproducible by seed."""
		with self.lock:
			self.chaos_rate = float(rate)
			self.chaos_faults = tuple(validate_fault(str(f)) for f in faults)
			self.chaos_reads = bool(reads)
			self.rng = random.Random(seed)

	def clear(self) -> None:
		"""Forget rules and chaos."""
		with self.lock:
			self.rules.clear()
			self.chaos_rate = 0.0

	def pick(self, method: str, endpoint: str, tenant_id: str | None, chaos_eligible: bool) -> str | None:
		"""The fault to apply to this request, if any (consuming a rule use)."""
		with self.lock:
			for rule in self.rules:
				if self._matches(rule, method, endpoint, tenant_id) and fault_applies(
					rule["fault"], method, endpoint
				):
					if rule["times"] is not None:
						rule["times"] -= 1
						if rule["times"] <= 0:
							self.rules.remove(rule)
					self.injected += 1
					self.by_fault[rule["fault"].partition(":")[0]] += 1
					return rule["fault"]
			is_write = method in ("PUT", "POST", "DELETE", "PATCH")
			if (
				chaos_eligible
				and self.chaos_rate > 0
				and self.chaos_faults
				and (is_write or self.chaos_reads)
			):
				if self.rng.random() < self.chaos_rate:
					fault = self.rng.choice(self.chaos_faults)
					if not fault_applies(fault, method, endpoint):
						return None
					self.injected += 1
					self.by_fault[fault.partition(":")[0]] += 1
					return fault
		return None

	@staticmethod
	def _matches(rule: dict, method: str, endpoint: str, tenant_id: str | None) -> bool:
		"""Does a rule apply to this request?"""
		if rule["method"] and rule["method"] != method:
			return False
		if rule["tenant_id"] and rule["tenant_id"] != tenant_id:
			return False
		pattern = rule["endpoint"]
		return not pattern or pattern == endpoint or fnmatch.fnmatchcase(endpoint, pattern)


@dataclass
class IdemEntry:
	"""One idempotency record: request fingerprint, expiry and (once done) the stored reply."""

	fingerprint: str
	expires: float
	done: threading.Event = field(default_factory=threading.Event)
	reply: Any = None


class IdempotencyStore:
	"""Idempotency-Key records kept for 6 emulator minutes from the first call."""

	def __init__(self) -> None:
		self.lock = threading.Lock()
		self.entries: dict[str, IdemEntry] = {}

	def begin(self, key: str, fingerprint: str, now: float) -> tuple[str, IdemEntry]:
		"""Return ("new", entry) to process, ("replay", entry) to wait/replay, or ("mismatch", entry)."""
		with self.lock:
			entry = self.entries.get(key)
			if entry is not None and entry.expires > now:
				return ("mismatch" if entry.fingerprint != fingerprint else "replay"), entry
			entry = IdemEntry(fingerprint, now + IDEMPOTENCY_TTL)
			self.entries[key] = entry
			if len(self.entries) > 5000:
				self.entries = {
					k: e for k, e in self.entries.items() if e.expires > now or not e.done.is_set()
				}
			return "new", entry

	def finish(self, entry: IdemEntry, reply: Any) -> None:
		"""Store the reply and wake any waiting duplicates."""
		entry.reply = reply
		entry.done.set()

	def abandon(self, key: str, entry: IdemEntry) -> None:
		"""Forget a record whose processing crashed (waiters will process afresh)."""
		with self.lock:
			if self.entries.get(key) is entry:
				del self.entries[key]
		entry.done.set()
