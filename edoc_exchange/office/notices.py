"""What a member of staff should know about: documents new since they last looked, and
documents past their due date. The pages' badge and notices list read these, and so does
whoever sends the notices by e-mail.

Whose documents: a văn thư or a lãnh đạo is told of every document received since their
``seen_at`` and of every open document past its due date; a chuyên viên of the documents
assigned to them since then and of theirs past due; a quản trị of nothing (they handle no
document). The due date is the assignment's deadline, else the date the sender set; a
document refused (02) or done (06) is never overdue.
"""

from __future__ import annotations

import datetime as dt

from ..store import handling as handling_store
from . import staff
from ._office import Office
from .incoming import SEE_ALL, IncomingItem, listed_item, today_in_vietnam

__all__ = ["badge", "new_since", "overdue"]

#: The most a notices list shows of each kind (the list page links to the rest).
LIMIT = 100


def _new_query(user: staff.User) -> handling_store.IncomingQuery | None:
    if user.role is staff.Role.ADMIN:
        return None
    if user.role in SEE_ALL:
        return handling_store.IncomingQuery(received_after=user.seen_at)
    return handling_store.IncomingQuery(assignee_id=user.id, assigned_after=user.seen_at)


def _overdue_query(user: staff.User, today: dt.date) -> handling_store.IncomingQuery | None:
    if user.role is staff.Role.ADMIN:
        return None
    mine = None if user.role in SEE_ALL else user.id
    return handling_store.IncomingQuery(due="overdue", today=today, assignee_id=mine)


def _items(
    office: Office, user: staff.User, query: handling_store.IncomingQuery | None, limit: int
) -> list[IncomingItem]:
    if query is None:
        return []
    today = today_in_vietnam(office)
    with office.db.read() as conn:
        rows = handling_store.list_incoming(conn, office.office_id, query, limit=limit)
    return [listed_item(r, user, today) for r in rows]


def new_since(office: Office, user: staff.User, *, limit: int = LIMIT) -> list[IncomingItem]:
    """Documents received (for an officer: assigned to them) since ``user.seen_at``,
    newest first; every one when they never looked."""
    return _items(office, user, _new_query(user), limit)


def overdue(
    office: Office, user: staff.User, today: dt.date | None = None, *, limit: int = LIMIT
) -> list[IncomingItem]:
    """Open documents past their due date (``today`` in Vietnam by default) that ``user``
    answers for, newest first."""
    day = today or today_in_vietnam(office)
    return _items(office, user, _overdue_query(user, day), limit)


def badge(office: Office, user: staff.User, today: dt.date | None = None) -> int:
    """The number on the badge: documents new or overdue, each counted once (one count,
    no rows)."""
    day = today or today_in_vietnam(office)
    queries = [q for q in (_new_query(user), _overdue_query(user, day)) if q is not None]
    if not queries:
        return 0
    with office.db.read() as conn:
        return handling_store.count_any(conn, office.office_id, queries)

