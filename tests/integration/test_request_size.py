"""Requests within Xero's 3.5 MB cap (issue 20, item 2), over the emulator, which refuses a larger body
with HTTP 413 before reading it, as Xero does."""

from __future__ import annotations

import uuid

import pytest

from nexwave_xero_connector.sync import batching
from tests.support.big_invoices import big_invoice
from tests.support.world import clone


def _small(world) -> str:
	name = f"SINV-S-{uuid.uuid4().hex[:6]}"
	world.submit(clone("si_nz_exclusive_discount", name))
	return name


def _big(world, lines: int, n: int = 0, chars: int = 400) -> str:
	name = f"SINV-B-{uuid.uuid4().hex[:6]}-{n}"
	world.submit(big_invoice(name, lines, chars=chars))
	return name


def test_a_batch_of_big_invoices_goes_out_in_several_puts_under_the_cap(world, emulator):
	_small(world)
	world.drain()  # learns the contact
	names = [_big(world, 500, i) for i in range(14)]  # about 261 kB each: 3.7 MB in all
	emulator.reset_counters()
	report = world.drain()
	assert report.synced == 14
	assert emulator.too_large == 0
	assert emulator.calls[("PUT", "Invoices")] == 2
	assert batching.MAX_REQUEST_BYTES * 0.8 < emulator.max_request_bytes <= batching.MAX_REQUEST_BYTES
	for name in names:
		assert world.log(name)["status"] == "Synced" and len(world.live(name)) == 1
		assert len(world.live(name)[0]["line_items"]) >= 500


def test_the_measured_size_is_the_body_xero_receives(world, emulator):
	_small(world)
	world.drain()
	name = _big(world, 120)
	emulator.reset_counters()
	assert world.drain().synced == 1
	payload_bytes = emulator.max_request_bytes
	# one element: what the gateway measured plus the wrapper, never less than what was sent
	assert payload_bytes <= batching.request_bytes([payload_bytes - len('{"Invoices": []}')])
	assert world.log(name)["status"] == "Synced"


def test_a_single_invoice_over_the_cap_fails_before_any_call(world, emulator):
	small = _small(world)
	world.drain()
	huge = _big(world, 1000, chars=4000)  # about 4.2 MB as Xero would receive it
	other = _small(world)
	emulator.reset_counters()
	world.drain()
	assert emulator.too_large == 0 and emulator.max_request_bytes < batching.MAX_REQUEST_BYTES
	log = world.log(huge)
	assert log["status"] == "Failed" and log["error_class"] == "Validation"
	assert "MB as Xero receives it, over Xero's 3.5 MB limit for one request" in log["error_message"]
	assert (
		"split the sales invoice into smaller ones (fewer lines or shorter descriptions)"
		in log["error_message"]
	)
	assert world.live(huge) == [] and not log["send_started"]
	assert world.log(other)["status"] == "Synced" and world.log(small)["status"] == "Synced"


def test_a_413_splits_the_request_in_halves_and_sends_each(world, emulator, monkeypatch):
	_small(world)
	world.drain()
	monkeypatch.setattr(batching, "MAX_REQUEST_BYTES", 50_000_000)  # our budget no longer protects us
	names = [_big(world, 500, i) for i in range(16)]  # about 4.2 MB in one request
	emulator.reset_counters()
	report = world.drain()
	assert report.synced == 16
	assert emulator.too_large == 1  # once: the halves are under the cap
	assert emulator.calls[("PUT", "Invoices")] == 3
	for name in names:
		log = world.log(name)
		assert log["status"] == "Synced" and len(world.live(name)) == 1
		assert log["attempts"] == 1  # a 413 is not a retry


def test_a_413_on_one_document_fails_it_with_what_to_do(world, emulator, monkeypatch):
	_small(world)
	world.drain()
	monkeypatch.setattr(batching, "XERO_REQUEST_CAP", 50_000_000)  # as if our measure were wrong
	huge = _big(world, 1000, chars=4000)
	emulator.reset_counters()
	world.drain()
	assert emulator.too_large == 1 and emulator.calls[("PUT", "Invoices")] == 1
	log = world.log(huge)
	assert log["status"] == "Failed" and log["error_class"] == "Validation"
	assert "over Xero's 3.5 MB limit for one request: split the sales invoice" in log["error_message"]
	assert world.live(huge) == [] and not log["send_started"]


@pytest.mark.parametrize(
	("sizes", "expected"),
	[
		([10] * 120, [50, 50, 20]),
		([1_000_000] * 5, [2, 2, 1]),
		([3_200_000, 10, 10], [1, 2]),  # over the budget, under the cap: alone
		([4_000_000, 10], [1]),  # over the cap: in no batch
	],
)
def test_batches_close_at_fifty_or_at_the_byte_budget(sizes, expected):
	batches = batching.size_batches(list(range(len(sizes))), sizes)
	assert [len(b) for b in batches] == expected
	for batch in batches:
		if len(batch) > 1:
			assert batching.request_bytes([sizes[i] for i in batch]) <= batching.MAX_REQUEST_BYTES


class _HeldBack:
	"""A gateway whose create is held back by the rate governor before anything leaves."""

	def __init__(self, real):
		self._real = real

	def __getattr__(self, name):
		return getattr(self._real, name)

	def create_documents(self, *args, **kwargs):
		from nexwave_xero_connector.xero.governor import _limited

		raise _limited("minute", 42)


def _attempts(world, name):
	log = world.log(name)
	rows = world.db.query(
		"SELECT calls, message FROM `tabXero Sync Attempt` WHERE parent = %(p)s ORDER BY idx, creation",
		{"p": log["name"]},
	)
	return log, rows


def test_a_try_the_governor_held_back_is_no_attempt_and_no_call(world, emulator):
	_small(world)
	world.drain()
	name = _small(world)
	world.drain(gateway=_HeldBack(world.gateway()))
	log, rows = _attempts(world, name)
	assert log["status"] == "Queued" and log["attempts"] == 0
	assert "Not sent yet" in log["error_message"] and "42 seconds" in log["error_message"]
	assert rows[-1]["calls"] == 0
	emulator.faults.add("429", "PUT", "Invoices")  # Xero's own 429: a call was made
	world.clock.advance(60)
	world.drain()
	log, rows = _attempts(world, name)
	assert log["attempts"] == 1 and rows[-1]["calls"] == 1
