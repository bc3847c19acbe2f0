"""The incoming list page over 10,000 documents, and a search over them, against a bare
SQL query of the same rows in the same run.

Run::

    python benchmarks/bench_web.py [--quick] [--rows N]

A SQLite store (migrated to head) is filled with N incoming documents of one district
(default 10,000, plus a tenth as many of another office sharing the database): verified
rows as the store keeps them, their folded search text made by the store's own
``inbox.search_text``, a fifth of them registered and a tenth assigned, so the list's
joins have work to do. The rows go in with one bulk INSERT (the store's verified path
needs a signed message per row, which would make the benchmark about signing).

Three things are timed, interleaved, the median of R rounds each:

- the page: ``GET /incoming`` (and ``GET /incoming?q=ke hoach``) of the real Starlette
  app, signed in, in process through httpx's ASGI transport: session check, the office
  API, the count and the page's 50 rows, the template, the badge's two counts;
- the office API alone: ``office.incoming.list_incoming`` (count + page);
- the baseline: the same page of rows (same columns, same order, same 50) read with the
  stdlib's sqlite3 and a hand-written SELECT.

Only ratios matter (machines are noisy); nothing here asserts a time. The list query's
plan (SQLite's EXPLAIN QUERY PLAN) is printed to show whether it scans.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from edoc_exchange.config import WebSettings
from edoc_exchange.office import Office, OfficeIdentity, incoming, staff
from edoc_exchange.store import inbox as inbox_store
from edoc_exchange.store import open_database, upgrade
from edoc_exchange.store.handling import IncomingQuery, _conditions
from edoc_exchange.store.tables import inbox, inbox_handling, incoming_register
from edoc_exchange.web import create_app

DISTRICT = "000.00.01.H17"
OTHER = "000.00.02.H17"
PASSWORD = "mat-khau-du-dai-2026"
PAGE_SIZE = 50
SUBJECTS = [
    "Kế hoạch tổ chức Ngày hội Đại đoàn kết toàn dân tộc",
    "Báo cáo tình hình thu chi ngân sách quý {q}",
    "Công văn về việc tu sửa đường giao thông liên thôn",
    "Thông báo lịch tiếp công dân tháng {m}",
    "Quyết định phê duyệt danh sách hộ nghèo năm {y}",
    "Tờ trình xin kinh phí sửa chữa trường mầm non",
    "Giấy mời họp giao ban khối nội chính",
    "Báo cáo kết quả tiêm chủng mở rộng",
    "Hướng dẫn triển khai chuyển đổi số cấp xã",
    "Công văn đôn đốc thu thuế sử dụng đất phi nông nghiệp",
]
SENDERS = [(f"000.05.{n:02d}.H17", f"UBND xã số {n}") for n in range(1, 21)]
COLUMNS = (
    "i.id, i.document_id, i.sender, i.sender_name, i.subject, i.code, i.doc_type, "
    "i.priority, i.due_date, i.received_at, i.clerk_state, i.verdict, r.number, r.year, "
    "h.assignee_id, u.full_name, h.deadline"
)
BARE = (
    f"SELECT {COLUMNS} FROM inbox i "
    "LEFT JOIN inbox_handling h ON h.inbox_id = i.id "
    "LEFT JOIN incoming_register r ON r.inbox_id = i.id "
    "LEFT JOIN users u ON u.id = h.assignee_id "
    "WHERE i.office_id = ? {extra} ORDER BY i.id DESC LIMIT ? OFFSET 0"
)


def fill(db: Any, rows: int, officer_id: int) -> None:
    """``rows`` verified documents of the district, a tenth as many of another office."""
    rng = random.Random(12)
    start = dt.datetime(2025, 1, 2, 1, 0, tzinfo=dt.UTC)
    values, registered, assigned = [], [], []
    for n in range(rows + rows // 10):
        office = DISTRICT if n % 11 else OTHER
        sender, name = SENDERS[rng.randrange(len(SENDERS))]
        subject = SUBJECTS[n % len(SUBJECTS)].format(q=n % 4 + 1, m=n % 12 + 1, y=2025)
        code = f"{n + 1}/KH-UBND"
        document_id = f"{sender},2025/01/02,{code}"
        fields = inbox_store.DocumentFields(
            document_id=document_id, sender=sender, subject=subject, code=code,
            sender_name=name, doc_type="Kế hoạch", priority=n % 3,
        )
        at = start + dt.timedelta(minutes=30 * n)
        state = "01" if n % 5 else "03"
        values.append({
            "office_id": office, "axis_doc_id": f"axis-{n}", "document_id": document_id,
            "business_doc_type": 0, "sender": sender, "subject": subject,
            "due_date": (at.date() + dt.timedelta(days=15)).isoformat() if n % 4 == 0 else None,
            "message": b"<edXMLEnvelope/>", "message_form": "SIGNED", "sha256": "0" * 64,
            "verdict": "VERIFIED", "clerk_state": state, "received_at": at,
            "state_changed_at": at, "code": code, "sender_name": name, "doc_type": "Kế hoạch",
            "priority": n % 3, "search_text": inbox_store.search_text(fields),
            "signer_subject": f"CN={name}", "message_size": 16,
        })
    with db.transaction() as conn:
        conn.execute(insert(inbox), values)
        ids = [(r.id, r.office_id) for r in conn.execute(
            inbox.select().with_only_columns(inbox.c.id, inbox.c.office_id, inbox.c.clerk_state)
            .where(inbox.c.clerk_state == "03")
        )]
        for number, (inbox_id, office) in enumerate(ids, start=1):
            registered.append({"office_id": office, "year": 2025, "number": number,
                               "inbox_id": inbox_id, "registered_at": start})
            if number % 2 == 0 and office == DISTRICT:
                assigned.append({"inbox_id": inbox_id, "office_id": office,
                                 "assignee_id": officer_id, "deadline": "2025-02-01",
                                 "assigned_at": start})
        conn.execute(insert(incoming_register), registered)
        conn.execute(insert(inbox_handling), assigned)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def rows_of(bare: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> list[Any]:
    return bare.execute(sql, args).fetchall()


def rows_and_count(
    bare: sqlite3.Connection, sql: str, args: tuple[Any, ...], count: str,
    count_args: tuple[Any, ...],
) -> tuple[Any, list[Any]]:
    return bare.execute(count, count_args).fetchone(), bare.execute(sql, args).fetchall()


def timed(func: Callable[[], Any]) -> float:
    began = time.perf_counter()
    func()
    return time.perf_counter() - began


async def signed_in(client: httpx.AsyncClient) -> None:
    form = await client.get("/login")
    token = form.text.split('name="login_token" value="', 1)[1].split('"', 1)[0]
    answer = await client.post("/login", data={
        "username": "vanthu", "password": PASSWORD, "login_token": token, "next": "/incoming",
    })
    assert answer.status_code == 303, answer.text


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 rounds instead of 31")
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    rounds = 5 if args.quick else 31

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "office.sqlite3"
        db = open_database(f"sqlite:///{path}")
        upgrade(db)
        office = Office(
            identity=OfficeIdentity(organ_id=DISTRICT, organ_name="UBND huyện Bắc Hà"),
            db=db, client=None, signer=None, policy=None, worker="bench",
        )
        clerk = staff.add_user(db, DISTRICT, "vanthu", "Lò Thị Mai", staff.Role.CLERK, PASSWORD)
        officer = staff.add_user(
            db, DISTRICT, "chuyenvien", "Vàng A Sính", staff.Role.OFFICER, PASSWORD
        )
        began = time.perf_counter()
        fill(db, args.rows, officer.id)
        print(f"filled {args.rows:,} incoming documents (+{args.rows // 10:,} of another "
              f"office) in {time.perf_counter() - began:.1f} s")
        app = create_app(office, WebSettings(page_size=PAGE_SIZE))
        bare = sqlite3.connect(path)
        asyncio.run(run(app, office, clerk, bare, rounds))
        bare.close()
        db.dispose()


async def run(app: Any, office: Office, clerk: staff.User, bare: sqlite3.Connection,
              rounds: int) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench.local", follow_redirects=False
    ) as client:
        await signed_in(client)
        cases = [
            ("incoming list", "", None, ""),
            ("search 'ke hoach'", "ke hoach", "ke hoach", "AND i.search_text LIKE ?"),
        ]
        for label, query, search, extra in cases:
            params = {"q": query} if query else {}
            filters = incoming.IncomingFilters(search=search)
            sql = BARE.format(extra=extra)
            sql_args: tuple[Any, ...] = (
                (DISTRICT, f"%{search}%", PAGE_SIZE) if search else (DISTRICT, PAGE_SIZE)
            )
            count_sql = (
                "SELECT count(*) FROM inbox i WHERE i.office_id = ? "
                + extra
            )
            count_args = sql_args[:-1]
            page_t, api_t, bare_t, both_t = [], [], [], []
            size = 0
            total = 0
            for _ in range(rounds + 1):  # the first round warms up, and is not counted
                began = time.perf_counter()
                answer = await client.get("/incoming", params=params)
                page_t.append(time.perf_counter() - began)
                assert answer.status_code == 200, answer.text[:500]
                size = len(answer.content)
                listed = incoming.list_incoming(
                    office, filters, 1, viewer=clerk, page_size=PAGE_SIZE
                )
                total = listed.total
                api_t.append(timed(functools.partial(
                    incoming.list_incoming, office, filters, 1, viewer=clerk, page_size=PAGE_SIZE
                )))
                bare_t.append(timed(functools.partial(rows_of, bare, sql, sql_args)))
                both_t.append(timed(functools.partial(
                    rows_and_count, bare, sql, sql_args, count_sql, count_args
                )))
                rows = bare.execute(sql, sql_args).fetchall()
                assert [r[0] for r in rows] == [i.id for i in listed.items]
            page_ms, api_ms, bare_ms, both_ms = (
                median_ms(t[1:]) for t in (page_t, api_t, bare_t, both_t)
            )
            print(
                f"{label} ({total:,} of {len(rows)} shown, page {size / 1024:.1f} KB), median "
                f"of {rounds}: page {page_ms:.2f} ms | office.list_incoming {api_ms:.2f} ms | "
                f"bare SQL {bare_ms:.3f} ms | page / bare SQL = {page_ms / bare_ms:.1f}x | "
                f"office API / bare SQL = {api_ms / bare_ms:.1f}x"
            )
            print(
                f"  against bare SQL of the rows and their COUNT ({both_ms:.3f} ms): "
                f"page {page_ms / both_ms:.1f}x | office API {api_ms / both_ms:.1f}x"
            )
        plan_for(bare)


def plan_for(bare: sqlite3.Connection) -> None:
    """SQLite's plan of the list's page query and its count, as the store builds them."""
    from sqlalchemy import and_, func, literal, select
    from sqlalchemy.dialects import sqlite

    where = and_(*_conditions(DISTRICT, IncomingQuery()))
    count = select(func.count(literal(1))).select_from(inbox).where(where)
    page = select(inbox.c.id).where(where).order_by(inbox.c.id.desc()).limit(PAGE_SIZE)
    for label, statement in (("page", page), ("count", count)):
        compiled = statement.compile(
            dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}
        )
        steps = bare.execute(f"EXPLAIN QUERY PLAN {compiled}").fetchall()
        print(f"list {label} query plan: " + "; ".join(str(s[-1]) for s in steps))


if __name__ == "__main__":
    main()
