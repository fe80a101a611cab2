"""Wire-format helpers: Xero's JSON flavour (MS dates, exact decimals) and money rounding."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{2,4})?\)/$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:T[\d:.]+)?(?:Z|[+-]\d{2}:?\d{2})?$")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def round2(value: Decimal) -> Decimal:
	"""Round money to cents, half-up (Xero's per-line rounding; half-even would differ on .005)."""
	return value.quantize(CENT, rounding=ROUND_HALF_UP)


def round_dp(value: Decimal, places: int) -> Decimal:
	"""Round half-up to the given number of decimal places."""
	return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def to_decimal(value: Any, default: Decimal | None = None) -> Decimal | None:
	"""Convert a JSON number (already Decimal/int) or numeric string to Decimal."""
	if value is None or value == "":
		return default
	if isinstance(value, bool):
		raise ValueError(f"not a number: {value!r}")
	try:
		return Decimal(str(value))
	except InvalidOperation as exc:
		raise ValueError(f"not a number: {value!r}") from exc


def parse_date(value: Any) -> dt.date | None:
	"""Parse "/Date(ms)/", "/Date(ms+0000)/" or "YYYY-MM-DD[THH:MM:SS]" into a date (UTC)."""
	if value is None or value == "":
		return None
	if isinstance(value, dt.date):
		return value
	text = str(value).strip()
	match = _MS_DATE.match(text)
	if match:
		return (EPOCH + dt.timedelta(milliseconds=int(match.group(1)))).date()
	match = _ISO_DATE.match(text)
	if match:
		return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
	raise ValueError(f"invalid date {value!r}")


def ms_date(value: dt.date) -> str:
	"""Format a date as Xero's "/Date(ms+0000)/" at UTC midnight."""
	midnight = dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc)
	return f"/Date({int((midnight - EPOCH).total_seconds() * 1000)}+0000)/"


def ms_datetime(epoch_seconds: float) -> str:
	"""Format epoch seconds as "/Date(ms+0000)/"."""
	return f"/Date({int(epoch_seconds * 1000)}+0000)/"


def ms_datetime_plain(epoch_seconds: float) -> str:
	"""Format epoch seconds as "/Date(ms)/" (the envelope's DateTimeUTC style)."""
	return f"/Date({int(epoch_seconds * 1000)})/"


def iso_datetime(epoch_seconds: float) -> str:
	"""Format epoch seconds as ISO-8601 UTC without offset (identity API style)."""
	return dt.datetime.fromtimestamp(epoch_seconds, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def encode(value: Any) -> str:
	"""Serialise to JSON, writing Decimals as exact numbers and dates as MS dates."""
	if isinstance(value, dict):
		return "{" + ",".join(f"{json.dumps(str(k))}:{encode(v)}" for k, v in value.items()) + "}"
	if isinstance(value, (list, tuple)):
		return "[" + ",".join(encode(v) for v in value) + "]"
	if isinstance(value, Decimal):
		return format(value, "f")
	if isinstance(value, dt.datetime):
		return json.dumps(ms_datetime(value.timestamp()))
	if isinstance(value, dt.date):
		return json.dumps(ms_date(value))
	return json.dumps(value)


def plain(value: Any) -> Any:
	"""Make a structure JSON-safe for control endpoints: Decimals as strings, dates as ISO text."""
	if isinstance(value, dict):
		return {k: plain(v) for k, v in value.items()}
	if isinstance(value, (list, tuple)):
		return [plain(v) for v in value]
	if isinstance(value, Decimal):
		return str(value)
	if isinstance(value, (dt.date, dt.datetime)):
		return value.isoformat()
	return value


def decode(body: bytes) -> Any:
	"""Parse a JSON request body keeping every float as an exact Decimal."""
	return json.loads(body.decode("utf-8"), parse_float=Decimal)


def is_true(value: str | None, default: bool = False) -> bool:
	"""Interpret a query boolean the way Xero does ("True"/"true"/"1")."""
	if value is None or value == "":
		return default
	return value.strip().lower() in ("true", "1", "yes")
