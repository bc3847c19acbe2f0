"""A total deadline for each call of the blocking client, at the socket.

httpx's timeouts bound each step (connect, one write, one read), so an answer that
trickles one byte a second never times out, and a call could run for minutes. The
blocking client's own connection pool therefore uses :class:`DeadlineBackend`: every
connect, TLS handshake, write and read of the calling thread is given only the time left
until the deadline that :func:`deadline` set for the attempt, and fails at once past it
(as httpcore's own timeout exceptions, which httpx and the client map as usual).

The asynchronous client needs none of this: it cancels the attempt with ``anyio``.
"""

from __future__ import annotations

import ssl
import threading
import time
import typing
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import httpcore
import httpx

__all__ = ["DeadlineBackend", "deadline", "deadline_transport", "passed"]

#: Writes are split so that a peer reading slowly cannot hold one write past the deadline.
_WRITE_SLICE = 16 * 1024

_local = threading.local()


@contextmanager
def deadline(at: float) -> Iterator[None]:
    """Give every network step of this thread until ``at`` (``time.monotonic()``)."""
    previous = getattr(_local, "at", None)
    _local.at = at
    try:
        yield
    finally:
        _local.at = previous


def passed() -> bool:
    """Whether this thread's current deadline has passed."""
    at: float | None = getattr(_local, "at", None)
    return at is not None and time.monotonic() >= at


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    """The step's timeout, cut to what is left of the thread's deadline."""
    at: float | None = getattr(_local, "at", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise error("the call's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every step ends by the calling thread's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        view = memoryview(buffer)
        for offset in range(0, len(view), _WRITE_SLICE):
            piece = bytes(view[offset : offset + _WRITE_SLICE])
            self._inner.write(piece, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(
            ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's blocking backend with the calling thread's deadline on every step."""

    def __init__(self, inner: httpcore.NetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(
            host,
            port,
            _left(timeout, httpcore.ConnectTimeout),
            local_address=local_address,
            socket_options=socket_options,
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(
            path, _left(timeout, httpcore.ConnectTimeout), socket_options=socket_options
        )
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport over a connection pool that uses :class:`DeadlineBackend`."""

    def __init__(self, *, ssl_context: ssl.SSLContext, limits: httpx.Limits) -> None:
        super().__init__(verify=ssl_context, limits=limits)
        # The same pool httpx builds, given the deadline backend (httpx has no argument
        # for it); the trickle test in tests/test_axis_faults.py holds this in place.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=DeadlineBackend(),
        )


def deadline_transport(ssl_context: ssl.SSLContext, limits: httpx.Limits) -> httpx.BaseTransport:
    """The blocking client's own transport: its calls end by their deadline."""
    return _DeadlineTransport(ssl_context=ssl_context, limits=limits)
