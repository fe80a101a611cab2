"""Tokens and the client secret never reach logs, exception texts or test output.

A token refresh, then failing calls (404, injected 500, 401 with a dead token, invalid_grant) through the
real SDK and our classifier; everything logged or printed, and every error text, is grepped for secrets.
"""

from __future__ import annotations

import logging
import time
import traceback

import pytest
import requests

from nexwave_xero_connector.sync.errors import XeroError
from nexwave_xero_connector.xero.client import build_accounting_api, build_identity_api
from nexwave_xero_connector.xero.errors import classify
from nexwave_xero_connector.xero.hosts import XeroHosts
from nexwave_xero_connector.xero.tokens import SqlTokenTable, TokenKeeper, http_refresher
from tests.integration.test_tokens import KEY, TABLE, seed
from tests.support.db import PyMySqlDb

CLIENT_ID = "client-id-public"
CLIENT_SECRET = "client-secret-DO-NOT-LEAK-4b1d"
TENANT = "tenant-secrets"


@pytest.fixture
def strict_emulator():
	from tests.emulator import XeroEmulator

	emu = XeroEmulator(strict_auth=True)
	emu.start(port=0)
	emu.add_tenant(TENANT)
	yield emu
	emu.stop()


def _texts(exc: BaseException) -> list[str]:
	"""Every text a person or a log could see of an error."""
	texts = ["".join(traceback.format_exception(exc))]
	if isinstance(exc, XeroError):
		texts += [exc.message, exc.detail or "", str(exc), repr(exc)]
	return texts


def test_no_secret_in_logs_or_errors(database, strict_emulator, caplog, capfd):
	emu = strict_emulator
	caplog.set_level(logging.DEBUG)
	old = emu.issue_tokens()
	seed(database, old, expires_at=time.time() - 1)
	hosts = XeroHosts.from_site_config(emu.site_config())
	db = PyMySqlDb(database)
	seen: list[str] = []
	secrets = {CLIENT_SECRET, old["access_token"], old["refresh_token"]}
	try:
		keeper = TokenKeeper(
			db,
			table=SqlTokenTable(TABLE, "name", KEY),
			refresh=http_refresher(emu.token_url, CLIENT_ID, CLIENT_SECRET),
		)
		options = {
			"token_getter": keeper.current,
			"token_saver": keeper.store,
			"client_id": CLIENT_ID,
			"client_secret": CLIENT_SECRET,
		}
		api = build_accounting_api(hosts, **options)
		api.get_organisations(TENANT)  # refreshes first (the token had expired), then succeeds
		new = keeper.current()
		secrets |= {new["access_token"], new["refresh_token"]}
		assert new["access_token"] != old["access_token"]

		def injected_500():
			emu.inject("500", tenant_id=TENANT, times=1)
			return api.get_organisations(TENANT)

		failing = [lambda: api.get_invoice(TENANT, "00000000-0000-0000-0000-000000000000"), injected_500]
		for call in failing:
			with pytest.raises(Exception) as info:
				call()
			seen += _texts(classify(info.value))

		# a revoked login: the API answers 401, the identity API too
		requests.post(emu.revoke_url, data={"token": new["refresh_token"]}, timeout=10)
		for call in (
			lambda: api.get_organisations(TENANT),
			build_identity_api(hosts, **options).get_connections,
		):
			with pytest.raises(Exception) as info:
				call()
			seen += _texts(classify(info.value))

		# the refresh itself is refused: invalid_grant, connection broken
		db.execute(f"UPDATE `{TABLE}` SET expires_at = 0 WHERE name = %(k)s", {"k": KEY})
		db.commit("test")
		with pytest.raises(XeroError) as info:
			api.get_organisations(TENANT)
		seen += _texts(info.value) + _texts(classify(info.value))
		assert "Reconnect" in info.value.message
	finally:
		db.close()

	out, err = capfd.readouterr()
	haystacks = {"log": caplog.text, "stdout": out, "stderr": err, "errors": "\n".join(seen)}
	for where, text in haystacks.items():
		for secret in secrets:
			assert secret not in text, f"a token or the client secret leaked into {where}"
	assert seen, "the failing calls produced no error texts to check"
