"""The database: `frappe.db` inside a site, a PyMySQL connection per thread outside, and the driver
errors the services tell apart (transient, duplicate, timed out)."""

from __future__ import annotations

import os
import threading
from typing import Any

import pymysql
from pymysql.constants import ER

from memora.runtime.site import frappe_module, in_site

_local = threading.local()


class StandaloneDB:
	"""A PyMySQL connection per thread that answers the part of `frappe.db` the services use."""

	def __init__(self, **conn_args: Any) -> None:
		self.conn_args = conn_args

	@property
	def name(self) -> str:
		return self.conn_args["database"]

	def _connection(self) -> pymysql.connections.Connection:
		conn = getattr(_local, "conn", None)
		if conn is None or not conn.open or getattr(_local, "conn_key", None) != id(self):
			conn = pymysql.connect(**self.conn_args)
			_local.conn, _local.conn_key = conn, id(self)
		return conn

	def sql(self, query: str, values: Any = None, as_dict: bool = False) -> Any:
		cursor_class = pymysql.cursors.DictCursor if as_dict else pymysql.cursors.Cursor
		with self._connection().cursor(cursor_class) as cursor:
			cursor.execute(query, values)
			rows = cursor.fetchall()
		return list(rows) if as_dict else rows

	def sql_ddl(self, query: str) -> None:
		"""DDL commits implicitly; commit first so the caller's writes are never swept up by surprise."""
		self.commit()
		self.sql(query)

	def commit(self) -> None:
		self._connection().commit()

	def rollback(self) -> None:
		conn = getattr(_local, "conn", None)
		if conn is not None and conn.open:
			conn.rollback()

	def close(self) -> None:
		conn = getattr(_local, "conn", None)
		if conn is not None and conn.open:
			conn.close()
		_local.conn = None


def database_name() -> str:
	"""The standalone database, read alone: key prefixes ask for it on every metric and Redis key."""
	return os.environ.get("MEMORA_DB_NAME", "memora")


def db_config() -> dict[str, Any]:
	"""Connection arguments for the standalone database, from the environment."""
	return {
		"host": os.environ.get("MEMORA_DB_HOST", "127.0.0.1"),
		"port": int(os.environ.get("MEMORA_DB_PORT", "3306")),
		"user": os.environ.get("MEMORA_DB_USER", "root"),
		"password": os.environ.get("MEMORA_DB_PASSWORD", ""),
		"database": database_name(),
		"charset": "utf8mb4",
		"autocommit": False,
		"connect_timeout": 5,
		"read_timeout": int(os.environ.get("MEMORA_DB_READ_TIMEOUT", "60")),
		"write_timeout": 60,
	}


_standalone_db: StandaloneDB | None = None


def db():
	"""`frappe.db` in a site, otherwise the standalone PyMySQL database (same `sql`/`commit`/`rollback`)."""
	if in_site():
		return frappe_module().db
	global _standalone_db
	config = db_config()
	if _standalone_db is None or _standalone_db.conn_args != config:
		_standalone_db = StandaloneDB(**config)
	return _standalone_db


TRANSIENT_DB_ERRORS = frozenset(
	{
		ER.LOCK_DEADLOCK,
		ER.LOCK_WAIT_TIMEOUT,
		# A partition change committed while the transaction was open ("Table definition has changed,
		# please retry transaction"): the whole transaction runs again, on the new definition.
		ER.TABLE_DEF_CHANGED,
		ER.SERVER_SHUTDOWN,
		ER.CON_COUNT_ERROR,
		1927,  # connection was killed
		2003,  # can't connect
		2006,  # server has gone away
		2013,  # lost connection during query
	}
)


def is_transient_db_error(exc: BaseException) -> bool:
	"""Errors worth retrying: the same statement may well succeed a moment later. Follows the cause
	chain, because Frappe re-raises deadlocks and lock wait timeouts as its own exceptions."""
	if exc.__cause__ is not None and is_transient_db_error(exc.__cause__):
		return True
	if isinstance(exc, pymysql.err.InterfaceError | ConnectionError | TimeoutError):
		return True
	return isinstance(exc, pymysql.err.MySQLError) and bool(exc.args) and exc.args[0] in TRANSIENT_DB_ERRORS


def reset_db_after_error() -> None:
	"""Roll back after a failed statement; if the connection died with it, drop the connection so the
	next query opens a fresh one (Frappe's `frappe.db` does not reconnect by itself)."""
	database = db()
	try:
		database.rollback()
	except (pymysql.err.Error, OSError):
		database.close()


def is_duplicate_entry(exc: BaseException) -> bool:
	return isinstance(exc, pymysql.err.IntegrityError) and bool(exc.args) and exc.args[0] == ER.DUP_ENTRY


STATEMENT_TIMEOUT = 1969  # ER_STATEMENT_TIMEOUT: max_statement_time exceeded


def driver_error(exc: BaseException) -> BaseException:
	"""The PyMySQL error behind `exc`: in a site, `frappe.db.sql` re-raises deadlocks and lock wait
	timeouts as its own QueryDeadlockError / QueryTimeoutError `from` the driver's error."""
	cause = exc.__cause__
	if not isinstance(exc, pymysql.err.MySQLError) and isinstance(cause, pymysql.err.MySQLError):
		return cause
	return exc


def is_db_error(exc: BaseException) -> bool:
	"""An error from the database server or the connection to it, as opposed to a bug in the caller."""
	return isinstance(driver_error(exc), pymysql.err.MySQLError | OSError)


def is_lock_wait_timeout(exc: BaseException) -> bool:
	"""A lock, row or metadata, not granted within lock_wait_timeout / innodb_lock_wait_timeout."""
	exc = driver_error(exc)
	return isinstance(exc, pymysql.err.MySQLError) and bool(exc.args) and exc.args[0] == ER.LOCK_WAIT_TIMEOUT


def is_statement_timeout(exc: BaseException) -> bool:
	"""A statement cut off by MariaDB's max_statement_time (`SET STATEMENT ... FOR`)."""
	exc = driver_error(exc)
	return isinstance(exc, pymysql.err.MySQLError) and bool(exc.args) and exc.args[0] == STATEMENT_TIMEOUT
