"""TokenKeeper on the real MariaDB against the emulator's rotating token endpoint.

Worker PROCESSES (not threads) hit an expired token at once: exactly one refresh reaches Xero and every
worker proceeds with the same new access token. invalid_grant marks the connection broken for good.
"""

from __future__ import annotations

import multiprocessing
import time

import pytest
import requests

from nexwave_xero_connector.sync.errors import XeroError
from nexwave_xero_connector.sync.model import ErrorClass
from nexwave_xero_connector.xero.tokens import SqlTokenTable, TokenKeeper, http_refresher
from tests.support.db import PyMySqlDb

TABLE = "xero_test_token"
KEY = "xero-app-admin"
WORKERS = 8

CREATE = f"""
CREATE TABLE `{TABLE}` (
	name VARCHAR(140) PRIMARY KEY,
	access_token TEXT, refresh_token TEXT, scope TEXT,
	expires_at DOUBLE, expires_in INT, token_type VARCHAR(20), refreshed_at DOUBLE,
	broken TINYINT NOT NULL DEFAULT 0, broken_reason TEXT
) ENGINE=InnoDB
"""


def seed(database: str, token: dict, *, expires_at: float) -> None:
	db = PyMySqlDb(database)
	try:
		db.execute(CREATE, {})
		db.execute(
			f"INSERT INTO `{TABLE}` (name, access_token, refresh_token, scope, expires_at, expires_in, "
			"token_type, refreshed_at) VALUES (%(name)s, %(at)s, %(rt)s, %(scope)s, %(exp)s, 1800, 'Bearer', %(now)s)",
			{
				"name": KEY,
				"at": token["access_token"],
				"rt": token["refresh_token"],
				"scope": token["scope"],
				"exp": expires_at,
				"now": time.time() - 1800,
			},
		)
		db.commit("seed")
	finally:
		db.close()


def row(database: str) -> dict:
	db = PyMySqlDb(database)
	try:
		return db.query(f"SELECT * FROM `{TABLE}` WHERE name = %(k)s", {"k": KEY})[0]
	finally:
		db.close()


def keeper(db: PyMySqlDb, token_url: str) -> TokenKeeper:
	return TokenKeeper(
		db,
		table=SqlTokenTable(TABLE, "name", KEY),
		refresh=http_refresher(token_url, "client-id", "client-secret"),
		clock=time.time,
	)


def _worker(database: str, token_url: str, barrier, results) -> None:
	db = PyMySqlDb(database)
	try:
		barrier.wait(timeout=30)
		token = keeper(db, token_url).current()
		results.put(("ok", token["access_token"], token["refresh_token"], len(token)))
	except Exception as exc:  # reported to the parent, never swallowed
		results.put(("error", type(exc).__name__, str(exc), 0))
	finally:
		db.close()


def test_many_processes_refresh_once(database, emulator):
	old = emulator.issue_tokens()
	seed(database, old, expires_at=time.time() - 60)  # already expired
	before = emulator.token_calls
	ctx = multiprocessing.get_context("fork")
	barrier = ctx.Barrier(WORKERS)
	results = ctx.Queue()
	procs = [
		ctx.Process(target=_worker, args=(database, emulator.token_url, barrier, results))
		for _ in range(WORKERS)
	]
	for p in procs:
		p.start()
	outcomes = [results.get(timeout=60) for _ in procs]
	for p in procs:
		p.join(timeout=30)
	assert all(o[0] == "ok" for o in outcomes), outcomes
	assert emulator.token_calls - before == 1
	access = {o[1] for o in outcomes}
	assert len(access) == 1 and old["access_token"] not in access
	assert {o[3] for o in outcomes} == {7}  # exactly the SDK's keys
	stored = row(database)
	assert stored["access_token"] in access
	assert stored["refresh_token"] != old["refresh_token"]  # rotated token persisted
	assert stored["expires_at"] > time.time() + 1700


def test_valid_token_needs_no_call_and_no_commit(database, emulator):
	tok = emulator.issue_tokens()
	seed(database, tok, expires_at=time.time() + 1500)
	before = emulator.token_calls
	db = PyMySqlDb(database)
	try:
		got = keeper(db, emulator.token_url).current()
		assert got["access_token"] == tok["access_token"]
		assert got["scope"] == tok["scope"].split()
		assert emulator.token_calls == before
		assert db.commits == []
	finally:
		db.close()


def test_invalid_grant_marks_broken_and_stops_calling(database, emulator):
	tok = emulator.issue_tokens()
	requests.post(emulator.revoke_url, data={"token": tok["refresh_token"]}, timeout=10)
	seed(database, tok, expires_at=time.time() - 1)
	db = PyMySqlDb(database)
	try:
		k = keeper(db, emulator.token_url)
		before = emulator.token_calls
		with pytest.raises(XeroError) as info:
			k.current()
		assert info.value.error_class == ErrorClass.CONNECTION
		assert "Reconnect to Xero" in info.value.message
		assert emulator.token_calls - before == 1
		assert db.commits == ["xero connection marked broken"]
		stored = row(database)
		assert stored["broken"] == 1 and stored["broken_reason"]
		for _ in range(3):
			with pytest.raises(XeroError) as again:
				k.current()
			assert again.value.error_class == ErrorClass.CONNECTION
		assert emulator.token_calls - before == 1  # no further token calls
	finally:
		db.close()


def test_lost_refresh_answer_is_recovered_within_grace(database, emulator):
	"""A refresh whose answer never got saved: the old refresh token still works for 30 minutes."""
	tok = emulator.issue_tokens()
	seed(database, tok, expires_at=time.time() - 1)
	lost = requests.post(
		emulator.token_url,
		data={"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]},
		timeout=10,
	).json()  # Xero rotated, but we "crashed" before persisting
	emulator.advance(20 * 60)  # inside the grace window
	db = PyMySqlDb(database)
	try:
		got = keeper(db, emulator.token_url).current()
		assert got["access_token"] == lost["access_token"]
		assert row(database)["refresh_token"] == lost["refresh_token"]
	finally:
		db.close()


def test_old_refresh_token_after_grace_is_invalid_grant(database, emulator):
	tok = emulator.issue_tokens()
	seed(database, tok, expires_at=time.time() - 1)
	requests.post(
		emulator.token_url,
		data={"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]},
		timeout=10,
	)
	emulator.advance(31 * 60)  # the grace window is over
	db = PyMySqlDb(database)
	try:
		with pytest.raises(XeroError) as info:
			keeper(db, emulator.token_url).current()
		assert info.value.error_class == ErrorClass.CONNECTION
		assert row(database)["broken"] == 1
	finally:
		db.close()


def test_renew_refreshes_idle_token(database, emulator):
	tok = emulator.issue_tokens()
	seed(database, tok, expires_at=time.time() + 1500)
	db = PyMySqlDb(database)
	try:
		k = keeper(db, emulator.token_url)
		before = emulator.token_calls
		k.renew(refreshed_before=time.time() - 7 * 86400)  # refreshed 30 min ago: nothing to do
		assert emulator.token_calls == before
		got = k.renew(refreshed_before=time.time())
		assert emulator.token_calls - before == 1
		assert got["access_token"] != tok["access_token"]
		assert db.commits[-1] == "idle xero token renewed"
	finally:
		db.close()
