"""Scratch: SQL statements and pool checkouts for one incoming document on PostgreSQL."""
from __future__ import annotations
import collections
from typing import Any
from sqlalchemy import event
from daemon_fixtures import make_office
from axis_fixtures import DISTRICT
from edoc_exchange import edxml, office as steps
from edoc_exchange.store import open_database, upgrade


def test_count(exchange: Any, pg_server: Any) -> None:
    ex = exchange
    db = open_database(pg_server.create_database("count_one"))
    upgrade(db)
    roots = [ex.identities[k].ca_cert for k in ex.identities]
    district = make_office(ex.axis, "huyen", DISTRICT, db, ex.identities[DISTRICT], roots, ex.clock, "d-pg")
    for n in range(3):
        steps.queue_message(ex.commune, edxml.write(ex.plan(str(10 + n))))
    assert steps.send_due(ex.commune).done == 3
    # warm up with one document
    seen: list[str] = []
    checkouts = []
    event.listen(db.engine, "before_cursor_execute", lambda c, cur, st, *a: seen.append(st.split()[0].upper()))
    event.listen(db.engine, "checkout", lambda *a: checkouts.append(1))
    got = steps.receive_documents(district)
    assert got.done == 3
    kinds = collections.Counter(seen)
    print(f"\nPER DOCUMENT: statements {len(seen)/3:.1f} checkouts {len(checkouts)/3:.1f} kinds { {k: v/3 for k, v in kinds.items()} }")
    audit_like = [s for s in seen]
