"""The journal's SqlDb over PyMySQL, for tests and the chaos harness (Frappe uses FrappeDb instead)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable

import pymysql
import pymysql.cursors

from .schema import create_all

DB_HOST = os.environ.get("NXC_TEST_DB_HOST", "127.0.0.1")
DB_PORT = int(os.environ.get("NXC_TEST_DB_PORT", "3306"))
DB_USER = os.environ.get("NXC_TEST_DB_USER", "root")
DB_PASSWORD = os.environ.get("NXC_TEST_DB_PASSWORD", "")


def connect(database: str | None = None) -> pymysql.connections.Connection:
	"""Open a REPEATABLE READ connection with autocommit off, as frappe.db does."""
	conn = pymysql.connect(
		host=DB_HOST,
		port=DB_PORT,
		user=DB_USER,
		password=DB_PASSWORD,
		database=database,
		charset="utf8mb4",
		autocommit=False,
		cursorclass=pymysql.cursors.DictCursor,
	)
	with conn.cursor() as cur:
		cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
	return conn


def create_database(prefix: str = "nxc_test") -> str:
	"""Create a fresh database with the connector's tables; return its name."""
	name = f"{prefix}_{uuid.uuid4().hex[:10]}"
	conn = connect()
	try:
		with conn.cursor() as cur:
			cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
			cur.execute(f"USE `{name}`")
			create_all(cur)
		conn.commit()
	finally:
		conn.close()
	return name


def drop_database(name: str) -> None:
	conn = connect()
	try:
		with conn.cursor() as cur:
			cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
		conn.commit()
	finally:
		conn.close()


class PyMySqlDb:
	"""SqlDb for sync.journal.SqlJournal: one connection, explicit commits.

	`offset` (seconds) moves this session's database clock: before each statement the session's
	`timestamp` is set to the server's real time plus the offset, so NOW()/UTC_TIMESTAMP() in the journal's
	lease SQL see the shifted time (SYSDATE is never shifted). Tests use it to expire leases and reach
	retry times; production never shifts anything.
	"""

	def __init__(self, database: str, offset: Callable[[], float] | None = None):
		self.conn = connect(database)
		self.commits: list[str] = []
		self.offset = offset

	def _shift(self, cur) -> None:
		seconds = self.offset() if self.offset else 0.0
		if seconds:
			cur.execute("SET SESSION timestamp = UNIX_TIMESTAMP(SYSDATE(6)) + %s", (seconds,))
			self._shifted = True
		elif getattr(self, "_shifted", False):
			cur.execute("SET SESSION timestamp = DEFAULT")
			self._shifted = False

	def query(self, sql: str, params: dict) -> list[dict]:
		with self.conn.cursor() as cur:
			self._shift(cur)
			cur.execute(sql, params)
			return list(cur.fetchall())

	def execute(self, sql: str, params: dict) -> int:
		with self.conn.cursor() as cur:
			self._shift(cur)
			return cur.execute(sql, params)

	def commit(self, reason: str) -> None:
		self.conn.commit()
		self.commits.append(reason)

	def rollback(self) -> None:
		self.conn.rollback()

	def is_lock_conflict(self, exc: Exception) -> bool:
		return isinstance(exc, pymysql.err.OperationalError) and exc.args[:1] in ((1213,), (1205,))

	def close(self) -> None:
		self.conn.close()
