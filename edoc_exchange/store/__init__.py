"""The store: tables and migrations; SQLite by default, PostgreSQL by URL."""

from .db import (
    Database,
    DatabaseLockedError,
    DatabaseReadOnlyError,
    StoreError,
    as_utc,
    default_database_url,
    open_database,
    upgrade,
)
from .tables import InboxVerdict, OutboxState

__all__ = [
    "Database",
    "DatabaseLockedError",
    "DatabaseReadOnlyError",
    "InboxVerdict",
    "OutboxState",
    "StoreError",
    "as_utc",
    "default_database_url",
    "open_database",
    "upgrade",
]
