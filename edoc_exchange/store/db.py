"""The one place that opens the database: SQLite by default, PostgreSQL by URL.

SQLite runs in WAL mode with a busy timeout and starts every write transaction with
``BEGIN IMMEDIATE`` (a reader that later writes would otherwise deadlock on upgrade);
PostgreSQL is reached with psycopg 3. Migrations are alembic revisions shipped in the
package and applied by :func:`upgrade` (``edoc db upgrade``, and at daemon start).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from ..errors import EdocError
from ..vntime import as_utc

__all__ = [
    "Database",
    "DatabaseLockedError",
    "DatabaseReadOnlyError",
    "StoreError",
    "as_utc",
    "default_database_url",
    "open_database",
    "upgrade",
]

#: How long SQLite waits for another writer before reporting the database as locked.
SQLITE_BUSY_TIMEOUT_MS = 10_000


class StoreError(EdocError):
    """The database could not do what was asked; the message says why and what to do."""


class DatabaseLockedError(StoreError):
    """Another process holds the database for too long (SQLite) or a lock timed out."""


class DatabaseReadOnlyError(StoreError):
    """The database file or its folder cannot be written."""


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


def _sqlite_setup(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        # A read-only file keeps whatever journal mode it has.
        with contextlib.suppress(Exception):
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """An engine plus the conventions of this project; create with :func:`open_database`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.is_postgres = engine.dialect.name == "postgresql"

    @property
    def url(self) -> str:
        """The URL with any password hidden (safe to print)."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction; committed on success, rolled back on any exception.

        SQLite's "database is locked" and "read-only" errors become
        :class:`DatabaseLockedError` and :class:`DatabaseReadOnlyError` with a message a person can
        act on; nothing is half-written either way.
        """
        try:
            with self.engine.begin() as conn:
                yield conn
        except OperationalError as exc:
            raise translate_error(exc, self.url) from exc

    def dispose(self) -> None:
        """Close every pooled connection (tests, shutdown)."""
        self.engine.dispose()


def translate_error(exc: DBAPIError, url: str) -> StoreError:
    """The project's error for a driver error, naming the database."""
    detail = str(exc.orig).lower()
    if "locked" in detail or "lock timeout" in detail:
        return DatabaseLockedError(
            f"Cơ sở dữ liệu {url} đang bị khóa bởi tiến trình khác; thử lại sau",
            f"the database {url} is locked by another process; try again later",
            step="store",
        )
    if "readonly" in detail or "read-only" in detail or "read only" in detail:
        return DatabaseReadOnlyError(
            f"Không ghi được cơ sở dữ liệu {url} (chỉ đọc); kiểm tra quyền ghi tệp và thư mục",
            f"cannot write the database {url} (read-only); check file and folder permissions",
            step="store",
        )
    return StoreError(
        f"Lỗi cơ sở dữ liệu {url}: {exc.orig}",
        f"database error at {url}: {exc.orig}",
        step="store",
    )


def open_database(
    url: str | None = None,
    *,
    echo: bool = False,
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
) -> Database:
    """Open (not migrate) the database at ``url``, default SQLite in the data folder.

    ``busy_timeout_ms`` is how long a SQLite writer waits for another before giving up
    with :class:`DatabaseLockedError`.
    """
    url = url or default_database_url()
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    elif parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=5)
    engine = create_engine(parsed, **kwargs)
    if engine.dialect.name == "sqlite":
        _sqlite_setup(engine, busy_timeout_ms)
    return Database(engine)


def upgrade(db: Database, revision: str = "head") -> str:
    """Apply migrations up to ``revision``; return the revision the database is now at."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    try:
        with db.engine.begin() as conn:
            if db.is_postgres:
                # Two daemons starting together must not both run the migration.
                conn.execute(text("SELECT pg_advisory_xact_lock(727373)"))
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
            current = MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise translate_error(exc, db.url) from exc
    return current or "base"
