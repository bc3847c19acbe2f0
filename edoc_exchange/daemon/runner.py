"""The daemon process: loops on intervals, a worker heartbeat, a health server, bounded stops.

Three loops run in threads — inbound (documents and statuses), outbound (send the outbox,
follow sent documents, checkpoint the audit log) and the directory refresh — each doing one
pass, then waiting for its interval or for the stop signal. A failed pass is logged,
counted by error class and tried again after a backoff that starts at ``retry_initial``
and never exceeds the loop's interval (a failed directory refresh is retried within
minutes, not a day later): a long axis outage only grows the outbox.

Stops are bounded. A pass takes its items one by one and ends after the item in hand when
the stop is asked (``Office.stop``), so the first SIGTERM/SIGINT stops the daemon in
seconds whatever the backlog; past ``stop_timeout`` (a loop stuck in a call) the runner
stops waiting. Either way the worker row is marked stopped, so the next start takes its
work over at once; after a clean stop its work is also released (outbox rows back in the
queue) and a final checkpoint is signed. A second signal exits at once.

With ``[web] enabled`` the daemon also serves the office's pages (in a thread, started once
the store answers, stopped on shutdown), and when ``[web]`` names an SMTP server each
inbound pass ends by e-mailing staff of new and overdue documents; a mail server that is
down is logged and tried again at the next pass, never stopping the loops.

Liveness is the procrastinate model: one worker row per process in the store, beaten by a
background thread every few seconds; that beat is also the store's write probe. /healthz
answers from what the loops and the heartbeat last saw — never from a query of its own —
so it answers at once, 200 "ok" or 503 "degraded" with the reasons, also while the
database is down, locked, full or read-only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import office as steps
from .. import stopping
from ..config import DaemonSettings, WebSettings
from ..errors import EdocError
from ..office import Office, refresh_directory

__all__ = ["Intervals", "LoopState", "Runner", "StopReport"]

log = logging.getLogger("edoc.daemon")


@dataclass(frozen=True)
class Intervals:
    """Seconds between passes of each loop, of heartbeats and of WAL truncations; and the
    backoff of a loop whose pass failed."""

    inbound: float = 30.0
    outbound: float = 15.0
    directory: float = 24 * 3600.0
    #: Never more than stale_after / 4 in effect (see :meth:`Runner.heartbeat_every`).
    heartbeat: float = 5.0
    wal_checkpoint: float = 600.0
    failed_retry_initial: float = 30.0
    failed_retry_max: float = 600.0


@dataclass
class LoopState:
    """What one loop last did, for /healthz (written by its thread, read by the server)."""

    name: str
    last_success: float | None = None  #: Unix time of the last pass that succeeded
    last_failure: float | None = None
    error: str | None = None  #: the last failure, while no pass has succeeded since
    step: str | None = None  #: where it failed ("axis.getEdoc", "store", ...)
    failures: int = 0  #: passes failed in a row
    busy_since: float | None = None

    @property
    def failing(self) -> bool:
        return self.error is not None


@dataclass
class _StoreState:
    """What the heartbeat thread last saw of the store."""

    last_write: float | None = None  #: Unix time of the last successful beat (a write)
    write_error: str | None = None
    write_started: float | None = None  #: a beat in progress since (a locked store hangs here)
    read_error: str | None = None
    free_bytes: int | None = None
    stuck: steps.Stuck | None = None
    outbox: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StopReport:
    """How the daemon stopped."""

    #: Every loop ended after its item in hand, within stop_timeout.
    clean: bool
    #: Loops still busy when the runner stopped waiting (their work is taken over at once
    #: by the next start: the worker row says it stopped).
    busy: tuple[str, ...] = ()
    #: Outbox rows and claims released back to the queue.
    released: int = 0


def _iso(value: float | None) -> str | None:
    return dt.datetime.fromtimestamp(value, dt.UTC).isoformat() if value else None


class Runner:
    """Runs one office's loops until stopped."""

    def __init__(
        self,
        office: Office,
        intervals: Intervals = Intervals(),
        *,
        health: tuple[str, int] | None = None,
        stop_timeout: float = 20.0,
        min_free_bytes: int = 64 * 1024 * 1024,
        web: WebSettings | None = None,
    ) -> None:
        self.office = office
        #: ``[web]``: the pages served when ``enabled``, the SMTP server of the notices.
        self.web = web or WebSettings()
        #: The pages' address once they are served (None: not served).
        self.pages_url: str | None = None
        self._pages: Any = None
        self.intervals = intervals
        self.health = health
        self.stop_timeout = stop_timeout
        self.min_free_bytes = min_free_bytes
        self.loops = {name: LoopState(name) for name in ("inbound", "outbound", "directory")}
        self.ready = False
        self.stopping = False
        self._store = _StoreState()
        self._lock = threading.Lock()
        self._loop_threads: list[threading.Thread] = []
        self._heartbeat_stop = threading.Event()
        self._heartbeat_thread: threading.Thread | None = None
        self._last_wal_trim = time.monotonic()
        self._server: Any = None
        self._server_thread: threading.Thread | None = None

    @classmethod
    def from_settings(
        cls,
        office: Office,
        d: DaemonSettings,
        *,
        health: bool = True,
        web: WebSettings | None = None,
    ) -> Runner:
        """A runner as ``[daemon]`` describes it (``health=False``: no server), serving
        the pages and sending e-mail notices as ``web`` (``[web]``) says."""
        return cls(
            office,
            Intervals(
                inbound=d.inbound_interval,
                outbound=d.outbound_interval,
                directory=d.directory_interval,
                heartbeat=d.heartbeat_interval,
                wal_checkpoint=d.wal_checkpoint_interval,
                failed_retry_initial=d.retry_initial,
                failed_retry_max=d.failed_pass_retry_max,
            ),
            health=(d.health_host, d.health_port) if health and d.health_port else None,
            stop_timeout=d.stop_timeout,
            min_free_bytes=int(d.min_free_mb * 1024 * 1024),
            web=web,
        )

    @property
    def stop_event(self) -> threading.Event:
        """Set to stop: the office's own stop signal, which every step looks at."""
        return self.office.stop

    @property
    def heartbeat_every(self) -> float:
        """Seconds between beats: the setting, but at least four beats per stale_after."""
        return min(self.intervals.heartbeat, self.office.stale_after.total_seconds() / 4)

    # -- the steps each loop runs --------------------------------------------------------

    def inbound_step(self) -> None:
        steps.receive_documents(self.office)
        if not self.office.stopping:
            steps.receive_statuses(self.office)
        if not self.office.stopping:
            steps.maybe_checkpoint(self.office)
        if not self.office.stopping:
            self.notify_step()
        if not self.office.stopping:  # at most every ten minutes; bounded fetches
            steps.keep_revocation_fresh(self.office)

    def notify_step(self) -> None:
        """E-mail the notices due, when ``[web]`` names an SMTP server. A failure is logged
        and counted, not raised: the inbound loop's health is the axis's and the store's,
        and what was not sent stays unsent for the next pass."""
        if not steps.mail_configured(self.web):
            return
        try:
            steps.send_notices(self.office, self.web)
        except EdocError as exc:
            self.office.metrics.error(type(exc).__name__)
            log.warning("e-mail notices not sent: %s", exc.diagnostics())

    def outbound_step(self) -> None:
        steps.send_due(self.office)
        if not self.office.stopping:
            steps.follow_sent(self.office)

    def directory_step(self) -> None:
        refresh_directory(self.office)

    # -- loops -----------------------------------------------------------------------------

    def _retry_wait(self, interval: float, failures: int) -> float:
        """After ``failures`` failed passes in a row: backoff, never beyond the interval."""
        wait = self.intervals.failed_retry_initial * float(2 ** max(0, failures - 1))
        return min(interval, wait, self.intervals.failed_retry_max)

    def _loop(self, name: str, step: Callable[[], None], interval: float) -> None:
        state = self.loops[name]
        while not self.office.stopping:
            state.busy_since = time.time()
            wait = interval
            try:
                step()
            except EdocError as exc:
                wait = self._failed(state, exc.diagnostics(), exc.step, type(exc).__name__)
                log.warning("%s pass failed: %s", name, exc.diagnostics())
            except Exception as exc:  # keep the daemon alive; the next pass retries
                text = f"{type(exc).__name__}: {exc}"
                wait = self._failed(state, text, None, type(exc).__name__)
                log.exception("%s pass failed", name)
            else:
                with self._lock:
                    state.last_success, state.error, state.step = time.time(), None, None
                    state.failures = 0
            finally:
                state.busy_since = None
            self.office.stop.wait(wait)

    def _failed(self, state: LoopState, text: str, step: str | None, kind: str) -> float:
        self.office.metrics.error(kind)
        with self._lock:
            state.last_failure, state.error, state.step = time.time(), text, step
            state.failures += 1
            failures = state.failures
        interval = {
            "inbound": self.intervals.inbound,
            "outbound": self.intervals.outbound,
            "directory": self.intervals.directory,
        }[state.name]
        return self._retry_wait(interval, failures)

    # -- the worker's heartbeat --------------------------------------------------------------

    def beat(self) -> None:
        """One heartbeat: the worker row (the store's write probe), then what /healthz and
        /metrics show (stuck work, room left, queue depths), and now and then the WAL."""
        state = self._store
        state.write_started = time.time()
        try:
            alive = steps.beat(self.office)
        except EdocError as exc:
            with self._lock:
                state.write_error = exc.diagnostics()
            self.office.metrics.error(type(exc).__name__)
            log.warning("heartbeat failed: %s", exc.diagnostics())
        except Exception as exc:  # the heartbeat thread must outlive any surprise
            with self._lock:
                state.write_error = f"{type(exc).__name__}: {exc}"
            log.exception("heartbeat failed")
        else:
            with self._lock:
                state.last_write, state.write_error = time.time(), None
            if not alive:
                self._register_again()
        finally:
            state.write_started = None
        try:
            stuck = steps.stuck_work(self.office)
            space = steps.store_space(self.office)
            figures = steps.figures(self.office)
            if time.monotonic() - self._last_wal_trim >= self.intervals.wal_checkpoint:
                self._last_wal_trim = time.monotonic()
                steps.keep_wal_small(self.office, force=True)
        except EdocError as exc:
            with self._lock:
                state.read_error = exc.diagnostics()
            return
        except Exception as exc:  # the heartbeat thread must outlive any surprise
            with self._lock:
                state.read_error = f"{type(exc).__name__}: {exc}"
            log.exception("health figures failed")
            return
        with self._lock:
            state.read_error = None
            state.stuck = stuck
            state.free_bytes = space.free_bytes if space is not None else None
            state.outbox = figures.outbox
        for name, count in figures.outbox.items():
            self.office.metrics.outbox_depth.labels(state=name).set(count)
        self.office.metrics.inbox_waiting.set(figures.inbox_waiting)
        steps.update_expiry_metrics(self.office)

    def _register_again(self) -> None:
        """Our row says we stopped: this process was frozen past stale_after (a suspended
        machine) and another worker reaped it, or a process started under our name. Work
        on with a new row (what we held may have been taken over: every transition is
        guarded, so nothing is done twice), and say so."""
        old = self.office.worker_id
        try:
            steps.register_worker(self.office)
        except EdocError as exc:
            log.warning("cannot register the worker again: %s", exc.diagnostics())
            return
        log.warning(
            "worker %s: its row %s was marked stopped by another process (frozen longer than "
            "stale_after, or another daemon uses this [daemon] worker name); now row %s",
            self.office.worker,
            old,
            self.office.worker_id,
        )

    def _heartbeat_loop(self) -> None:
        while not self._heartbeat_stop.wait(self.heartbeat_every):
            self.beat()

    # -- start and stop -------------------------------------------------------------------

    def start(self) -> None:
        """Register the worker, start its heartbeat, the loops and the health server.

        Raises StoreError when the worker row cannot be written (the store is unusable).
        """
        if self.office.worker_id is None:
            steps.register_worker(self.office)
        log.info("worker %s has row %s", self.office.worker, self.office.worker_id)
        self.beat()
        self._heartbeat_thread = threading.Thread(
            target=self._heartbeat_loop, name="edoc-heartbeat", daemon=True
        )
        self._heartbeat_thread.start()
        loops = (
            ("inbound", self.inbound_step, self.intervals.inbound),
            ("outbound", self.outbound_step, self.intervals.outbound),
            ("directory", self.directory_step, self.intervals.directory),
        )
        for name, step, interval in loops:
            thread = threading.Thread(
                target=self._loop, args=(name, step, interval), name=f"edoc-{name}", daemon=True
            )
            thread.start()
            self._loop_threads.append(thread)
        if self.health is not None:
            self._start_health(*self.health)
        if self.web.enabled:
            try:
                self._start_pages()
            except Exception:
                self.stop()
                raise
        self.ready = True

    def _start_pages(self) -> None:
        """Serve the office's pages beside the loops; WebServeError when the port is taken."""
        from ..web import create_app
        from ..web.serve import PagesServer

        self._pages = PagesServer(create_app(self.office, self.web), self.web.host, self.web.port)
        self.pages_url = self._pages.start()
        log.info("edoc web: the office's pages at %s", self.pages_url)

    def stop(self, timeout: float | None = None) -> StopReport:
        """Ask the loops to end after their item in hand and wait for them, at most
        ``timeout`` (default ``stop_timeout``) seconds in all; then mark the worker stopped.

        After a clean stop the worker's work is released and a final checkpoint signed;
        after one that gave up waiting, the busy loop may still write, so its claims are
        only freed (the worker row says it stopped) for the next start to take at once.
        """
        self.stopping = True
        self.office.stop.set()
        limit = time.monotonic() + (self.stop_timeout if timeout is None else timeout)
        for thread in self._loop_threads:
            thread.join(max(0.0, limit - time.monotonic()))
        busy = tuple(t.name.removeprefix("edoc-") for t in self._loop_threads if t.is_alive())
        if busy:
            log.warning(
                "stop: %s still busy after %.0f s; exiting without waiting (its work is taken "
                "over at the next start)",
                ", ".join(busy),
                self.stop_timeout if timeout is None else timeout,
            )
        else:
            with contextlib.suppress(EdocError):
                steps.checkpoint_now(self.office)
        self._heartbeat_stop.set()
        if self._heartbeat_thread is not None:
            self._heartbeat_thread.join(max(1.0, limit - time.monotonic()))
        released = 0
        try:
            released = steps.stop_worker(self.office, release=not busy)
        except EdocError as exc:
            log.warning("stop: cannot mark the worker stopped: %s", exc.diagnostics())
        if self._server is not None:
            self._server.should_exit = True
            if self._server_thread is not None:
                self._server_thread.join(5.0)
        if self._pages is not None:
            self._pages.stop(5.0)
        return StopReport(clean=not busy, busy=busy, released=released)

    def run_forever(self) -> StopReport:
        """Run until SIGTERM/SIGINT (or ``stop_event``); the second signal exits at once.

        The signal handlers are those of :mod:`edoc_exchange.stopping`, which ``edoc daemon
        run`` installs before anything else: a signal while starting is a stop too.
        """
        installed_here = stopping.install()
        try:
            if not stopping.requested.is_set():
                self.start()
            while not self.office.stop.wait(0.2):
                if stopping.requested.is_set():
                    log.info("stop asked: finishing the item in hand, then stopping")
                    self.office.stop.set()
            return self.stop()
        finally:
            if installed_here:
                stopping.uninstall()

    # -- health ---------------------------------------------------------------------------

    def health_report(self) -> dict[str, Any]:
        """What /healthz answers: "ok" or "degraded" with what is wrong, per loop and for
        the store, the axis and stuck work. Reads only what the threads recorded."""
        now = time.time()
        stale = self.office.stale_after.total_seconds()
        beat = self.heartbeat_every
        problems: list[str] = []
        with self._lock:
            store = _StoreState(**vars(self._store))
            loops = {name: LoopState(**vars(state)) for name, state in self.loops.items()}
        if store.write_error is not None:
            problems.append(f"store: not writable: {store.write_error}")
        elif store.write_started is not None and now - store.write_started > 2 * beat:
            problems.append(
                f"store: a write has waited {now - store.write_started:.0f} s "
                "(locked by another process, or the disk hangs)"
            )
        elif self.ready and (store.last_write is None or now - store.last_write > 3 * beat + 5):
            problems.append("store: no successful write for a while (the heartbeat is stuck)")
        if store.read_error is not None:
            problems.append(f"store: not readable: {store.read_error}")
        if store.free_bytes is not None and store.free_bytes < self.min_free_bytes:
            problems.append(
                f"store: only {store.free_bytes / 1048576:.1f} MiB left on its disk "
                f"(under {self.min_free_bytes / 1048576:.0f} MiB)"
            )
        for name, loop in loops.items():
            if loop.failing:
                problems.append(f"{name}: {loop.error}")
        axis_down = [
            name
            for name, loop in loops.items()
            if loop.failing and (loop.step or "").startswith("axis")
        ]
        if store.stuck is not None:
            age = now - store.stuck.since.timestamp()
            problems.append(
                f"stuck: {store.stuck.kind} {store.stuck.key} held by {store.stuck.holder} "
                f"for {age:.0f} s (longer than stale_after, {stale:.0f} s); "
                f"{store.stuck.count} held that long"
            )
        successes = [loop.last_success for loop in loops.values() if loop.last_success]
        last_poll = self.office.metrics.last_poll_value
        return {
            "status": "degraded" if problems else "ok",
            "problems": problems,
            "office": self.office.office_id,
            "worker": self.office.worker,
            "worker_id": self.office.worker_id,
            "ready": self.ready,
            "stopping": self.stopping or self.office.stopping,
            "store": {
                "writable": store.write_error is None and store.last_write is not None,
                "last_write": _iso(store.last_write),
                "free_bytes": store.free_bytes,
            },
            "axis": {
                "reachable": not axis_down,
                "failing_loops": axis_down,
                "last_success": _iso(max(successes) if successes else None),
            },
            "loops": {
                name: {
                    "last_success": _iso(loop.last_success),
                    "last_failure": _iso(loop.last_failure),
                    "error": loop.error,
                    "failures": loop.failures,
                    "busy_for": round(now - loop.busy_since, 1) if loop.busy_since else None,
                }
                for name, loop in loops.items()
            },
            "stuck": None
            if store.stuck is None
            else {
                "kind": store.stuck.kind,
                "key": store.stuck.key,
                "holder": store.stuck.holder,
                "since": store.stuck.since.isoformat(),
                "count": store.stuck.count,
            },
            "outbox": store.outbox,
            "last_successful_poll": _iso(last_poll),
        }

    def _health_answer(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body) of /healthz: 200 or 503, never a bare 500."""
        try:
            report = self.health_report()
        except Exception as exc:  # a bug here must not hide the daemon's state behind a 500
            report = {"status": "degraded", "problems": [f"health: {type(exc).__name__}: {exc}"]}
        return (200 if report["status"] == "ok" else 503), report

    def _start_health(self, host: str, port: int) -> None:
        import uvicorn
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import Response
        from starlette.routing import Route

        async def healthz(_request: Request) -> Response:
            code, report = self._health_answer()
            return Response(json.dumps(report), status_code=code, media_type="application/json")

        async def metrics(_request: Request) -> Response:
            return Response(self.office.metrics.render(), media_type="text/plain; version=0.0.4")

        app = Starlette(routes=[Route("/healthz", healthz), Route("/metrics", metrics)])
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        # uvicorn installs signal handlers only in the main thread: this one leaves ours.
        self._server_thread = threading.Thread(
            target=self._server.run, name="edoc-health", daemon=True
        )
        self._server_thread.start()
