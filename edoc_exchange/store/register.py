"""The outgoing register (sổ văn bản đi): numbers handed out once per office, notation and
year, whatever runs at the same time.

A number is taken by inserting its row under the register's primary key (office, notation,
year, number), in a savepoint: of several processes that read the same highest number and
try the next one, one insert wins and the others hit the key, roll back to the savepoint,
read again and try the number after. It works the same on SQLite (whose writers are
serialised anyway) and PostgreSQL (where the loser waits for the winner's commit, then
sees its row). Reading the highest number and writing the next is never left to two
separate transactions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from .db import StoreError
from .tables import outgoing_register

__all__ = ["NumberTakenError", "numbers_taken", "release", "reserve"]

#: Clashes tolerated before giving up: each one means another process took a number.
_ATTEMPTS = 50


class NumberTakenError(StoreError):
    """The number asked for is already in the register (or on a queued document)."""

    def __init__(self, number: int, notation: str, year: int) -> None:
        super().__init__(
            f"Số {number}/{notation} đã được dùng trong năm {year}; văn bản phải có số mới",
            f"number {number}/{notation} was already used in {year}; the document needs a "
            "new number",
            step="register.number",
        )
        self.number = number


def numbers_taken(conn: Connection, office_id: str, notation: str, year: int) -> set[int]:
    """The numbers the register holds for this office, notation and year."""
    return {
        int(n)
        for n in conn.execute(
            select(outgoing_register.c.number).where(
                outgoing_register.c.office_id == office_id,
                outgoing_register.c.notation == notation,
                outgoing_register.c.year == year,
            )
        ).scalars()
    }


def reserve(
    conn: Connection,
    *,
    office_id: str,
    notation: str,
    year: int,
    number: int | None,
    document_id: Callable[[int], str],
    now: dt.datetime,
    also_used: Collection[int] = (),
) -> int:
    """Take ``number`` in the register, or the next free one when it is None.

    ``also_used`` are numbers the register does not hold but that are taken all the same
    (documents queued without composing). ``document_id(n)`` is the DocumentId the number
    is taken for, kept with it. Raises :class:`NumberTakenError` for a given number already
    taken, StoreError when clashes go on (the register is being hammered: try again).
    """
    for _ in range(_ATTEMPTS):
        if number is None:
            taken = numbers_taken(conn, office_id, notation, year) | set(also_used)
            candidate = max(taken, default=0) + 1
        elif number in also_used:
            raise NumberTakenError(number, notation, year)
        else:
            candidate = number
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(outgoing_register).values(
                        office_id=office_id,
                        notation=notation,
                        year=year,
                        number=candidate,
                        document_id=document_id(candidate),
                        reserved_at=now,
                    )
                )
        except IntegrityError:
            if number is not None:
                raise NumberTakenError(number, notation, year) from None
            continue  # another process took it first: read again
        return candidate
    raise StoreError(
        f"Không lấy được số văn bản {notation} sau {_ATTEMPTS} lần thử; thử lại sau",
        f"could not take a {notation} number after {_ATTEMPTS} attempts; try again later",
        step="register.number",
    )


def release(conn: Connection, *, office_id: str, notation: str, year: int, number: int) -> bool:
    """Give a number back (its document could not be composed or queued); False when the
    register did not hold it."""
    result = conn.execute(
        delete(outgoing_register).where(
            outgoing_register.c.office_id == office_id,
            outgoing_register.c.notation == notation,
            outgoing_register.c.year == year,
            outgoing_register.c.number == number,
        )
    )
    return result.rowcount == 1
