"""A drain that lets a small batch fill when the day's calls are tight, and one that takes a slice.

MariaDB journal, the real SDK over HTTP, the emulator's counters. The hold's pause stands for the time that
passes while invoices keep being submitted: it moves the test's clock (and the database's) and submits
what arrives meanwhile.
"""

from __future__ import annotations

import uuid

from nexwave_xero_connector.sync.batching import FILL_WINDOW_SECONDS
from nexwave_xero_connector.sync.drain import Hold, drain_again
from tests.support.world import World, clone


def _invoices(world: World, n: int) -> list[str]:
	names = []
	for _ in range(n):
		name = f"SINV-F-{uuid.uuid4().hex[:8]}"
		world.submit(clone("si_nz_exclusive_discount", name))
		names.append(name)
	return names


def _known_contact(world: World) -> None:
	"""The first invoice to the customer learns its contact: later batches are one PUT each."""
	_invoices(world, 1)
	assert world.drain().synced == 1


class Trickle:
	"""The pause: one second passes and `per_second` invoices arrive, until `total` have."""

	def __init__(self, world: World, per_second: int, total: int):
		self.world, self.per_second, self.left = world, per_second, total
		self.waited = 0.0
		self.names: list[str] = []

	def __call__(self, seconds: float) -> bool:
		step = min(seconds, 1.0)
		self.world.clock.advance(step)
		self.waited += step
		arriving = min(self.per_second, self.left)
		self.names += _invoices(self.world, arriving)
		self.left -= arriving
		return True


def test_a_trickle_on_a_tight_budget_goes_out_in_full_batches(world, emulator):
	_known_contact(world)
	names = _invoices(world, 3)
	trickle = Trickle(world, per_second=10, total=97)  # 100 in all, ten a second
	emulator.reset_counters()
	report = world.drain(hold=Hold(window=FILL_WINDOW_SECONDS, pause=trickle))
	assert report.synced == 100
	assert emulator.calls[("PUT", "Invoices")] == 2  # two batches of fifty, not one call per arrival
	assert emulator.total_calls(world.tenant_id) == 2
	for name in names + trickle.names:
		assert world.log(name)["status"] == "Synced"
	assert trickle.waited <= 10  # 100 at ten a second: every batch filled long before the window closed


def test_the_last_small_batch_waits_no_longer_than_the_window(world, emulator):
	_known_contact(world)
	names = _invoices(world, 2)
	trickle = Trickle(world, per_second=1, total=3)  # five in all, then nothing more comes
	emulator.reset_counters()
	report = world.drain(hold=Hold(window=FILL_WINDOW_SECONDS, pause=trickle))
	assert report.synced == 5 and not report.held
	assert emulator.calls[("PUT", "Invoices")] == 1
	# the oldest row was queued when the drain began: it went out once the window had passed, not later
	assert FILL_WINDOW_SECONDS - 1 <= trickle.waited <= FILL_WINDOW_SECONDS
	assert all(world.log(n)["status"] == "Synced" for n in names + trickle.names)


def test_with_calls_to_spare_a_drain_sends_what_has_arrived_at_once(world, emulator):
	_known_contact(world)
	_invoices(world, 2)
	paused = []
	emulator.reset_counters()
	report = world.drain(hold=Hold(window=0, pause=lambda s: paused.append(s) or True))
	assert report.synced == 2 and paused == []
	assert emulator.calls[("PUT", "Invoices")] == 1


def test_a_row_tried_before_is_not_held_back(world, emulator):
	_known_contact(world)
	[name] = _invoices(world, 1)
	world.db.execute("UPDATE `tabXero Sync Log` SET attempts = 1 WHERE reference_name = %(n)s", {"n": name})
	world.db.commit("test: the row was tried once and put back")
	paused = []
	report = world.drain(hold=Hold(window=FILL_WINDOW_SECONDS, pause=lambda s: paused.append(s) or True))
	assert report.synced == 1 and paused == []


def test_a_hold_that_gives_up_leaves_the_rows_queued_for_the_next_drain(world, emulator):
	_known_contact(world)
	names = _invoices(world, 4)
	emulator.reset_counters()
	report = world.drain(hold=Hold(window=FILL_WINDOW_SECONDS, pause=lambda s: False))
	assert report.held and report.claimed == 0
	assert emulator.total_calls(world.tenant_id) == 0
	assert {world.log(n)["status"] for n in names} == {"Queued"}
	assert {world.log(n)["attempts"] for n in names} == {0}  # waiting is not an attempt
	assert world.drain().synced == 4


def test_a_slice_of_batches_says_whether_rows_are_left(world, emulator):
	_known_contact(world)
	_invoices(world, 120)
	first = world.drain(max_batches=2)
	assert (first.batches, first.synced, first.more) == (2, 100, True)
	second = world.drain(max_batches=2)
	assert (second.batches, second.synced, second.more) == (1, 20, False)


def test_whether_an_organisation_needs_another_drain(world, emulator):
	_known_contact(world)
	_invoices(world, 60)
	journal = world.journal()
	sliced = world.drain(journal=journal, max_batches=1)
	assert drain_again(sliced, journal, world.tenant_id, gave_way=False)  # its slice ran out, rows left
	held = world.drain(journal=journal, hold=Hold(window=FILL_WINDOW_SECONDS, pause=lambda s: False))
	assert held.held and drain_again(held, journal, world.tenant_id, gave_way=False)  # gave way to a job
	assert not drain_again(held, journal, world.tenant_id, gave_way=True)  # another drain of it is coming
	done = world.drain(journal=journal)
	assert done.synced == 10 and not drain_again(done, journal, world.tenant_id, gave_way=False)
	_invoices(world, 1)  # a row that came while the drain was finishing
	assert drain_again(done, journal, world.tenant_id, gave_way=False)
