"""Decimal helpers for money: reading ERPNext's numbers, rounding to cents and splitting sums exactly.

ERPNext hands floats (and sometimes strings); they are read through `str()` so 442.39 stays 442.39
instead of the binary float's 442.38999999999998636...
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
UNIT_STEP = Decimal("0.0001")
RATE_STEP = Decimal("0.000001")
QTY_STEP = Decimal("0.000000001")
ZERO = Decimal(0)


def dec(value: object) -> Decimal:
	"""Return `value` (float, int, str, Decimal or None) as a Decimal; None and "" are zero."""
	if value is None or value == "":
		return ZERO
	if isinstance(value, Decimal):
		return value
	if isinstance(value, bool):
		return Decimal(int(value))
	if isinstance(value, int):
		return Decimal(value)
	try:
		return Decimal(str(value).strip())
	except InvalidOperation as exc:
		raise ValueError(f"{value!r} is not a number") from exc


def money(value: object) -> Decimal:
	"""Return `value` rounded to cents the way ERPNext stores amounts (half to even)."""
	return dec(value).quantize(CENT, rounding=ROUND_HALF_EVEN)


def shown(value: object, currency: str | None = None) -> str:
	"""An amount as a person reads it in a message: two decimals, then the currency code when known
	(60.0 -> "60.00", or "60.00 NZD"), never a float's "60.0" or "0.0"."""
	text = f"{money(value):.2f}"
	return f"{text} {currency}" if currency else text


def quantity(value: object) -> Decimal:
	"""Return a quantity without float noise (ERPNext keeps at most 9 decimals)."""
	return tidy(dec(value).quantize(QTY_STEP, rounding=ROUND_HALF_EVEN))


def tidy(value: Decimal) -> Decimal:
	"""Drop trailing zeros without switching to exponent notation (250.0 -> 250, 2.50 -> 2.5)."""
	if value == value.to_integral_value():
		return value.quantize(Decimal(1))
	return value.normalize()


def cents_half_up(value: Decimal) -> Decimal:
	"""Round to cents half away from zero (how Xero is believed to round line amounts and tax)."""
	return value.quantize(CENT, rounding=ROUND_HALF_UP)


def cents_unambiguous(value: Decimal) -> Decimal | None:
	"""Round to cents when half-up and half-even agree; None when `value` sits exactly on a half cent."""
	up = value.quantize(CENT, rounding=ROUND_HALF_UP)
	even = value.quantize(CENT, rounding=ROUND_HALF_EVEN)
	return up if up == even else None


def split_cents(total: Decimal, exact: Sequence[Decimal]) -> list[Decimal] | None:
	"""Split `total` (in cents) over parts close to `exact` by largest remainder; None if it cannot be.

	Each part ends up either `exact` rounded down to the cent or one cent above, so no part is more than a
	cent from its exact value and the parts add up to `total` exactly. Ties go to the earlier part.
	"""
	floors = [e.quantize(CENT, rounding=ROUND_FLOOR) for e in exact]
	extra = (total - sum(floors, ZERO)) / CENT
	if extra != extra.to_integral_value() or not 0 <= extra <= len(exact):
		return None
	order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
	for i in order[: int(extra)]:
		floors[i] += CENT
	return floors


def nudge_to(
	values: Sequence[Decimal], target: Decimal, exact: Sequence[Decimal], limit: int | None = None
) -> list[Decimal] | None:
	"""Move cents onto the parts so they add up to `target`; None when more than `limit` cents are missing.

	Cents go first to the parts whose value is furthest from `exact` in the needed direction, one per part
	per round, so the parts that already match their exact value are the last to change. `limit` defaults
	to one cent per part.
	"""
	parts = list(values)
	missing = (target - sum(parts, ZERO)) / CENT
	cap = len(parts) if limit is None else limit
	if not parts or missing != missing.to_integral_value() or abs(missing) > cap:
		return None
	step = CENT if missing > 0 else -CENT
	order = sorted(range(len(parts)), key=lambda i: (-((exact[i] - parts[i]) * step), i))
	for n in range(int(abs(missing))):
		parts[order[n % len(parts)]] += step
	return parts
