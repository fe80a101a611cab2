"""In-memory organisations, their documents, and an undo log for all-or-nothing batches."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from . import seed

_MISSING = object()


@dataclass
class Tenant:
	"""One Xero organisation (tenant) and everything stored in it."""

	tenant_id: str
	name: str
	country: str
	base_currency: str
	currencies: tuple[str, ...]
	short_code: str
	period_lock_date: dt.date | None
	end_of_year_lock_date: dt.date | None
	day_limit: int
	timezone: str
	created_at: float
	tax_rates: dict[str, dict]
	accounts: dict[str, dict]
	tracking: list[dict]
	organisation_id: str = ""
	connection_id: str = ""
	auth_event_id: str = ""
	connected: bool = True
	contacts: dict[str, dict] = field(default_factory=dict)
	invoices: dict[str, dict] = field(default_factory=dict)
	credit_notes: dict[str, dict] = field(default_factory=dict)
	payments: dict[str, dict] = field(default_factory=dict)
	manual_journals: dict[str, dict] = field(default_factory=dict)
	# webhook events by sequence number (documents created or changed), delivered by webhooks.delivery
	events: dict[int, dict] = field(default_factory=dict)
	counters: dict[str, int] = field(default_factory=dict)

	def store(self, name: str) -> dict[str, dict]:
		"""Return a document store by attribute name ("invoices", "credit_notes", "contacts")."""
		return getattr(self, name)

	def none_tax_type(self) -> str:
		"""The tax code meaning "no tax" in this region."""
		return seed.COUNTRY_DEFAULTS[self.country]["none"]

	def lock_date(self) -> tuple[dt.date | None, str]:
		"""The effective lock date and which lock it is (the later one wins)."""
		period, year_end = self.period_lock_date, self.end_of_year_lock_date
		if year_end and (not period or year_end >= period):
			return year_end, "end of year lock date"
		return period, "period lock date"


class Txn:
	"""Undo log: record every store write so a failed summarised batch can be rolled back."""

	def __init__(self) -> None:
		self.log: list[tuple[dict, str, Any]] = []

	def put(self, store: dict, key: str, value: Any) -> None:
		"""Write store[key] = value, remembering the previous value."""
		self.log.append((store, key, store.get(key, _MISSING)))
		store[key] = value

	def mark(self) -> int:
		"""A savepoint to roll back to."""
		return len(self.log)

	def rollback(self, mark: int = 0) -> None:
		"""Undo writes made after the savepoint, newest first."""
		while len(self.log) > mark:
			store, key, old = self.log.pop()
			if old is _MISSING:
				store.pop(key, None)
			else:
				store[key] = old


@dataclass
class Ctx:
	"""Everything a write needs: the tenant, the undo log, emulator time and the request's unitdp."""

	tenant: Tenant
	txn: Txn
	now: float
	today: dt.date
	unitdp: int = 2
	app: str | None = None  # the app making the request (None: a person in Xero's web screens)


class Clock:
	"""Emulator clock: real time scaled by time_scale, plus manual advances."""

	def __init__(self, time_scale: float = 1.0):
		self.time_scale = float(time_scale) if time_scale and time_scale > 0 else 1.0
		self._wall0 = time.time()
		self._mono0 = time.monotonic()
		self._offset = 0.0
		self._lock = threading.Lock()

	def now(self) -> float:
		"""Emulator epoch seconds."""
		return self._wall0 + (time.monotonic() - self._mono0) * self.time_scale + self._offset

	def advance(self, seconds: float) -> None:
		"""Jump the emulator clock forward (tests use it for expiry windows)."""
		with self._lock:
			self._offset += float(seconds)

	def today(self) -> dt.date:
		"""Emulator date in UTC."""
		return dt.datetime.fromtimestamp(self.now(), tz=dt.timezone.utc).date()

	def real_seconds(self, emulator_seconds: float) -> float:
		"""Convert an emulator duration to real seconds."""
		return emulator_seconds / self.time_scale


def new_id() -> str:
	"""A fresh GUID string."""
	return str(uuid.uuid4())


def coerce_date(value: Any) -> dt.date | None:
	"""Accept a date or "YYYY-MM-DD" text (control endpoints send text)."""
	if value is None or value == "" or isinstance(value, dt.date):
		return value or None
	return dt.date.fromisoformat(str(value)[:10])


def make_tenant(
	tenant_id: str,
	now: float,
	*,
	name: str | None = None,
	country: str = "NZ",
	base_currency: str | None = None,
	currencies: tuple[str, ...] | list[str] | None = None,
	short_code: str | None = None,
	period_lock_date: Any = None,
	end_of_year_lock_date: Any = None,
	day_limit: int = 5000,
	tracking: dict[str, list[str]] | None = None,
	timezone: str | None = None,
) -> Tenant:
	"""Build a seeded tenant (tax rates, chart, tracking) for NZ or AU."""
	country = (country or "NZ").upper()
	if country not in seed.COUNTRY_DEFAULTS:
		raise ValueError(f"unsupported country {country!r} (use NZ or AU)")
	defaults = seed.COUNTRY_DEFAULTS[country]
	base = (base_currency or defaults["currency"]).upper()
	codes = tuple(dict.fromkeys([base, *[c.upper() for c in (currencies or ())]]))
	for code in codes:
		if len(code) != 3 or not code.isalpha():
			raise ValueError(f"invalid currency code {code!r}")
	tenant = Tenant(
		tenant_id=tenant_id,
		name=name or tenant_id,
		country=country,
		base_currency=base,
		currencies=codes,
		short_code=short_code or "!" + uuid.uuid5(uuid.NAMESPACE_OID, tenant_id).hex[:5],
		period_lock_date=coerce_date(period_lock_date),
		end_of_year_lock_date=coerce_date(end_of_year_lock_date),
		day_limit=int(day_limit),
		timezone=timezone or defaults["timezone"],
		created_at=now,
		tax_rates=seed.tax_rates(country),
		accounts=seed.chart(tenant_id, country, base),
		tracking=_tracking(tenant_id, tracking or {}),
		organisation_id=seed.stable_id(tenant_id, "organisation"),
		connection_id=seed.stable_id(tenant_id, "connection"),
		auth_event_id=seed.stable_id("auth-event"),
	)
	return tenant


def _tracking(tenant_id: str, spec: dict[str, list[str]]) -> list[dict]:
	"""Build TrackingCategories rows from {"Region": ["North", "South"]}."""
	rows = []
	for cat_name, options in spec.items():
		cat_id = seed.stable_id(tenant_id, "tracking", cat_name)
		rows.append(
			{
				"TrackingCategoryID": cat_id,
				"Name": cat_name,
				"Status": "ACTIVE",
				"Options": [
					{
						"TrackingOptionID": seed.stable_id(tenant_id, "tracking", cat_name, opt),
						"Name": opt,
						"Status": "ACTIVE",
					}
					for opt in options
				],
			}
		)
	return rows
