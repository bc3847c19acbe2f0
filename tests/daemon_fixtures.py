"""Offices wired for daemon tests: a real local axis, real SQLite (or PostgreSQL), real keys."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from axis_fixtures import COMMUNE_A, DISTRICT, NAMES, RunningAxis, make_document, start_axis

from edoc_exchange import edxml, signing
from edoc_exchange.office import Office, OfficeIdentity
from edoc_exchange.sandbox import TestIdentity, new_test_identity
from edoc_exchange.store import Database, open_database, upgrade


class Clock:
    """A clock tests move by hand (backoff delays pass without sleeping)."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@dataclass
class Exchange:
    """A commune and its district on one local axis, each with its own store and key."""

    axis: RunningAxis
    commune: Office
    district: Office
    clock: Clock
    identities: dict[str, TestIdentity]
    databases: list[Database] = field(default_factory=list)

    def plan(self, number: str = "12", **kwargs: Any) -> edxml.Document:
        return make_document(COMMUNE_A, [DISTRICT], number, **kwargs)

    def close(self) -> None:
        for db in self.databases:
            db.dispose()
        self.axis.close()


def make_office(
    axis: RunningAxis,
    systemid: str,
    organ_id: str,
    db: Database,
    identity: TestIdentity,
    roots: list[Any],
    clock: Clock,
    worker: str,
) -> Office:
    policy = signing.TrustPolicy(roots=tuple(roots))
    return Office(
        identity=OfficeIdentity(organ_id=organ_id, organ_name=NAMES[organ_id], staff="Văn thư"),
        db=db,
        client=axis.client(systemid),
        signer=identity.signer(),
        policy=policy,
        worker=worker,
        clock=clock,
        retry_initial=dt.timedelta(seconds=30),
    )


def sqlite_db(path: Path) -> Database:
    db = open_database(f"sqlite:///{path}")
    upgrade(db)
    return db


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[Exchange]:
    """The commune Nậm Khánh and the district Bắc Hà, exchanging through a local axis that
    behaves as the national one: its TraceHeader appended, CRLF line ends."""
    axis = start_axis(tmp_path, line_ends="crlf")
    clock = Clock()
    ids = {
        COMMUNE_A: new_test_identity(organ_id=COMMUNE_A, name=NAMES[COMMUNE_A]),
        DISTRICT: new_test_identity(organ_id=DISTRICT, name=NAMES[DISTRICT]),
    }
    roots = [ids[COMMUNE_A].ca_cert, ids[DISTRICT].ca_cert]
    commune_db = sqlite_db(tmp_path / "commune.sqlite3")
    district_db = sqlite_db(tmp_path / "district.sqlite3")
    ex = Exchange(
        axis=axis,
        commune=make_office(
            axis, "xa-a", COMMUNE_A, commune_db, ids[COMMUNE_A], roots, clock, "commune-1"
        ),
        district=make_office(
            axis, "huyen", DISTRICT, district_db, ids[DISTRICT], roots, clock, "district-1"
        ),
        clock=clock,
        identities=ids,
        databases=[commune_db, district_db],
    )
    try:
        yield ex
    finally:
        ex.close()
