"""The one place that opens the database: SQLite by default, PostgreSQL by URL.

Durable before acknowledged: a commit returns only once it is on disk, because the daemon
tells the axis "done" (and a clerk "queued") right after it. SQLite runs in WAL mode with
``synchronous=FULL`` (the WAL is fsynced at every commit; ``NORMAL`` lost the last
seconds of commits when the power was cut) and PostgreSQL with ``synchronous_commit=on``.

Reads do not take the write lock: a transaction begins with a plain (deferred) ``BEGIN``;
only :meth:`Database.transaction`, the write transaction, begins with ``BEGIN IMMEDIATE``
(a reader that later writes would otherwise fail on the upgrade). The WAL is truncated
after it grew large (:meth:`Database.trim_wal`), so one large message does not leave a
file of hundreds of megabytes behind. Driver errors leave as :class:`StoreError`
subclasses with a message a person can act on, never as tracebacks. Migrations are
alembic revisions shipped in the package, applied by :func:`upgrade`.

PostgreSQL connections are not pinged before use (a round trip per transaction): a pooled
connection is replaced once it is :data:`PG_POOL_RECYCLE` seconds old, one the server has
already closed (a restart, an idle timeout) is recognised at checkout without a round trip
(its socket has something to read while idle), and :meth:`Database.run` runs a transaction
again on a new connection when the connection turns out dead before the commit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    InternalError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from ..errors import EdocError
from ..vntime import as_utc

__all__ = [
    "Database",
    "DatabaseFullError",
    "DatabaseLockedError",
    "DatabaseReadOnlyError",
    "DatabaseUnavailableError",
    "StoreError",
    "StoreSpace",
    "as_utc",
    "default_database_url",
    "open_database",
    "sqlite_pragmas",
    "upgrade",
]

#: How long SQLite waits for another writer before reporting the database as locked.
SQLITE_BUSY_TIMEOUT_MS = 10_000
#: A WAL larger than this is checkpointed and truncated (and SQLite itself cuts it back to
#: this size whenever it restarts the log).
WAL_TRIM_BYTES = 64 * 1024 * 1024
#: How long a WAL checkpoint waits for readers and writers before trying again later.
CHECKPOINT_BUSY_MS = 2_000
#: Seconds to wait for a PostgreSQL server to accept a connection.
PG_CONNECT_TIMEOUT = 10
#: A pooled PostgreSQL connection older than this (seconds) is replaced at checkout rather
#: than used: firewalls and poolers drop long-lived connections silently.
PG_POOL_RECYCLE = 600
#: How many times :meth:`Database.run` runs a transaction whose connection died before
#: its commit (the first run included).
RUN_ATTEMPTS = 2

log = logging.getLogger("edoc.store")
_T = TypeVar("_T")

Synchronous = Literal["full", "extra", "normal"]
_WRITE = "edoc_write"  # execution option: this connection's transaction will write


class StoreError(EdocError):
    """The database could not do what was asked; the message says why and what to do."""


class DatabaseLockedError(StoreError):
    """Another process holds the database for too long (SQLite) or a lock timed out."""


class DatabaseReadOnlyError(StoreError):
    """The database file or its folder cannot be written."""


class DatabaseFullError(StoreError):
    """The disk (or the database's size limit) is full: nothing new can be stored."""


class DatabaseUnavailableError(StoreError):
    """The database cannot be reached or read: server down, disk failing, file missing."""


@dataclass(frozen=True, slots=True)
class StoreSpace:
    """Room left for the store (SQLite): on its disk, and under its page limit."""

    free_bytes: int  #: the smaller of the two
    disk_free_bytes: int
    pages_left_bytes: int


def default_data_dir() -> Path:
    """The platform's per-user data folder for edoc-exchange."""
    if sys.platform == "win32":  # pragma: no cover - not run here
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":  # pragma: no cover - not run here
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "edoc-exchange"


def default_database_url() -> str:
    """``sqlite:///<data folder>/edoc.sqlite3``."""
    return f"sqlite:///{default_data_dir() / 'edoc.sqlite3'}"


def sqlite_pragmas(
    dbapi_conn: Any,
    *,
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    synchronous: Synchronous = "full",
) -> None:
    """The one SQLite setup of a new connection: WAL, FULL sync, foreign keys, a busy
    timeout, a bounded WAL. Every SQLite database of the project (the store, the sandbox's
    local axis) opens its connections through this."""
    level = {"full": "FULL", "extra": "EXTRA", "normal": "NORMAL"}[synchronous]
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    cursor.execute("PRAGMA foreign_keys = ON")
    # A read-only file keeps whatever journal mode it has.
    with contextlib.suppress(Exception):
        cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute(f"PRAGMA synchronous = {level}")
    cursor.execute(f"PRAGMA journal_size_limit = {WAL_TRIM_BYTES}")
    cursor.close()


def _sqlite_setup(engine: Engine, busy_timeout_ms: int, synchronous: Synchronous) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        sqlite_pragmas(dbapi_conn, busy_timeout_ms=busy_timeout_ms, synchronous=synchronous)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Only a write transaction takes the write lock up front; a read never waits for
        # a writer (WAL readers see the last commit) and never holds one up.
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _errors_are_store_errors(engine: Engine, url: str) -> None:
    """Every connection of the engine — a step's own ``engine.connect()`` too, not only
    :meth:`Database.transaction` — raises the store's errors for a database that fails
    (locked, read-only, full, down, disk I/O). Integrity errors stay SQLAlchemy's: the
    store catches them itself to recognise a duplicate."""

    @event.listens_for(engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        if context.is_pre_ping:
            return  # the pool reconnects
        error = context.sqlalchemy_exception
        if error is not None and _server_ended_session(error):
            # psycopg reports a terminated session as an error while its socket still
            # looks open: tell SQLAlchemy the connection is gone, so that it is thrown
            # away (not returned to the pool) and Database.run may run the work again.
            context.is_disconnect = True
        if isinstance(error, OperationalError | InterfaceError | InternalError):
            translated = translate_error(error, url)
            translated.__cause__ = error
            raise translated


def _closed_by_server(dbapi_conn: Any) -> bool:
    """Whether the server already closed this idle psycopg connection, without asking it.

    An idle connection has nothing to read: after a restart, ``pg_terminate_backend`` or
    ``idle_session_timeout`` the server writes its FATAL notice and closes, so the socket
    is readable (or gone). One ``poll`` with no wait; no round trip.
    """
    if dbapi_conn.closed or dbapi_conn.broken:
        return True
    try:
        fd = dbapi_conn.pgconn.socket
    except Exception:  # psycopg raises its OperationalError for a closed connection
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def _postgres_setup(engine: Engine) -> None:
    if hasattr(select, "poll"):

        @event.listens_for(engine, "checkout")
        def _on_checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
            # The pool throws this connection away and takes (or makes) another.
            if _closed_by_server(dbapi_conn):
                raise DisconnectionError("the server closed this connection")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # A server (or role) configured with synchronous_commit=off would acknowledge
        # commits it has not flushed: this session insists on durable commits.
        with dbapi_conn.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO on")
        dbapi_conn.commit()


class Database:
    """An engine plus the conventions of this project; create with :func:`open_database`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.is_postgres = engine.dialect.name == "postgresql"
        database = engine.url.database if self.is_sqlite else None
        #: The SQLite file (None for PostgreSQL and in-memory databases).
        self.sqlite_path: Path | None = (
            Path(database).expanduser()
            if database and database != ":memory:" and not database.startswith("file:")
            else None
        )
        if self.is_sqlite and database and database.startswith("file:"):
            self.sqlite_path = Path(database[5:].partition("?")[0]).expanduser()

    @property
    def url(self) -> str:
        """The URL with any password hidden (safe to print)."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def _connection(self, *, write: bool) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                if write:
                    conn.execution_options(**{_WRITE: True})
                with conn.begin():
                    yield conn
        except (DBAPIError, PoolTimeoutError) as exc:
            raise translate_error(exc, self.url) from exc

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction; committed (and on disk) on success, rolled back on any
        exception.

        Driver errors become :class:`StoreError` subclasses (locked, read-only, full,
        unavailable) with a message a person can act on; nothing is half-written either way.
        """
        with self._connection(write=True) as conn:
            yield conn

    def run(self, work: Callable[[Connection], _T], *, attempts: int = RUN_ATTEMPTS) -> _T:
        """Run ``work(conn)`` in a write transaction, commit, and return what it returned.

        If the connection turns out to be dead (the server restarted, the network dropped
        it) before the commit began, nothing was committed: the transaction is rolled back
        and ``work`` runs again on a new connection, up to ``attempts`` runs in all. A
        connection lost *during* the commit is not retried (the commit may have happened)
        and raises :class:`DatabaseUnavailableError`. So ``work`` must do nothing outside
        the transaction that cannot be done twice, and build its state (an audit batch)
        inside. Other errors are raised as by :meth:`transaction`.
        """
        for attempt in range(1, attempts + 1):
            committing = False
            try:
                with self._connection(write=True) as conn:
                    result = work(conn)
                    committing = True
                return result
            except StoreError as exc:
                if committing or attempt == attempts or not _disconnected(exc):
                    raise
                log.warning(
                    "database connection lost before commit; running the transaction again "
                    "on a new connection (%s of %s): %s",
                    attempt + 1,
                    attempts,
                    exc.en,
                )
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction: one consistent snapshot, no write lock, errors as in
        :meth:`transaction`. Writing in it is a bug (on SQLite it may fail as locked)."""
        with self._connection(write=False) as conn:
            yield conn

    def trim_wal(self, *, force: bool = False, limit_bytes: int | None = None) -> bool:
        """Copy the WAL into the database and truncate it, when it is larger than
        ``limit_bytes`` (default :data:`WAL_TRIM_BYTES`), or always with ``force``; SQLite
        only.

        Returns whether the WAL was truncated. A checkpoint that finds readers or a writer
        busy for more than a moment gives up (returns False) and is tried again later: it
        never holds the daemon up. Raises StoreError only for a database that fails.
        """
        if not self.is_sqlite or self.sqlite_path is None:
            return False
        try:
            size = Path(f"{self.sqlite_path}-wal").stat().st_size
        except FileNotFoundError:
            return False
        limit = WAL_TRIM_BYTES if limit_bytes is None else limit_bytes
        if size == 0 or (not force and size <= limit):
            return False
        try:
            raw = self.engine.raw_connection()
            try:
                cursor = raw.cursor()
                # Outside any transaction (the driver is in autocommit mode): a checkpoint
                # inside one could not move past its own snapshot.
                cursor.execute(f"PRAGMA busy_timeout = {CHECKPOINT_BUSY_MS}")
                try:
                    busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                finally:
                    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
                    cursor.close()
            finally:
                raw.close()
        except (DBAPIError, PoolTimeoutError, sqlite3.Error) as exc:
            raise translate_error(exc, self.url) from exc
        return not busy

    def space(self) -> StoreSpace | None:
        """Room left for the store (SQLite: its disk and its page limit); None for
        PostgreSQL, whose server reports a full disk as an error on write."""
        if not self.is_sqlite or self.sqlite_path is None:
            return None
        try:
            stats = os.statvfs(self.sqlite_path.parent)
        except OSError as exc:
            raise DatabaseUnavailableError(
                f"Không đọc được thư mục của cơ sở dữ liệu {self.url}: {exc}",
                f"cannot read the folder of the database {self.url}: {exc}",
                step="store.space",
            ) from exc
        disk = stats.f_bavail * stats.f_frsize
        with self.read() as conn:
            page_size = int(conn.exec_driver_sql("PRAGMA page_size").scalar_one())
            pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())
            limit = int(conn.exec_driver_sql("PRAGMA max_page_count").scalar_one())
            free_pages = int(conn.exec_driver_sql("PRAGMA freelist_count").scalar_one())
        pages_left = (max(0, limit - pages) + free_pages) * page_size
        return StoreSpace(
            free_bytes=min(disk, pages_left), disk_free_bytes=disk, pages_left_bytes=pages_left
        )

    def dispose(self) -> None:
        """Close every pooled connection (tests, shutdown)."""
        self.engine.dispose()


def _disconnected(exc: BaseException) -> bool:
    """Whether the connection was found dead: SQLAlchemy invalidated it, or the driver's
    error (the cause of the store's error) says the server ended the session."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        if _server_ended_session(seen):
            return True
        seen = seen.__cause__
    return False


def _server_ended_session(exc: BaseException) -> bool:
    """The server ended this session (shut down, crashed, terminated it: SQLSTATE 57P01-3)
    or the connection failed (class 08)."""
    state = _sqlstate(exc)
    return state in ("57P01", "57P02", "57P03") or state.startswith("08")


def _sqlstate(exc: BaseException) -> str:
    """The SQLSTATE of a driver error, bare or wrapped by SQLAlchemy ("" if none)."""
    orig = getattr(exc, "orig", exc)
    return str(getattr(orig, "sqlstate", None) or "")


def translate_error(exc: BaseException, url: str) -> StoreError:
    """The project's error for a driver error, naming the database and what to do."""
    if isinstance(exc, PoolTimeoutError):
        return DatabaseUnavailableError(
            f"Không có kết nối rảnh tới cơ sở dữ liệu {url}; thử lại sau",
            f"no free connection to the database {url}; try again later",
            step="store",
        )
    orig = getattr(exc, "orig", None)
    detail = str(orig if orig is not None else exc).lower()
    state = _sqlstate(exc)
    if "locked" in detail or "lock timeout" in detail or state in ("55P03", "40P01"):
        return DatabaseLockedError(
            f"Cơ sở dữ liệu {url} đang bị khóa bởi tiến trình khác; thử lại sau",
            f"the database {url} is locked by another process; try again later",
            step="store",
        )
    if (
        "readonly" in detail
        or "read-only" in detail
        or "read only" in detail
        or state == "25006"
    ):
        return DatabaseReadOnlyError(
            f"Không ghi được cơ sở dữ liệu {url} (chỉ đọc); kiểm tra quyền ghi tệp và thư mục",
            f"cannot write the database {url} (read-only); check file and folder permissions",
            step="store",
        )
    if "is full" in detail or "no space left" in detail or state == "53100":
        return DatabaseFullError(
            f"Đĩa chứa cơ sở dữ liệu {url} đã đầy; giải phóng dung lượng rồi thử lại",
            f"the disk of the database {url} is full; free some space and try again",
            step="store",
        )
    if "disk i/o error" in detail or "unable to open" in detail:
        return DatabaseUnavailableError(
            f"Lỗi đọc/ghi đĩa của cơ sở dữ liệu {url}; kiểm tra ổ đĩa và tệp",
            f"disk I/O error on the database {url}; check the disk and the file: {orig}",
            step="store",
        )
    if (
        state.startswith("08")
        or state in ("57P01", "57P02", "57P03", "53300")
        or "connection" in detail
        or "could not connect" in detail
    ):
        return DatabaseUnavailableError(
            f"Không kết nối được cơ sở dữ liệu {url}; kiểm tra máy chủ cơ sở dữ liệu",
            f"cannot reach the database {url}; check the database server: {orig}",
            step="store",
        )
    return StoreError(
        f"Lỗi cơ sở dữ liệu {url}: {orig}",
        f"database error at {url}: {orig}",
        step="store",
    )


def open_database(
    url: str | None = None,
    *,
    echo: bool = False,
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    synchronous: Synchronous = "full",
) -> Database:
    """Open (not migrate) the database at ``url``, default SQLite in the data folder.

    ``busy_timeout_ms`` is how long a SQLite writer waits for another before giving up
    with :class:`DatabaseLockedError`. ``synchronous`` is SQLite's durability: ``"full"``
    (default) syncs every commit; ``"normal"`` is unsafe for this program — a power cut
    loses the last commits after the axis was told they were stored.
    """
    url = url or default_database_url()
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    elif parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs.update(
            # No ping before every transaction: see the module's docstring.
            pool_pre_ping=False,
            pool_recycle=PG_POOL_RECYCLE,
            pool_size=5,
            max_overflow=5,
            pool_timeout=30,
            connect_args={"connect_timeout": PG_CONNECT_TIMEOUT},
        )
    engine = create_engine(parsed, **kwargs)
    _errors_are_store_errors(engine, engine.url.render_as_string(hide_password=True))
    if engine.dialect.name == "sqlite":
        _sqlite_setup(engine, busy_timeout_ms, synchronous)
    elif engine.dialect.name == "postgresql":
        _postgres_setup(engine)
    return Database(engine)


def upgrade(db: Database, revision: str = "head") -> str:
    """Apply migrations up to ``revision``; return the revision the database is now at."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with db.transaction() as conn:
        if db.is_postgres:
            # Two daemons starting together must not both run the migration.
            conn.execute(text("SELECT pg_advisory_xact_lock(727373)"))
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        current = MigrationContext.configure(conn).get_current_revision()
    return current or "base"
