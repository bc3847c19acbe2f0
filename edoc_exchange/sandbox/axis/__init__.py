"""The local axis: the same protocol as the national axis, on one machine.

``LocalAxis(config).app`` is a starlette app; :func:`serve` runs it with uvicorn.
See ``_app`` for routing, de-duplication and what recipients get, ``_trace`` for how the
axis's TraceHeader is added to a delivered message.
"""

from __future__ import annotations

from ._app import LocalAxis, create_app
from ._config import LocalAxisConfig, LocalAxisConfigError, SystemConfig, load_directory

__all__ = [
    "LocalAxis",
    "LocalAxisConfig",
    "LocalAxisConfigError",
    "SystemConfig",
    "create_app",
    "load_directory",
    "serve",
]


def serve(
    config: LocalAxisConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    log_level: str = "info",
) -> None:
    """Run the local axis until interrupted (Ctrl+C). Access logs carry no headers."""
    import uvicorn

    axis = LocalAxis(config)
    try:
        uvicorn.run(axis.app, host=host, port=port, log_level=log_level)
    finally:
        axis.close()
