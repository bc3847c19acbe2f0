"""The store: tables and migrations; SQLite by default, PostgreSQL by URL."""

from .db import (
    Database,
    DatabaseFullError,
    DatabaseLockedError,
    DatabaseReadOnlyError,
    DatabaseUnavailableError,
    StoreError,
    StoreSpace,
    as_utc,
    default_database_url,
    open_database,
    sqlite_pragmas,
    upgrade,
)
from .tables import InboxVerdict, MessageForm, OutboxState

__all__ = [
    "Database",
    "DatabaseFullError",
    "DatabaseLockedError",
    "DatabaseReadOnlyError",
    "DatabaseUnavailableError",
    "InboxVerdict",
    "MessageForm",
    "OutboxState",
    "StoreError",
    "StoreSpace",
    "as_utc",
    "default_database_url",
    "open_database",
    "sqlite_pragmas",
    "upgrade",
]
