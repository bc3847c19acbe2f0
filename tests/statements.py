"""Count the SQL statements an operation issues: what issue 11 is measured by.

    with statements(db.engine) as seen:
        audit.flush(conn, pending)
    assert [s.verb for s in seen] == ["SELECT", "WITH"]

Every call into the driver's cursor is one (an ``executemany`` is one, flagged ``many``);
the pool's pings and a transaction's implicit BEGIN/COMMIT on PostgreSQL are not cursor
calls and are not counted (SQLite's ``BEGIN IMMEDIATE`` is, when it runs inside the block).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event


@dataclass(frozen=True)
class Statement:
    """One statement as the cursor received it."""

    sql: str
    many: bool

    @property
    def verb(self) -> str:
        """Its first word, upper-cased: SELECT, INSERT, WITH, UPDATE…"""
        return self.sql.split(None, 1)[0].upper()


@contextmanager
def statements(engine: Engine) -> Iterator[list[Statement]]:
    """The statements any connection of ``engine`` issues while the block runs."""
    seen: list[Statement] = []

    def record(_conn: Any, _cursor: Any, sql: str, _params: Any, _ctx: Any, many: bool) -> None:
        seen.append(Statement(sql, many))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
