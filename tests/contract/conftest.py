"""Fixtures for the Xero gateway contract tests: the real SDK, the wire pinned by `responses`."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import responses

from nexwave_xero_connector.xero.client import TokenDict, build_accounting_api
from nexwave_xero_connector.xero.gateway import SdkGateway
from nexwave_xero_connector.xero.hosts import XeroHosts

API = "https://api.xero.com/api.xro/2.0"
TENANT = "tenant-1"
ACCESS = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl"


def token(**changes: object) -> TokenDict:
	"""A valid 7-key token set (expires in 20 minutes)."""
	base = TokenDict(
		access_token=ACCESS,
		refresh_token="refresh-secret-1",
		scope=["offline_access", "accounting.transactions"],
		expires_in=1800,
		expires_at=time.time() + 1200,
		token_type="Bearer",
		id_token=None,
	)
	return TokenDict(**{**base, **changes})  # type: ignore[typeddict-item]


@pytest.fixture
def rs() -> Iterator[responses.RequestsMock]:
	"""Every HTTP request must be registered; unused registrations fail the test."""
	with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
		yield mock


@pytest.fixture
def saved() -> list[TokenDict]:
	"""Token sets the SDK asked us to save."""
	return []


@pytest.fixture
def api(saved: list[TokenDict]):
	"""An AccountingApi on the real SDK with a fixed, valid token."""
	return build_accounting_api(
		XeroHosts(), token_getter=token, token_saver=saved.append, client_id="cid", client_secret="csecret"
	)


@pytest.fixture
def gateway(api) -> SdkGateway:
	return SdkGateway(api)
