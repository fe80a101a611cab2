"""When a drain lets a batch fill (sync/batching.py): a pure policy over the plan and what is pending."""

from __future__ import annotations

from nexwave_xero_connector.sync.batching import (
	FILL_WINDOW_SECONDS,
	LINGER_SECONDS,
	Pending,
	fill_wait,
	fill_window,
)


def test_a_starter_plan_is_always_tight():
	assert fill_window(1000, None) == FILL_WINDOW_SECONDS
	assert fill_window(1000, 990) == FILL_WINDOW_SECONDS


def test_a_larger_plan_only_lingers_until_half_its_day_is_gone():
	assert fill_window(5000, None) == LINGER_SECONDS
	assert fill_window(5000, 2600) == LINGER_SECONDS
	assert fill_window(5000, 2400) == FILL_WINDOW_SECONDS


def test_an_unknown_plan_lingers():
	assert fill_window(None, None) == LINGER_SECONDS
	assert fill_window(0, 10) == LINGER_SECONDS
	assert 0 < LINGER_SECONDS < FILL_WINDOW_SECONDS


def test_the_wait_is_what_is_left_of_the_window_for_the_oldest_row():
	assert fill_wait(Pending(count=3, age_seconds=12.5), window=30) == 17.5
	assert fill_wait(Pending(count=3, age_seconds=31), window=30) == 0


def test_nothing_is_held_when_there_is_nothing_to_wait_for():
	assert fill_wait(Pending(count=0), window=30) == 0  # nothing pending
	assert fill_wait(Pending(count=50, age_seconds=1), window=30) == 0  # a full batch
	assert fill_wait(Pending(count=80, age_seconds=1), window=30) == 0
	assert fill_wait(Pending(count=3, age_seconds=1), window=0) == 0  # calls to spare
	assert fill_wait(Pending(count=3, retried=True, age_seconds=1), window=30) == 0  # waited already


def test_a_smaller_batch_size_fills_sooner():
	assert fill_wait(Pending(count=10, age_seconds=1), window=30, batch=10) == 0
	assert fill_wait(Pending(count=9, age_seconds=1), window=30, batch=10) == 29
