"""Where the Xero endpoints live, so a site can point at a sandbox or our emulator."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# site_config.json key -> XeroHosts field
_SITE_KEYS = {
	"xero_api_url": "api_url",
	"xero_identity_url": "identity_url",
	"xero_token_url": "token_url",
	"xero_revoke_url": "revoke_url",
	"xero_authorize_url": "authorize_url",
}


@dataclass(frozen=True)
class XeroHosts:
	"""Base URLs of the Accounting API, the identity API (connections) and the OAuth endpoints."""

	api_url: str = "https://api.xero.com/api.xro/2.0"
	identity_url: str = "https://api.xero.com"
	token_url: str = "https://identity.xero.com/connect/token"
	revoke_url: str = "https://identity.xero.com/connect/revocation"
	authorize_url: str = "https://login.xero.com/identity/connect/authorize"

	@classmethod
	def from_site_config(cls, conf: Mapping) -> XeroHosts:
		"""Read the xero_*_url keys of a site config; a missing or empty key keeps Xero's real host."""
		values = {}
		for key, attr in _SITE_KEYS.items():
			value = conf.get(key)
			if isinstance(value, str) and value.strip():
				# a trailing slash would double up when the SDK appends "/Invoices"
				values[attr] = value.strip().rstrip("/")
		return cls(**values)
