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
from .tables import DraftState, InboxVerdict, MessageForm, OutboxState, Role

__all__ = [
    "Database",
    "DatabaseFullError",
    "DatabaseLockedError",
    "DatabaseReadOnlyError",
    "DatabaseUnavailableError",
    "DraftState",
    "InboxVerdict",
    "MessageForm",
    "OutboxState",
    "Role",
    "StoreError",
    "StoreSpace",
    "as_utc",
    "default_database_url",
    "open_database",
    "sqlite_pragmas",
    "upgrade",
]
