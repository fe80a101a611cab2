"""One token refresh at a time across every worker and host, serialised by a database row lock.

Xero rotates the refresh token on every refresh and the previous one only works for 30 more minutes, so
two workers refreshing the same token set at once can leave the stored token dead (xero.md §8.2, §8.5).
TokenKeeper.current() therefore:

1. reads the stored token; if it stays valid for more than `margin_seconds`, returns it (no lock);
2. otherwise locks the token row (SELECT … FOR UPDATE), RE-READS it inside the lock (another worker may
   have refreshed it meanwhile) and refreshes only if it is still expiring;
3. persists the rotated refresh token BEFORE returning it and commits (the keeper's one commit point,
   which also releases the lock);
4. a refresh answered `invalid_grant` marks the connection broken and raises XeroError(CONNECTION): the
   stored token is dead, nobody tries again until the user reconnects.

The keeper is framework-free: it talks to a SqlDb (query/execute/commit, like the journal's) through a
TokenTable that knows where the token lives. SqlTokenTable is a plain table (tests, other hosts); the
Frappe app uses connection.TokenCacheTable (Frappe's Token Cache with the secrets encrypted in __Auth).

Secrets never go into exception texts or logs: errors name the endpoint and status only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

from ..sync.errors import XeroError
from ..sync.model import ErrorClass
from .client import TokenDict, normalise_token

RECONNECT_MESSAGE = (
	"Reconnect to Xero in Xero Sync Settings: Xero no longer accepts the saved login (invalid_grant). "
	"Nothing was sent."
)
NOT_CONNECTED_MESSAGE = (
	"Xero is not connected. Press Connect to Xero in Xero Sync Settings. Nothing was sent."
)
# OAuth error codes meaning the refresh token (or the app's credentials) can never work again
FATAL_OAUTH_ERRORS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})


class SqlDb(Protocol):
	def query(self, sql: str, params: dict) -> list[dict]: ...

	def execute(self, sql: str, params: dict) -> int: ...

	def commit(self, reason: str) -> None: ...


@dataclass
class StoredToken:
	"""The token set as stored, plus the connection's state."""

	access_token: str | None
	refresh_token: str | None
	scope: list[str] = field(default_factory=list)
	expires_at: float | None = None  # epoch seconds
	expires_in: int | None = None
	token_type: str = "Bearer"
	refreshed_at: float | None = None  # epoch seconds of the last issue/refresh
	broken: bool = False
	broken_reason: str = ""

	def as_sdk_token(self) -> TokenDict:
		"""Exactly the 7 keys xero-python accepts, scope as a list."""
		return normalise_token(
			{
				"access_token": self.access_token,
				"refresh_token": self.refresh_token,
				"scope": list(self.scope or []),
				"expires_in": self.expires_in,
				"expires_at": self.expires_at,
				"token_type": self.token_type or "Bearer",
				"id_token": None,
			}
		)


class TokenTable(Protocol):
	"""Where one token set lives: read (optionally locking the row), write, mark broken."""

	def read(self, db: SqlDb, *, lock: bool) -> StoredToken | None: ...

	def write(self, db: SqlDb, token: Mapping[str, Any], now: float) -> None: ...

	def mark_broken(self, db: SqlDb, reason: str) -> None: ...


class InvalidGrant(Exception):
	"""The token endpoint refused the refresh token for good (invalid_grant and friends)."""

	def __init__(self, error: str):
		super().__init__(error)
		self.error = error


class TokenKeeper:
	"""Hands out a valid access token; refreshes under a row lock so only one worker ever refreshes."""

	def __init__(
		self,
		db: SqlDb,
		*,
		table: TokenTable,
		refresh: Callable[[str], Mapping[str, Any]],
		clock: Callable[[], float] = time.time,
		margin_seconds: float = 300,
	):
		self.db = db
		self.table = table
		self.refresh = refresh
		self.clock = clock
		self.margin = margin_seconds

	def current(self) -> TokenDict:
		"""A token valid for more than `margin_seconds`, refreshing it (once, cluster-wide) if needed."""
		token = self._read(lock=False)
		if not self._expiring(token):
			return token.as_sdk_token()
		return self._locked_refresh(self._expiring, "xero token refreshed").as_sdk_token()

	def renew(self, *, refreshed_before: float) -> TokenDict:
		"""Refresh if the token was last refreshed before `refreshed_before` (keeps an idle login alive)."""

		def stale(token: StoredToken) -> bool:
			return self._expiring(token) or (token.refreshed_at or 0) < refreshed_before

		return self._locked_refresh(stale, "idle xero token renewed").as_sdk_token()

	def store(self, token: Mapping[str, Any]) -> None:
		"""Save a token someone else obtained (e.g. the SDK's own refresh), under the row lock."""
		self._read(lock=True)
		self.table.write(self.db, normalise_token(token), self.clock())
		self.db.commit("xero token saved")

	# ---- internals ------------------------------------------------------------------------------

	def _expiring(self, token: StoredToken) -> bool:
		return token.expires_at is None or token.expires_at - self.clock() <= self.margin

	def _read(self, *, lock: bool) -> StoredToken:
		token = self.table.read(self.db, lock=lock)
		if token is None or not (token.access_token or token.refresh_token):
			raise XeroError(NOT_CONNECTED_MESSAGE, error_class=ErrorClass.CONNECTION)
		if token.broken:
			raise XeroError(
				RECONNECT_MESSAGE, error_class=ErrorClass.CONNECTION, detail=token.broken_reason or ""
			)
		return token

	def _locked_refresh(self, needed: Callable[[StoredToken], bool], reason: str) -> StoredToken:
		"""Lock the row, re-read, refresh if still `needed`, persist, commit (which releases the lock)."""
		commit_reason = "xero token lock released"
		broken: XeroError | None = None
		try:
			try:
				token = self.table.read(self.db, lock=True)
			except Exception:
				commit_reason = "xero token lock released after a failed read"
				raise
			if token is None or not token.refresh_token or token.broken:
				# _read raises the right XeroError (the lock is released by the commit below)
				return self._read(lock=True)
			if not needed(token):
				return token  # another worker refreshed while we waited for the lock
			try:
				answer = self.refresh(token.refresh_token)
			except InvalidGrant as exc:
				broken = XeroError(
					RECONNECT_MESSAGE,
					error_class=ErrorClass.CONNECTION,
					status=400,
					detail=f"token endpoint answered {exc.error}",
				)
				self.table.mark_broken(self.db, f"Xero refused the refresh token ({exc.error}).")
				commit_reason = "xero connection marked broken"
				raise broken from None
			now = self.clock()
			fresh = normalise_token(answer)
			if not fresh.get("refresh_token"):
				fresh["refresh_token"] = token.refresh_token  # a provider that does not rotate
			if not fresh.get("scope"):
				fresh["scope"] = list(token.scope)
			self.table.write(self.db, fresh, now)
			commit_reason = reason
			return self.table.read(self.db, lock=True) or token
		finally:
			self.db.commit(commit_reason)


def _number(value: Any) -> float | None:
	try:
		return float(value) if value is not None and value != "" else None
	except (TypeError, ValueError):
		return None


class SqlTokenTable:
	"""A token set in one row of a plain table.

	Columns: access_token, refresh_token, scope (space-separated), expires_at, expires_in, token_type,
	refreshed_at (epoch seconds), broken (0/1), broken_reason. `table` and `key_column` are trusted
	identifiers (code constants), `key` is a bound parameter.
	"""

	COLUMNS = (
		"access_token, refresh_token, scope, expires_at, expires_in, token_type, refreshed_at, broken, "
		"broken_reason"
	)

	def __init__(self, table: str, key_column: str, key: str):
		self.table = table
		self.key_column = key_column
		self.key = key

	def read(self, db: SqlDb, *, lock: bool) -> StoredToken | None:
		sql = f"SELECT {self.COLUMNS} FROM `{self.table}` WHERE `{self.key_column}` = %(key)s"
		rows = db.query(sql + (" FOR UPDATE" if lock else ""), {"key": self.key})
		if not rows:
			return None
		row = rows[0]
		return StoredToken(
			access_token=row["access_token"],
			refresh_token=row["refresh_token"],
			scope=(row["scope"] or "").split(),
			expires_at=_number(row["expires_at"]),
			expires_in=int(row["expires_in"] or 0) or None,
			token_type=row["token_type"] or "Bearer",
			refreshed_at=_number(row["refreshed_at"]),
			broken=bool(row["broken"]),
			broken_reason=row["broken_reason"] or "",
		)

	def write(self, db: SqlDb, token: Mapping[str, Any], now: float) -> None:
		expires_in = int(token.get("expires_in") or 0)
		db.execute(
			f"UPDATE `{self.table}` SET access_token = %(access_token)s, refresh_token = %(refresh_token)s, "
			"scope = %(scope)s, expires_in = %(expires_in)s, expires_at = %(expires_at)s, "
			"token_type = %(token_type)s, refreshed_at = %(now)s, broken = 0, broken_reason = NULL "
			f"WHERE `{self.key_column}` = %(key)s",
			{
				"access_token": token.get("access_token"),
				"refresh_token": token.get("refresh_token"),
				"scope": " ".join(token.get("scope") or []),
				"expires_in": expires_in,
				"expires_at": now + expires_in,
				"token_type": token.get("token_type") or "Bearer",
				"now": now,
				"key": self.key,
			},
		)

	def mark_broken(self, db: SqlDb, reason: str) -> None:
		db.execute(
			f"UPDATE `{self.table}` SET broken = 1, broken_reason = %(reason)s WHERE `{self.key_column}` = %(key)s",
			{"reason": reason, "key": self.key},
		)


def http_refresher(
	token_url: str,
	client_id: str,
	client_secret: str,
	*,
	timeout: tuple[float, float] = (10, 30),
	session: requests.Session | None = None,
) -> Callable[[str], dict]:
	"""A `refresh` for TokenKeeper: POST grant_type=refresh_token to the token endpoint.

	Credentials go in the form body (client_secret_post, as xero-python does). Raises InvalidGrant for
	a refused refresh token, XeroError(TRANSIENT) for anything else; texts never contain the tokens.
	"""
	http = session or requests.Session()

	def refresh(refresh_token: str) -> dict:
		try:
			resp = http.post(
				token_url,
				data={
					"grant_type": "refresh_token",
					"refresh_token": refresh_token,
					"client_id": client_id,
					"client_secret": client_secret,
				},
				headers={"Accept": "application/json"},
				timeout=timeout,
				allow_redirects=False,
			)
		except requests.RequestException as exc:
			# A refresh that may have reached Xero is safe to repeat with the same token for 30 minutes
			raise XeroError(
				"Could not refresh the Xero login (network problem); it will be retried.",
				error_class=ErrorClass.TRANSIENT,
				detail=f"POST {token_url}: {type(exc).__name__}",
			) from None
		try:
			body = resp.json()
		except ValueError:
			body = {}
		if resp.status_code == 200 and isinstance(body, dict) and body.get("access_token"):
			return body
		error = body.get("error") if isinstance(body, dict) else None
		if resp.status_code in (400, 401) and error in FATAL_OAUTH_ERRORS:
			raise InvalidGrant(str(error))
		raise XeroError(
			f"Could not refresh the Xero login (HTTP {resp.status_code}); it will be retried.",
			error_class=ErrorClass.TRANSIENT,
			status=resp.status_code,
			detail=f"POST {token_url}: HTTP {resp.status_code} {error or ''}".strip(),
		)

	return refresh
