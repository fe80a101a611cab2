"""RateGovernor against the real local Redis, driven by a fake clock (each test has its own key prefix)."""

from __future__ import annotations

import multiprocessing
import os
import socket
import threading
import time
import uuid

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from nexwave_xero_connector.sync.errors import XeroError
from nexwave_xero_connector.sync.model import ErrorClass, Kind
from nexwave_xero_connector.xero.governor import RateGovernor, hooks

REDIS_URL = os.environ.get("NXC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
T0 = 1_800_000_000.0
TENANT = "tenant-a"


class FakeClock:
	"""Seconds that only move when the test says so."""

	def __init__(self, now: float = T0):
		self.now = now

	def __call__(self) -> float:
		return self.now

	def advance(self, seconds: float) -> None:
		self.now += seconds


@pytest.fixture
def client():
	c = redis.Redis.from_url(REDIS_URL)
	c.ping()  # no Redis is a failure, not a skip
	yield c
	c.close()


@pytest.fixture
def prefix(client):
	p = f"nxc-test-gov-{uuid.uuid4().hex[:10]}"
	yield p
	for key in client.scan_iter(f"{p}:*"):
		client.delete(key)


@pytest.fixture
def clock():
	return FakeClock()


def make(client, prefix, clock, **kwargs) -> RateGovernor:
	kwargs.setdefault("slot_wait", 0)
	return RateGovernor(client, key_prefix=prefix, clock=clock, **kwargs)


def limited(gov: RateGovernor, tenant: str = TENANT) -> XeroError:
	with pytest.raises(XeroError) as info:
		gov.begin(tenant)
	assert info.value.error_class == ErrorClass.RATE_LIMITED
	return info.value


def test_in_flight_cap_across_threads(client, prefix, clock):
	gov = make(client, prefix, clock, slot_wait=10)
	peak, current, lock = [0], [0], threading.Lock()

	def call():
		for _ in range(5):
			with gov.acquire(TENANT):
				with lock:
					current[0] += 1
					peak[0] = max(peak[0], current[0])
				time.sleep(0.01)
				with lock:
					current[0] -= 1

	threads = [threading.Thread(target=call) for _ in range(12)]
	for t in threads:
		t.start()
	for t in threads:
		t.join()
	assert peak[0] == 5
	assert gov.in_flight(TENANT) == 0


def _hold_slots(prefix: str, count: int, ready, release) -> None:
	"""Child process: take slots, then either give them back or die holding them."""
	gov = RateGovernor(redis.Redis.from_url(REDIS_URL), key_prefix=prefix, clock=lambda: T0, slot_wait=0)
	tokens = [gov.begin(TENANT) for _ in range(count)]
	ready.set()
	assert len(tokens) == count
	release.wait(10)
	os._exit(0)  # die without releasing: as if the worker was killed


def test_in_flight_cap_across_processes_and_killed_holder_slots_expire(client, prefix, clock):
	ctx = multiprocessing.get_context("fork")
	ready, release = ctx.Event(), ctx.Event()
	child = ctx.Process(target=_hold_slots, args=(prefix, 4, ready, release))
	child.start()
	assert ready.wait(10)
	gov = make(client, prefix, clock)
	mine = gov.begin(TENANT)  # the fifth slot
	assert limited(gov).retry_after >= 1
	release.set()
	child.join(10)
	assert child.exitcode == 0
	gov.end(TENANT, mine)
	assert gov.in_flight(TENANT) == 4  # the dead child's slots are still counted ...
	clock.advance(gov.slot_ttl + 1)
	assert gov.in_flight(TENANT) == 0  # ... until they expire
	tokens = [gov.begin(TENANT) for _ in range(5)]
	assert len(tokens) == 5


def test_minute_budget(client, prefix, clock):
	gov = make(client, prefix, clock, per_minute=60)
	for _ in range(60):
		with gov.acquire(TENANT):
			pass
		clock.advance(0.5)
	error = limited(gov)
	# the first call ended at T0, so the window frees at T0 + 60
	assert error.retry_after == pytest.approx(T0 + 60 - clock.now)
	clock.advance(error.retry_after + 0.01)
	with gov.acquire(TENANT):
		pass


def test_minute_remaining_header_is_respected(client, prefix, clock):
	gov = make(client, prefix, clock)
	with gov.acquire(TENANT):
		# another app used this organisation's minute: Xero says nothing is left
		gov.observe(TENANT, 200, {"X-MinLimit-Remaining": "0", "X-DayLimit-Remaining": "4000"})
	assert limited(gov).retry_after == pytest.approx(60)
	clock.advance(60.5)
	with gov.acquire(TENANT):
		pass


def test_day_budget_pauses_until_reset_then_resumes(client, prefix, clock):
	gov = make(client, prefix, clock, per_day=3)
	for _ in range(3):
		with gov.acquire(TENANT):
			pass
		clock.advance(100)
	error = limited(gov)
	assert error.retry_after == pytest.approx(86_400 - 300)
	assert gov.paused_until(TENANT) == pytest.approx(T0 + 86_400)
	clock.advance(86_400 - 300 + 1)
	assert gov.paused_until(TENANT) is None
	with gov.acquire(TENANT):
		pass


def test_day_remaining_zero_header_pauses_the_organisation(client, prefix, clock):
	gov = make(client, prefix, clock)
	with gov.acquire(TENANT):
		clock.advance(10)
		gov.observe(TENANT, 200, {"X-DayLimit-Remaining": "0", "X-MinLimit-Remaining": "50"})
	assert gov.paused_until(TENANT) == pytest.approx(T0 + 86_400)
	assert limited(gov).retry_after == pytest.approx(86_400 - 10)
	gov.begin("tenant-b")  # other organisations are unaffected


def test_retry_after_is_honoured(client, prefix, clock):
	gov = make(client, prefix, clock)
	before, after = hooks(gov)
	before(TENANT, "PUT", "https://api.xero.com/api.xro/2.0/Invoices")
	after(TENANT, 429, {"Retry-After": "42", "X-Rate-Limit-Problem": "minute"})
	assert gov.in_flight(TENANT) == 0
	assert gov.paused_until(TENANT) == pytest.approx(T0 + 42)
	with pytest.raises(XeroError) as info:
		before(TENANT, "GET", "https://api.xero.com/api.xro/2.0/Invoices")
	assert info.value.retry_after == pytest.approx(42)
	clock.advance(42.1)
	before(TENANT, "GET", "https://api.xero.com/api.xro/2.0/Invoices")


def test_app_minute_limit_pauses_every_organisation(client, prefix, clock):
	gov = make(client, prefix, clock)
	with gov.acquire(TENANT):
		gov.observe(TENANT, 429, {"Retry-After": "20", "X-Rate-Limit-Problem": "appminute"})
	assert limited(gov, "tenant-b").retry_after == pytest.approx(20)
	limited(make(client, prefix, clock), TENANT)  # another worker of the site sees the pause too
	clock.advance(21)
	with gov.acquire("tenant-b"):
		pass


def test_app_remaining_header_is_respected(client, prefix, clock):
	gov = make(client, prefix, clock)
	with gov.acquire(TENANT):
		gov.observe(TENANT, 200, {"X-AppMinLimit-Remaining": "0"})
	assert limited(gov, "tenant-b").retry_after == pytest.approx(60)


def test_a_call_lost_on_the_network_gives_its_slot_back_on_the_next_call(client, prefix, clock):
	gov = make(client, prefix, clock, max_in_flight=1)
	before, after = hooks(gov)
	before(TENANT, "PUT", "u")  # no answer ever comes (the transport raised)
	before(TENANT, "GET", "u")  # same thread: the old slot is given back first
	after(TENANT, 200, {})
	assert gov.in_flight(TENANT) == 0


def test_token_calls_are_not_governed(client, prefix, clock):
	gov = make(client, prefix, clock, max_in_flight=0)
	before, after = hooks(gov)
	before(None, "POST", "https://identity.xero.com/connect/token")
	after(None, 200, {})


class _Answer:
	"""What the transport hands the SDK for an HTTP answer (status, headers, body, the hook's hold)."""

	def __init__(self, status, headers, hold):
		self.status, self.reason, self.data, self.hold = status, "", b"{}", hold
		self._headers = headers

	def getheaders(self):
		return self._headers


def test_a_429_says_the_real_wait_when_the_minute_budget_is_spent(client, prefix, clock):
	from xero_python.exceptions import ApiException

	from nexwave_xero_connector.xero.errors import classify

	gov = make(client, prefix, clock)
	before, after = hooks(gov)
	before(TENANT, "PUT", "https://api.xero.com/api.xro/2.0/Invoices")
	headers = {"Retry-After": "5", "X-Rate-Limit-Problem": "minute", "X-MinLimit-Remaining": "0"}
	hold = after(TENANT, 429, headers)
	assert hold == pytest.approx(60)  # the headers said the minute budget was 0: the rest of the minute
	error = classify(ApiException(http_resp=_Answer(429, headers, hold)))
	assert error.retry_after == pytest.approx(60)
	assert "Sending resumes in 60 seconds" in error.message
	with pytest.raises(XeroError) as held:
		before(TENANT, "GET", "https://api.xero.com/api.xro/2.0/Invoices")
	assert held.value.retry_after == pytest.approx(60) and held.value.held_back
	assert after(TENANT, 200, {}) is None  # only a 429 asks for the hold
	# Without the governor's word, Retry-After is what the message says.
	assert (
		"Sending resumes in 5 seconds"
		in classify(ApiException(http_resp=_Answer(429, headers, None))).message
	)


def _unreachable() -> redis.Redis:
	"""A client of a Redis that is not there (crashed, restarting): every command fails at once."""
	with socket.socket() as sock:
		sock.bind(("127.0.0.1", 0))
		port = sock.getsockname()[1]
	return redis.Redis(port=port, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))


def test_an_unreachable_redis_holds_the_call_back_as_not_sent(prefix, clock):
	"""Redis gone (crashed, restarting): the governor cannot vouch for the limits, so the call waits like a
	rate-limited one, and the engine knows nothing left (no lookup, no in-flight wait, no Failed row)."""
	gov = make(_unreachable(), prefix, clock)
	error = limited(gov)
	assert not error.may_have_committed
	assert 1 <= error.retry_after <= 60
	assert "Not sent yet" in error.message
	gov.end(TENANT, "a-token")  # giving a slot back is best effort: it lapses by itself anyway


def test_a_governed_create_is_not_sent_while_redis_is_down(emulator, prefix, clock):
	"""Through the real SDK client: the create never reaches Xero, and the error says nothing was sent."""
	from tests.support.world import emulator_gateway

	tenant = f"gov-{uuid.uuid4().hex[:8]}"
	emulator.add_tenant(tenant, country="NZ")
	before, after = hooks(make(_unreachable(), prefix, clock))
	gateway = emulator_gateway(emulator.base_url, before_request=before, on_response=after)
	calls = emulator.total_calls(tenant)
	with pytest.raises(XeroError) as info:
		gateway.create_documents(tenant, Kind.SALES_INVOICE, [{"InvoiceNumber": "INV-1"}], "key-1")
	assert info.value.error_class == ErrorClass.RATE_LIMITED
	assert not info.value.may_have_committed
	assert emulator.total_calls(tenant) == calls
