"""Serving the pages with uvicorn: in the foreground (``edoc web``) or in a thread beside
the daemon, the demo and the tests, with a start that returns only once the port answers.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from ..errors import EdocError

__all__ = ["PagesServer", "WebServeError"]


class WebServeError(EdocError):
    """The pages could not be served (the port is taken, the TLS files are unreadable)."""


class PagesServer:
    """One uvicorn server for the pages, run in a background thread.

    uvicorn installs signal handlers only in the main thread, so the daemon's own stop
    handling stays in charge. :meth:`start` waits until the socket is bound (or the server
    failed), so the address it returns answers at once: no readiness race for a caller.
    """

    def __init__(
        self,
        app: Starlette,
        host: str,
        port: int,
        *,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
    ) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            ssl_certfile=str(tls_cert) if tls_cert else None,
            ssl_keyfile=str(tls_key) if tls_key else None,
            # Uploads over a weak link take long: do not cut an idle keep-alive too soon.
            timeout_keep_alive=30,
        )
        self.server = uvicorn.Server(config)
        self.scheme = "https" if tls_cert else "http"
        self._thread = threading.Thread(target=self.server.run, name="edoc-web", daemon=True)

    @property
    def url(self) -> str:
        """The address the pages answer at (the port the system chose, for port 0)."""
        servers = getattr(self.server, "servers", [])
        for server in servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
                return f"{self.scheme}://{shown}:{port}"
        config = self.server.config
        return f"{self.scheme}://{config.host}:{config.port}"

    def start(self, timeout: float = 30.0) -> str:
        """Start serving; return the address once it answers. WebServeError otherwise."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise WebServeError(
                    f"Không mở được trang web tại {self.server.config.host}:"
                    f"{self.server.config.port} (cổng đã có chương trình khác dùng?)",
                    f"could not serve the pages on {self.server.config.host}:"
                    f"{self.server.config.port} (is the port taken?)",
                    step="web.port",
                )
            if time.monotonic() > deadline:
                raise WebServeError(
                    "Trang web không khởi động kịp", "the pages did not start in time",
                    step="web.start",
                )
            time.sleep(0.02)
        return self.url

    def wait(self) -> None:
        """Block until the server ends (Ctrl+C reaches the caller between two checks)."""
        while self._thread.is_alive():
            self._thread.join(0.5)

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
