"""OAuth 2.0 token endpoint behaviour: codes, rotating refresh tokens with a grace window, revocation."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from dataclasses import dataclass, field

ACCESS_LIFETIME = 1800  # seconds: Xero access tokens last 30 minutes
REFRESH_GRACE = 1800  # seconds: the previous refresh token keeps working for 30 minutes
REFRESH_IDLE = 60 * 86400  # seconds: unused refresh tokens die after 60 days
DEFAULT_SCOPE = "offline_access accounting.transactions accounting.contacts accounting.settings"


@dataclass
class _Refresh:
	"""One refresh token and, once used, the pair it was exchanged for."""

	family: str
	scope: str
	issued_at: float
	used_at: float | None = None
	successor: dict | None = None


@dataclass
class TokenStore:
	"""Issued codes and tokens; every method takes the emulator time explicitly."""

	codes: dict[str, str] = field(default_factory=dict)
	access: dict[str, tuple[float, str]] = field(default_factory=dict)
	refresh: dict[str, _Refresh] = field(default_factory=dict)
	revoked_families: set[str] = field(default_factory=set)
	calls: int = 0
	lock: threading.Lock = field(default_factory=threading.Lock)

	def issue_code(self, scope: str | None = None) -> str:
		"""Issue a single-use authorization code."""
		code = "code-" + secrets.token_urlsafe(12)
		with self.lock:
			self.codes[code] = scope or DEFAULT_SCOPE
		return code

	def _issue(self, now: float, scope: str, family: str) -> dict:
		"""Mint a new access/refresh pair in a token family (caller holds the lock)."""
		access = "at-" + secrets.token_urlsafe(24)
		refresh = "rt-" + secrets.token_urlsafe(24)
		self.access[access] = (now + ACCESS_LIFETIME, family)
		self.refresh[refresh] = _Refresh(family=family, scope=scope, issued_at=now)
		return {
			"access_token": access,
			"expires_in": ACCESS_LIFETIME,
			"token_type": "Bearer",
			"refresh_token": refresh,
			"scope": scope,
		}

	def issue(self, now: float, scope: str | None = None) -> dict:
		"""A fresh token set (as after an authorization-code exchange)."""
		with self.lock:
			return self._issue(now, scope or DEFAULT_SCOPE, secrets.token_hex(8))

	def exchange(self, now: float, form: dict[str, str]) -> tuple[int, dict]:
		"""Handle POST /connect/token; returns (status, json body)."""
		grant = form.get("grant_type", "")
		with self.lock:
			self.calls += 1
			if grant == "authorization_code":
				scope = self.codes.pop(form.get("code", ""), None)
				if scope is None:
					return 400, {"error": "invalid_grant"}
				return 200, self._issue(now, scope, secrets.token_hex(8))
			if grant == "refresh_token":
				return self._rotate(now, form.get("refresh_token", ""))
			if grant == "client_credentials":
				body = self._issue(now, form.get("scope") or DEFAULT_SCOPE, secrets.token_hex(8))
				body.pop("refresh_token")
				return 200, body
		return 400, {"error": "unsupported_grant_type"}

	def _rotate(self, now: float, token: str) -> tuple[int, dict]:
		"""Single-use rotation; a reused token inside the grace window gets the same new pair again."""
		record = self.refresh.get(token)
		if record is None or record.family in self.revoked_families or now > record.issued_at + REFRESH_IDLE:
			return 400, {"error": "invalid_grant"}
		if record.used_at is None:
			record.used_at = now
			record.successor = self._issue(now, record.scope, record.family)
			return 200, dict(record.successor)
		if now - record.used_at <= REFRESH_GRACE and record.successor:
			return 200, dict(record.successor)
		return 400, {"error": "invalid_grant"}

	def revoke(self, token: str) -> None:
		"""Revoke the family of a refresh (or access) token."""
		with self.lock:
			record = self.refresh.get(token)
			if record:
				self.revoked_families.add(record.family)
			elif token in self.access:
				self.revoked_families.add(self.access[token][1])

	def check_access(self, now: float, token: str) -> str | None:
		"""None if the access token is usable, else the 401 Detail text."""
		with self.lock:
			entry = self.access.get(token)
		if entry is None or entry[1] in self.revoked_families:
			return "AuthenticationUnsuccessful"
		expires_at = entry[0]
		if now >= expires_at:
			stamp = dt.datetime.fromtimestamp(expires_at, tz=dt.timezone.utc).strftime("%m/%d/%Y %H:%M:%S")
			return f"TokenExpired: token expired at {stamp}"
		return None
