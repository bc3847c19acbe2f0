"""The daemon process: loops on intervals, a health server, a clean stop on SIGTERM/SIGINT.

Three loops run in threads — inbound (documents and statuses), outbound (send the outbox,
follow sent documents, checkpoint the audit log) and the directory refresh — each doing one
step, then waiting for its interval or for the stop signal. The first SIGTERM/SIGINT lets
every loop finish its current step and stop (a final checkpoint is signed); a second one
stops at once. A failing step is logged, counted by error class and retried at the next
interval: a long axis outage only grows the outbox.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from .. import office as steps
from ..errors import EdocError
from ..office import Office, refresh_directory

__all__ = ["Intervals", "Runner"]

log = logging.getLogger("edoc.daemon")


@dataclass(frozen=True)
class Intervals:
    """Seconds between passes of each loop."""

    inbound: float = 30.0
    outbound: float = 15.0
    directory: float = 24 * 3600.0


class Runner:
    """Runs one office's loops until stopped."""

    def __init__(
        self,
        office: Office,
        intervals: Intervals = Intervals(),
        *,
        health: tuple[str, int] | None = None,
    ) -> None:
        self.office = office
        self.intervals = intervals
        self.health = health
        self.stop_event = threading.Event()
        self.last_error: str | None = None
        self._threads: list[threading.Thread] = []
        self._server: Any = None

    # -- the steps each loop runs --------------------------------------------------------

    def inbound_step(self) -> None:
        steps.receive_documents(self.office)
        steps.receive_statuses(self.office)
        steps.maybe_checkpoint(self.office)

    def outbound_step(self) -> None:
        steps.send_due(self.office)
        steps.follow_sent(self.office)
        self._update_gauges()

    def directory_step(self) -> None:
        refresh_directory(self.office)

    def _update_gauges(self) -> None:
        now = steps.figures(self.office)
        for state, count in now.outbox.items():
            self.office.metrics.outbox_depth.labels(state=state).set(count)
        self.office.metrics.inbox_waiting.set(now.inbox_waiting)

    # -- loops -----------------------------------------------------------------------------

    def _loop(self, name: str, step: Callable[[], None], interval: float) -> None:
        while not self.stop_event.is_set():
            try:
                step()
                self.last_error = None
            except EdocError as exc:
                self.last_error = f"{name}: {exc.diagnostics()}"
                self.office.metrics.error(type(exc).__name__)
                log.warning("%s step failed: %s", name, exc.diagnostics())
            except Exception as exc:  # keep the daemon alive; the next pass retries
                self.last_error = f"{name}: {type(exc).__name__}: {exc}"
                self.office.metrics.error(type(exc).__name__)
                log.exception("%s step failed", name)
            self.stop_event.wait(interval)

    def start(self) -> None:
        """Start the loops (and the health server) in background threads."""
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
            self._threads.append(thread)
        if self.health is not None:
            self._start_health(*self.health)

    def stop(self, timeout: float | None = None) -> None:
        """Ask the loops to finish their current step, wait for them, sign a checkpoint."""
        self.stop_event.set()
        if self._server is not None:
            self._server.should_exit = True
        for thread in self._threads:
            thread.join(timeout)
        with contextlib.suppress(EdocError):
            steps.checkpoint_now(self.office)

    def run_forever(self) -> None:
        """Run until SIGTERM/SIGINT; the second signal exits at once."""

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            if self.stop_event.is_set():
                os._exit(128 + signum)
            log.info("signal %s: finishing the current step, then stopping", signum)
            self.stop_event.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            while not self.stop_event.wait(0.5):
                pass
            self.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # -- health ---------------------------------------------------------------------------

    def health_report(self) -> dict[str, Any]:
        """What /healthz answers."""
        depths = steps.figures(self.office).outbox
        last = self.office.metrics.last_poll_value
        return {
            "office": self.office.office_id,
            "worker": self.office.worker,
            "status": "ok" if self.last_error is None else "degraded",
            "last_error": self.last_error,
            "last_successful_poll": (
                dt.datetime.fromtimestamp(last, dt.UTC).isoformat() if last else None
            ),
            "outbox": depths,
        }

    def _start_health(self, host: str, port: int) -> None:
        import uvicorn
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import Response
        from starlette.routing import Route

        async def healthz(_request: Request) -> Response:
            report = self.health_report()
            code = 200 if report["status"] == "ok" else 503
            return Response(json.dumps(report), status_code=code, media_type="application/json")

        async def metrics(_request: Request) -> Response:
            return Response(self.office.metrics.render(), media_type="text/plain; version=0.0.4")

        app = Starlette(routes=[Route("/healthz", healthz), Route("/metrics", metrics)])
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        thread = threading.Thread(target=self._server.run, name="edoc-health", daemon=True)
        thread.start()
        self._threads.append(thread)
