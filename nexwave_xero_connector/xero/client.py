"""Builds xero-python API objects safely: own Configuration, own token, our transport, our hosts.

The token getter must return the 7-key dict OAuth2Token.update_token accepts (see TokenDict). The SDK
splats it into update_token on every call, so an extra key breaks every call, and a `scope` stored as a
string is joined letter by letter on refresh. `normalise_token` guards both, on the way in and out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypedDict

from xero_python.accounting import AccountingApi
from xero_python.api_client import ApiClient, Configuration
from xero_python.api_client.oauth2 import OAuth2Token, TokenApi
from xero_python.identity import IdentityApi

from .hosts import XeroHosts
from .transport import DEFAULT_TIMEOUT, BeforeRequest, OnResponse, Timeout, install


class TokenDict(TypedDict):
	"""The token set as xero-python stores it; exactly these keys.

	access_token: the bearer token (30 minutes).
	refresh_token: the rotating refresh token (rotates on every refresh; 60 days idle).
	scope: a LIST of scope strings (a plain string breaks the SDK's refresh).
	expires_in: seconds the access token lived for when issued.
	expires_at: epoch seconds when it expires; None means the SDK never refreshes it.
	token_type: "Bearer".
	id_token: the OpenID token when openid was requested, else None.
	"""

	access_token: str | None
	refresh_token: str | None
	scope: list[str] | None
	expires_in: int | float | None
	expires_at: int | float | None
	token_type: str
	id_token: str | None


TokenGetter = Callable[[], Mapping[str, Any]]
TokenSaver = Callable[[TokenDict], None]


def normalise_token(token: Mapping[str, Any]) -> TokenDict:
	"""Keep the 7 keys the SDK accepts (missing ones None) and make `scope` a list."""
	scope = token.get("scope")
	if isinstance(scope, str):
		scope = scope.split()
	elif scope is not None:
		scope = [str(s) for s in scope]
	return TokenDict(
		access_token=token.get("access_token"),
		refresh_token=token.get("refresh_token"),
		scope=scope,
		expires_in=token.get("expires_in"),
		expires_at=token.get("expires_at"),
		token_type=token.get("token_type") or "Bearer",
		id_token=token.get("id_token"),
	)


class HostedOAuth2Token(OAuth2Token):
	"""OAuth2Token that refreshes and revokes at this client's hosts.

	TokenApi's URLs are class attributes, so setting them would move every client in the process
	(a bench worker serves several sites); instead we set them on the TokenApi instance per call.
	"""

	def __init__(self, hosts: XeroHosts, client_id: str, client_secret: str):
		super().__init__(client_id=client_id, client_secret=client_secret)
		self.hosts = hosts

	def call_refresh_token_api(self, token_api: TokenApi) -> dict:
		"""Refresh at hosts.token_url."""
		token_api.refresh_token_url = self.hosts.token_url
		return super().call_refresh_token_api(token_api)

	def fetch_access_token(self, token_api: TokenApi, token_valid_from: float | None = None) -> dict:
		"""Refresh, then trim the answer to the 7 keys (an extra key would break update_token)."""
		return dict(normalise_token(super().fetch_access_token(token_api, token_valid_from)))

	def revoke_access_token(self, api_client: ApiClient) -> bool:
		"""Revoke the refresh token at hosts.revoke_url, then save an empty token set."""
		if not self.can_refresh_access_token():
			return False
		token_api = TokenApi(api_client, self.client_id, self.client_secret)
		token_api.revoke_token_url = self.hosts.revoke_url
		token_api.revoke_token(self.refresh_token)
		empty = normalise_token({})
		self.update_token(**empty)
		api_client.set_oauth2_token(empty)
		return True


def build_api_client(
	hosts: XeroHosts,
	*,
	token_getter: TokenGetter,
	token_saver: TokenSaver,
	client_id: str = "",
	client_secret: str = "",
	timeout: Timeout = DEFAULT_TIMEOUT,
	on_response: OnResponse | None = None,
	before_request: BeforeRequest | None = None,
) -> ApiClient:
	"""An ApiClient with its own Configuration and token, our transport and normalised token hooks."""
	# Configuration() returns a copy of the first instance ever built and ignores arguments, so never
	# pass any: assign every attribute after construction
	cfg = Configuration()
	cfg.debug = False  # a shared default with debug on would print Authorization headers
	cfg.oauth2_token = HostedOAuth2Token(hosts, client_id, client_secret)
	client = ApiClient(cfg)
	client.oauth2_token_getter(lambda: normalise_token(token_getter()))
	client.oauth2_token_saver(lambda token: token_saver(normalise_token(token)))
	install(client, timeout=timeout, on_response=on_response, before_request=before_request)
	return client


def build_accounting_api(hosts: XeroHosts, **options: Any) -> AccountingApi:
	"""An AccountingApi at hosts.api_url; `options` are build_api_client's keyword arguments."""
	return AccountingApi(build_api_client(hosts, **options), base_url=hosts.api_url)


def build_identity_api(hosts: XeroHosts, **options: Any) -> IdentityApi:
	"""An IdentityApi (GET/DELETE /Connections) at hosts.identity_url; options as build_api_client."""
	return IdentityApi(build_api_client(hosts, **options), base_url=hosts.identity_url)
