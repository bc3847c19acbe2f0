"""Prometheus metrics of one daemon: counts, queue depths, last successful poll, errors.

Each daemon has its own registry (tests run several in one process); ``/metrics`` of the
health server exposes it.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

__all__ = ["Metrics"]


class Metrics:
    """The daemon's counters and gauges, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._received = Counter(
            "edoc_documents_received",
            "Incoming documents stored, by verdict",
            ["verdict"],
            registry=self.registry,
        )
        self._sent = Counter(
            "edoc_messages_sent",
            "Messages accepted by the axis, by kind",
            ["kind"],
            registry=self.registry,
        )
        self._errors = Counter(
            "edoc_errors", "Errors by class", ["error_class"], registry=self.registry
        )
        self.outbox_depth = Gauge(
            "edoc_outbox_depth", "Outgoing messages by state", ["state"], registry=self.registry
        )
        self.inbox_waiting = Gauge(
            "edoc_inbox_waiting",
            "Received documents the clerk has not accepted (state 01)",
            registry=self.registry,
        )
        self.last_poll = Gauge(
            "edoc_last_successful_poll_timestamp_seconds",
            "When the axis last answered a poll (Unix time)",
            registry=self.registry,
        )
        self.last_poll_value = 0.0
        self.certificate_expiry = Gauge(
            "edoc_certificate_expiry_seconds",
            "Seconds until a certificate the office depends on expires (negative: expired)",
            ["role", "subject"],
            registry=self.registry,
        )

    def received(self, verdict: str) -> None:
        self._received.labels(verdict=verdict).inc()

    def sent(self, kind: str) -> None:
        self._sent.labels(kind=kind).inc()

    def error(self, error_class: str) -> None:
        self._errors.labels(error_class=error_class).inc()

    def polled(self) -> None:
        self.last_poll_value = time.time()
        self.last_poll.set(self.last_poll_value)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
