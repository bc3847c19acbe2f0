"""This process as a worker: its row in the store, its heartbeat, a clean stop; and the
upkeep and probes of the store the daemon's health reports.

Liveness is the worker's, not each row's (procrastinate's model): the daemon registers one
row per process, a background thread beats it every few seconds, and every claim the
process makes names it. Work of a worker that stopped, or has not beaten for
``stale_after``, is taken over; a clean stop marks the row stopped and releases the work,
so the next start takes it at once.
"""

from __future__ import annotations

import logging
import os
import socket

from ..store import DatabaseLockedError, StoreSpace, as_utc
from ..store import workers as workers_store
from ._office import Office

__all__ = [
    "Stuck",
    "beat",
    "keep_wal_small",
    "register_worker",
    "stop_worker",
    "store_space",
    "stuck_work",
]

log = logging.getLogger("edoc.office")

Stuck = workers_store.Stuck


def register_worker(office: Office) -> int:
    """Give this process its worker row (``office.worker_id``) and return its id.

    A previous run of the same worker name that did not say it stopped is marked stopped,
    so its claims are taken over at once. Raises StoreError when the store cannot be
    written.
    """
    now = office.clock()
    with office.db.transaction() as conn:
        worker_id, previous = workers_store.register(
            conn,
            name=office.worker,
            host=socket.gethostname(),
            pid=os.getpid(),
            now=now,
            stale_before=now - office.stale_after,
        )
    for run in previous:
        fresh = as_utc(run.heartbeat_at) >= now - office.stale_after
        log.log(
            logging.WARNING if fresh else logging.INFO,
            "worker %s: taking over the work of its previous run (row %s, %s pid %s)%s",
            office.worker,
            run.id,
            run.host,
            run.pid,
            " whose heartbeat is still fresh: is another process using this name?"
            if fresh
            else "",
        )
    office.worker_id = worker_id
    return worker_id


def beat(office: Office) -> bool:
    """Beat this worker's heartbeat (a real write: the store's write probe too).

    Returns False when the row says it stopped: a process started since under the same
    worker name and took the work over. Raises StoreError when the store cannot be written.
    """
    if office.worker_id is None:
        return True
    with office.db.transaction() as conn:
        return workers_store.beat(conn, office.worker_id, office.clock())


def stop_worker(office: Office, *, release: bool) -> int:
    """Mark this worker stopped (its claims are free at once) and, with ``release``, put
    its work back; see :func:`..store.workers.stop`. Returns how much was released."""
    if office.worker_id is None:
        return 0
    with office.db.transaction() as conn:
        released = workers_store.stop(conn, office.worker_id, office.clock(), release=release)
    return released


def stuck_work(office: Office) -> Stuck | None:
    """The oldest outgoing row or incoming claim held longer than ``stale_after``."""
    with office.db.read() as conn:
        return workers_store.oldest_stuck(
            conn, office.office_id, held_before=office.clock() - office.stale_after
        )


def store_space(office: Office) -> StoreSpace | None:
    """Room left for the store (SQLite), None when the server reports it (PostgreSQL)."""
    return office.db.space()


def keep_wal_small(office: Office, *, force: bool = False) -> bool:
    """Truncate the store's WAL when a large message made it grow (or always, with
    ``force``, as the daemon does now and then). A busy database is left for next time."""
    try:
        return office.db.trim_wal(force=force)
    except DatabaseLockedError:
        return False
