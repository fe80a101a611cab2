"""A rate governor for Xero calls shared by every worker of a site, kept in Redis.

Xero allows per organisation 5 calls in flight, 60 a minute and 5,000 (1,000 on the free tier) a day, and
10,000 a minute across the app; going over costs a 429. The governor checks all of these atomically (one
Lua script) before a call, learns the real remaining counts from each answer's headers (other apps use the
same budgets), and, when a budget is out, raises a RATE_LIMITED XeroError with `retry_after` instead of
sleeping: the drain then puts its rows back with next_attempt_at and lets go of its lease.

Times are the injected clock's seconds (never Redis TIME), so tests can drive it with a fake clock;
concurrency slots are ZSET members scored by their expiry, so a killed worker's slot lapses by itself.

Redis is not durable here: when it cannot be reached (crashed, restarting) no call is let out, and the
refusal says nothing was sent; when it comes back empty, the budgets are relearned from the next answers'
headers (and a 429's Retry-After), so at most the calls already on their way meet a 429.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ..sync.errors import XeroError, scrub
from ..sync.model import ErrorClass
from .errors import human_wait

log = logging.getLogger(__name__)

MINUTE = 60.0
DAY = 86_400.0
# Longer than the transport's connect + read timeouts, so a live call never loses its slot.
SLOT_TTL = 60.0
# Unknown day reset (no Retry-After seen): pause this long, then let one call find out.
DAY_PROBE = 3600.0
# Keys live at most this long in Redis after their last use (real seconds; only garbage collection).
KEY_TTL_MS = 2 * 86_400 * 1000
# Redis did not answer: hold the call back this long (a restarting Redis is back within seconds).
UNAVAILABLE_RETRY = 15.0

# Takes a slot and consumes the minute/day/app budgets, or says why not and for how long.
# KEYS: slots zset, minute zset, tenant hash, app hash, app minute counter
# ARGV: now, token, max_in_flight, per_minute, per_day, app_per_minute, slot_ttl, bucket_end, key_ttl_ms
_ACQUIRE = """
local now = tonumber(ARGV[1])
local token = ARGV[2]
local max_in_flight = tonumber(ARGV[3])
local per_minute = tonumber(ARGV[4])
local per_day = tonumber(ARGV[5])
local app_per_minute = tonumber(ARGV[6])
local slot_ttl = tonumber(ARGV[7])
local bucket_end = tonumber(ARGV[8])
local key_ttl = tonumber(ARGV[9])
local function num(key, field)
	local v = redis.call('HGET', key, field)
	if v then return tonumber(v) end
	return nil
end

local paused = num(KEYS[3], 'paused_until')
if paused and paused > now then return {0, 'paused', tostring(paused - now)} end
local app_paused = num(KEYS[4], 'paused_until')
if app_paused and app_paused > now then return {0, 'app', tostring(app_paused - now)} end

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= max_in_flight then return {0, 'concurrent', '1'} end

redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 60)
if redis.call('ZCARD', KEYS[2]) >= per_minute then
	local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
	return {0, 'minute', tostring(tonumber(oldest[2]) + 60 - now)}
end
local min_seen = num(KEYS[3], 'min_seen')
local min_rem = num(KEYS[3], 'min_rem')
if min_seen and now < min_seen + 60 and min_rem and min_rem <= 0 then
	return {0, 'minute', tostring(min_seen + 60 - now)}
end

local day_start = num(KEYS[3], 'day_start')
if not day_start or now >= day_start + 86400 then
	day_start = now
	redis.call('HSET', KEYS[3], 'day_start', now, 'day_count', 0)
	redis.call('HDEL', KEYS[3], 'day_rem')
end
local day_count = num(KEYS[3], 'day_count') or 0
local day_rem = num(KEYS[3], 'day_rem')
if day_count >= per_day or (day_rem and day_rem <= 0) then
	local reset = day_start + 86400
	redis.call('HSET', KEYS[3], 'paused_until', reset)
	return {0, 'day', tostring(reset - now)}
end

local app_used = tonumber(redis.call('GET', KEYS[5]) or '0')
if app_used >= app_per_minute then return {0, 'app', tostring(bucket_end - now)} end
local app_seen = num(KEYS[4], 'seen')
local app_rem = num(KEYS[4], 'rem')
if app_seen and now < app_seen + 60 and app_rem and app_rem <= 0 then
	return {0, 'app', tostring(app_seen + 60 - now)}
end

-- an in-flight call counts against the minute until it ends (then it is rescored to its end time)
redis.call('ZADD', KEYS[1], now + slot_ttl, token)
redis.call('ZADD', KEYS[2], now + slot_ttl, token)
redis.call('HINCRBY', KEYS[3], 'day_count', 1)
if min_rem then redis.call('HINCRBYFLOAT', KEYS[3], 'min_rem', -1) end
if day_rem then redis.call('HINCRBYFLOAT', KEYS[3], 'day_rem', -1) end
if app_rem then redis.call('HINCRBYFLOAT', KEYS[4], 'rem', -1) end
redis.call('INCR', KEYS[5])
redis.call('PEXPIRE', KEYS[5], 120000)
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], key_ttl) end
return {1, 'ok', '0'}
"""

# Frees a slot; the call stays in the minute window from the moment its answer came (Xero counted it
# when it arrived, which is no later than that).
# KEYS: slots zset, minute zset. ARGV: now, token
_RELEASE = """
local had = redis.call('ZREM', KEYS[1], ARGV[2])
if redis.call('ZSCORE', KEYS[2], ARGV[2]) then redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2]) end
return had
"""

# Learns from an answer's headers. KEYS: slots zset, tenant hash, app hash.
# ARGV: now, min_rem, day_rem, app_rem, retry_after, problem ('' when absent), day_probe, key_ttl_ms
_OBSERVE = """
local now = tonumber(ARGV[1])
local function num(key, field)
	local v = redis.call('HGET', key, field)
	if v then return tonumber(v) end
	return nil
end
-- other calls still in flight may not be in the header's count yet: assume they are not
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local others = math.max(0, redis.call('ZCARD', KEYS[1]) - 1)
if ARGV[2] ~= '' then
	redis.call('HSET', KEYS[2], 'min_rem', tonumber(ARGV[2]) - others, 'min_seen', now)
end
local function pause(key, until_)
	local current = num(key, 'paused_until')
	if not current or current < until_ then redis.call('HSET', key, 'paused_until', until_) end
end
local retry = tonumber(ARGV[5])
local problem = ARGV[6]
if ARGV[3] ~= '' then
	local rem = tonumber(ARGV[3]) - others
	redis.call('HSET', KEYS[2], 'day_rem', rem)
	if tonumber(ARGV[3]) <= 0 and not retry then
		local day_start = num(KEYS[2], 'day_start')
		local reset = now + tonumber(ARGV[7])
		if day_start and day_start + 86400 > now then reset = day_start + 86400 end
		pause(KEYS[2], reset)
	end
end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], 'rem', tonumber(ARGV[4]) - others, 'seen', now) end
if retry then
	if problem == 'appminute' then pause(KEYS[3], now + retry) else pause(KEYS[2], now + retry) end
	if problem == 'day' then redis.call('HSET', KEYS[2], 'day_rem', 0) end
end
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[8]))
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[8])) end
return 1
"""


class RateGovernor:
	"""Xero's per-organisation and app-wide limits, enforced across processes through one Redis."""

	def __init__(
		self,
		redis_client: Any,
		*,
		key_prefix: str,
		max_in_flight: int = 5,
		per_minute: int = 60,
		per_day: int = 5000,
		app_per_minute: int = 10_000,
		clock: Callable[[], float] = time.time,
		slot_ttl: float = SLOT_TTL,
		slot_wait: float = 5.0,
		sleep: Callable[[float], None] = time.sleep,
	):
		self.redis = redis_client
		self.prefix = key_prefix
		self.max_in_flight = max_in_flight
		self.per_minute = per_minute
		self.per_day = per_day
		self.app_per_minute = app_per_minute
		self.clock = clock
		self.slot_ttl = slot_ttl
		# a full set of slots frees within a call's duration, so waiting briefly beats requeueing a batch
		self.slot_wait = slot_wait
		self.sleep = sleep
		self._acquire = redis_client.register_script(_ACQUIRE)
		self._release = redis_client.register_script(_RELEASE)
		self._observe = redis_client.register_script(_OBSERVE)

	# -- keys -----------------------------------------------------------------------------------

	def _tenant_keys(self, tenant_id: str) -> tuple[str, str, str]:
		base = f"{self.prefix}:xero-gov:t:{tenant_id}"
		return f"{base}:slots", f"{base}:minute", f"{base}:state"

	def _app_key(self) -> str:
		return f"{self.prefix}:xero-gov:app"

	# -- the call cycle -------------------------------------------------------------------------

	def begin(self, tenant_id: str) -> str:
		"""Take a slot and budget for one call; return its token, or raise RATE_LIMITED with retry_after."""
		token = uuid.uuid4().hex
		slots, minute, state = self._tenant_keys(tenant_id)
		waited = 0.0
		while True:
			now = self.clock()
			bucket = int(now // MINUTE)
			try:
				ok, reason, wait = self._acquire(
					keys=[slots, minute, state, self._app_key(), f"{self._app_key()}:min:{bucket}"],
					args=[
						repr(now),
						token,
						self.max_in_flight,
						self.per_minute,
						self.per_day,
						self.app_per_minute,
						repr(self.slot_ttl),
						repr((bucket + 1) * MINUTE),
						KEY_TTL_MS,
					],
				)
			except Exception as exc:
				# Without its counters the governor cannot vouch for Xero's limits. Nothing has been sent:
				# the call waits like a rate-limited one (anything else would read as "may have reached
				# Xero", costing a lookup, an in-flight wait, and in the end a Failed row).
				raise _unavailable(exc) from None
			if int(ok):
				return token
			reason = _text(reason)
			if reason == "concurrent" and waited < self.slot_wait:
				self.sleep(0.02)
				waited += 0.02
				continue
			wait = max(0.0, float(_text(wait)))
			if reason != "concurrent":
				# the first budget found spent may not be the last: say the whole wait (a 429's short pause
				# with the minute budget at 0 is the rest of the minute)
				wait = max(wait, self.hold(tenant_id))
			raise _limited(reason, wait)

	def end(self, tenant_id: str, token: str) -> None:
		"""Give back the slot of a finished (or abandoned) call. Best effort: a slot Redis could not take
		back lapses by itself after slot_ttl, and the call it was for has already happened."""
		slots, minute, _state = self._tenant_keys(tenant_id)
		try:
			self._release(keys=[slots, minute], args=[repr(self.clock()), token])
		except Exception:
			log.warning("rate governor: could not give back a slot (it lapses by itself)", exc_info=True)

	@contextmanager
	def acquire(self, tenant_id: str) -> Iterator[str]:
		"""`with governor.acquire(tenant):` around one call; raises RATE_LIMITED instead of waiting."""
		token = self.begin(tenant_id)
		try:
			yield token
		finally:
			self.end(tenant_id, token)

	def observe(self, tenant_id: str, status: int, headers: Mapping[str, str]) -> None:
		"""Learn the remaining budgets from an answer; a 429 or an empty day budget pauses the tenant."""
		header = _lower(headers)
		retry = _number(header.get("retry-after")) if status == 429 else None
		if status == 429 and retry is None:
			retry = MINUTE  # a 429 without a usable Retry-After: wait out a whole minute window
		problem = (header.get("x-rate-limit-problem") or "").strip().lower()
		slots, _minute, state = self._tenant_keys(tenant_id)
		self._observe(
			keys=[slots, state, self._app_key()],
			args=[
				repr(self.clock()),
				_arg(header.get("x-minlimit-remaining")),
				_arg(header.get("x-daylimit-remaining")),
				_arg(header.get("x-appminlimit-remaining")),
				"" if retry is None else repr(retry),
				problem,
				repr(DAY_PROBE),
				KEY_TTL_MS,
			],
		)

	def paused_until(self, tenant_id: str) -> float | None:
		"""When the tenant (or the whole app) may call again, in clock seconds; None when not paused."""
		now = self.clock()
		values = [
			_number(self.redis.hget(self._tenant_keys(tenant_id)[2], "paused_until")),
			_number(self.redis.hget(self._app_key(), "paused_until")),
		]
		later = [v for v in values if v is not None and v > now]
		return max(later) if later else None

	def hold(self, tenant_id: str) -> float:
		"""Seconds before this governor lets the next call to the tenant go (0 when it would go now): the
		pause a 429 or the day set, the minute window, and a minute budget Xero's headers said is spent.
		What a row told "rate limited" should quote, rather than the Retry-After alone."""
		now = self.clock()
		_slots, minute, state = self._tenant_keys(tenant_id)
		fields = {_text(k): _number(v) for k, v in (self.redis.hgetall(state) or {}).items()}
		waits = [(self.paused_until(tenant_id) or now) - now]
		min_seen, min_rem = fields.get("min_seen"), fields.get("min_rem")
		if min_seen is not None and min_rem is not None and min_rem <= 0 and now < min_seen + MINUTE:
			waits.append(min_seen + MINUTE - now)
		window = self.redis.zrangebyscore(minute, repr(now - MINUTE), "+inf", withscores=True)
		if len(window) >= self.per_minute:
			waits.append(min(score for _member, score in window) + MINUTE - now)
		return max(0.0, *waits)

	def day_remaining(self, tenant_id: str) -> int | None:
		"""Calls left today as Xero's X-DayLimit-Remaining last said (less calls since); None unknown."""
		value = _number(self.redis.hget(self._tenant_keys(tenant_id)[2], "day_rem"))
		return None if value is None else max(0, int(value))

	def in_flight(self, tenant_id: str) -> int:
		"""Calls holding a live slot for the tenant now."""
		slots = self._tenant_keys(tenant_id)[0]
		return int(self.redis.zcount(slots, f"({self.clock()!r}", "+inf"))


def hooks(governor: RateGovernor) -> tuple[Callable, Callable]:
	"""(before_request, on_response) for build_accounting_api: every tenant call goes through the governor.

	on_response returns, after a 429, the seconds the governor now holds the tenant back (the transport puts
	it on the answer as `hold`, and errors.classify quotes the longer of it and Retry-After).
	The transport calls on_response only when an answer came; a call that died on the network leaves its
	slot held, so the same thread's next call (threads make one call at a time) gives it back first.
	"""
	held = threading.local()

	def before_request(tenant_id: str | None, method: str, url: str) -> None:
		if tenant_id is None:
			return  # token and identity calls are not counted against an organisation
		stale = getattr(held, "token", None)
		if stale:
			held.token = None
			governor.end(*stale)
		held.token = (tenant_id, governor.begin(tenant_id))

	def on_response(tenant_id: str | None, status: int, headers: Mapping[str, str]) -> float | None:
		"""Learn from the answer; after a 429, say how long the governor now holds the tenant back."""
		if tenant_id is None:
			return None
		current = getattr(held, "token", None)
		try:
			governor.observe(tenant_id, status, headers)
		finally:
			if current and current[0] == tenant_id:
				held.token = None
				governor.end(*current)
		return governor.hold(tenant_id) if status == 429 else None

	return before_request, on_response


def _limited(reason: str, wait: float) -> XeroError:
	"""The error the drain turns into 'requeue with next_attempt_at and stop the drain'."""
	what = {
		"paused": "Xero asked us to wait before calling this organisation again",
		"concurrent": "this organisation already has as many calls to Xero in progress as Xero allows",
		"minute": "this organisation's Xero calls for this minute are used up",
		"day": "this organisation's daily allowance of Xero calls is used up",
		"app": "the connector's Xero calls across all organisations are at their limit",
	}.get(reason, "Xero's rate limit was reached")
	return XeroError(
		f"Not sent yet: {what}. It will be sent automatically in {human_wait(wait)}.",
		error_class=ErrorClass.RATE_LIMITED,
		retry_after=max(1.0, wait),
		detail=f"rate governor: {reason}, retry after {wait:.1f}s",
		held_back=True,
	)


def _unavailable(exc: Exception) -> XeroError:
	"""The governor's Redis did not answer: the call is held back, nothing was sent."""
	return XeroError(
		"Not sent yet: the connector could not check Xero's rate limits (its Redis server did not answer). "
		f"It will be sent automatically in {human_wait(UNAVAILABLE_RETRY)}.",
		error_class=ErrorClass.RATE_LIMITED,
		retry_after=UNAVAILABLE_RETRY,
		detail=f"rate governor unavailable: {type(exc).__name__}: {scrub(str(exc))[:300]}",
	)


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
	return {str(k).lower(): str(v) for k, v in (headers or {}).items()}


def _number(value: Any) -> float | None:
	"""A number from a header or Redis value; None for absent or unparsable (e.g. an HTTP date)."""
	if value is None:
		return None
	try:
		return float(_text(value))
	except ValueError:
		return None


def _arg(value: str | None) -> str:
	number = _number(value)
	return "" if number is None else repr(number)


def _text(value: Any) -> str:
	return value.decode() if isinstance(value, bytes) else str(value)
