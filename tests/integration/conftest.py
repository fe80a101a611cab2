"""Fixtures for pipelines: every World is closed before its database is dropped (even when a test
fails), so an open transaction never blocks DROP DATABASE."""

from __future__ import annotations

import uuid

import pytest

from tests.support.world import World


@pytest.fixture
def make_world(emulator, database):
	worlds: list[World] = []

	def make(**kwargs) -> World:
		world = World(emulator, database, tenant_id=f"t-{uuid.uuid4().hex[:8]}", **kwargs)
		worlds.append(world)
		return world

	yield make
	for world in worlds:
		world.db.rollback()
		world.close()


@pytest.fixture
def world(make_world) -> World:
	return make_world()
