"""Shared fixtures: a fresh MariaDB database per test, the Xero emulator, a real-SDK gateway.

Tests that need MariaDB or Redis fail loudly when the server is absent: nothing here skips.
"""

from __future__ import annotations

import pytest

from tests.support.clock import ShiftableClock


@pytest.fixture
def clock() -> ShiftableClock:
	return ShiftableClock()


@pytest.fixture
def database():
	"""A fresh database with the connector's tables on the local MariaDB; dropped afterwards."""
	from tests.support.db import create_database, drop_database

	name = create_database()
	yield name
	drop_database(name)


@pytest.fixture(scope="session")
def emulator():
	"""One emulator for the session; tests use their own tenants so they do not see each other."""
	from tests.emulator import XeroEmulator

	emu = XeroEmulator()
	emu.start(port=0)
	yield emu
	emu.stop()
