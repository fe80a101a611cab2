"""The Xero connection's stored state: the login in Token Cache, and whether it is usable.

xero.tokens.TokenKeeper refreshes tokens through TokenCacheTable, never through Connected App / Token
Cache.update_data: neither locks, and update_data commits the caller's transaction mid-job (frappe.md
§6). The table locks the Token Cache row (SELECT … FOR UPDATE), writes the rotated tokens encrypted into
__Auth exactly as a Password field save would (same Fernet `encrypt`) and bumps `modified` (Token Cache
expiry is modified + expires_in); the keeper commits once through FrappeDb.commit with a reason.
"""

from __future__ import annotations

import datetime

import frappe
import pytz
from frappe import _
from frappe.utils import cint, get_datetime, get_system_timezone
from frappe.utils.password import decrypt, encrypt

from nexwave_xero_connector import adapters
from nexwave_xero_connector.constants import (
	CONNECTION_BROKEN,
	SETTINGS_DOCTYPE,
	TOKEN_CACHE_DOCTYPE,
)
from nexwave_xero_connector.xero.tokens import StoredToken

_SECRET_FIELDS = ("access_token", "refresh_token")


def set_status(status: str, note: str = "") -> None:
	"""Write connection_status/note without saving the whole Single (no validation, no version)."""
	adapters.set_settings_values({"connection_status": status, "connection_note": note})


def token_cache_name(settings) -> str | None:
	"""The Token Cache row of the connected user, if it exists."""
	if not settings.connected_app or not settings.connected_user:
		return None
	name = f"{settings.connected_app}-{settings.connected_user}"
	return name if frappe.db.exists(TOKEN_CACHE_DOCTYPE, name) else None


def is_connection_usable() -> bool:
	"""True when a token exists for the connected user and the connection is not marked Broken."""
	settings = adapters.settings_values("connected_app", "connected_user", "connection_status")
	if settings.connection_status == CONNECTION_BROKEN:
		return False
	return bool(token_cache_name(settings))


def mark_broken(reason: str) -> None:
	"""Settings say Broken (the drain stops) and System Managers are told to reconnect. The note keeps the
	reason alone: every place that shows it says what to do in its own words (api.connection_alerts)."""
	set_status(CONNECTION_BROKEN, reason)
	_notify_system_managers(
		_("Xero connection broken"), _("{0} Reconnect to Xero in Xero Sync Settings.").format(reason)
	)


def _notify_system_managers(subject: str, message: str) -> None:
	from frappe.desk.doctype.notification_log.notification_log import enqueue_create_notification
	from frappe.utils.user import get_users_with_role

	users = get_users_with_role("System Manager")
	if users:
		enqueue_create_notification(
			users,
			{
				"type": "Alert",
				"subject": subject,
				"email_content": message,
				"document_type": SETTINGS_DOCTYPE,
				"document_name": SETTINGS_DOCTYPE,
			},
		)


class TokenCacheTable:
	"""xero.tokens.TokenTable over Frappe's Token Cache "{connected_app}-{user}".

	The secrets live encrypted in __Auth (Password fields); with `lock` every read is a locking read, so
	under REPEATABLE READ it sees the latest committed token, not the transaction's old snapshot.
	"""

	def __init__(self, connected_app: str, user: str):
		self.name = f"{connected_app}-{user}"

	def read(self, db, *, lock: bool) -> StoredToken | None:
		suffix = " FOR UPDATE" if lock else ""
		rows = db.query(
			"SELECT name, modified, expires_in, token_type FROM `tabToken Cache` WHERE name = %(name)s"
			+ suffix,
			{"name": self.name},
		)
		if not rows:
			return None
		row = rows[0]
		secrets = {
			r["fieldname"]: decrypt(r["password"], key=f"{TOKEN_CACHE_DOCTYPE}.{self.name}.{r['fieldname']}")
			for r in db.query(
				"SELECT fieldname, `password` FROM `__Auth` WHERE doctype = %(doctype)s AND name = %(name)s "
				"AND fieldname IN %(fields)s AND encrypted = 1" + suffix,
				{"doctype": TOKEN_CACHE_DOCTYPE, "name": self.name, "fields": _SECRET_FIELDS},
			)
			if r["password"]
		}
		scopes = [
			r["scope"]
			for r in db.query(
				"SELECT scope FROM `tabOAuth Scope` WHERE parent = %(name)s AND parenttype = %(doctype)s "
				"ORDER BY idx" + (" LOCK IN SHARE MODE" if lock else ""),
				{"name": self.name, "doctype": TOKEN_CACHE_DOCTYPE},
			)
			if r["scope"]
		]
		broken = (
			adapters.settings_values("connection_status", lock=lock).connection_status == CONNECTION_BROKEN
		)
		expires_in = cint(row["expires_in"])
		saved_at = _epoch(row["modified"])
		return StoredToken(
			access_token=secrets.get("access_token"),
			refresh_token=secrets.get("refresh_token"),
			scope=scopes,
			expires_at=saved_at + expires_in if expires_in else None,
			expires_in=expires_in or None,
			token_type=row["token_type"] or "Bearer",
			refreshed_at=saved_at,
			broken=broken,
			broken_reason=_("The Xero connection is marked Broken.") if broken else "",
		)

	def write(self, db, token, now: float) -> None:
		"""Store the new pair like Token Cache.update_data would, without its save() and commit()."""
		db.execute(
			"UPDATE `tabToken Cache` SET modified = %(modified)s, expires_in = %(expires_in)s, "
			"token_type = %(token_type)s, access_token = %(mask_a)s, refresh_token = %(mask_r)s "
			"WHERE name = %(name)s",
			{
				"modified": _system_datetime(now),
				"expires_in": cint(token.get("expires_in")),
				"token_type": token.get("token_type") or "Bearer",
				"mask_a": "*" * len(token.get("access_token") or ""),
				"mask_r": "*" * len(token.get("refresh_token") or ""),
				"name": self.name,
			},
		)
		for field in _SECRET_FIELDS:
			if token.get(field):
				db.execute(
					"INSERT INTO `__Auth` (doctype, name, fieldname, `password`, encrypted) "
					"VALUES (%(doctype)s, %(name)s, %(field)s, %(password)s, 1) "
					"ON DUPLICATE KEY UPDATE `password` = VALUES(`password`), encrypted = 1",
					{
						"doctype": TOKEN_CACHE_DOCTYPE,
						"name": self.name,
						"field": field,
						"password": encrypt(token[field]),
					},
				)

	def mark_broken(self, db, reason: str) -> None:
		mark_broken(reason)


def _epoch(value) -> float:
	"""Epoch seconds of a naive datetime in the system time zone (how Frappe stores `modified`)."""
	return pytz.timezone(get_system_timezone()).localize(get_datetime(value)).timestamp()


def _system_datetime(epoch: float) -> datetime.datetime:
	moment = datetime.datetime.fromtimestamp(epoch, tz=pytz.timezone(get_system_timezone()))
	return moment.replace(tzinfo=None)
