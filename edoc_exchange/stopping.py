"""The daemon's stop signal, caught from the first moment of the process.

``edoc daemon run`` installs these handlers before it imports anything heavy (the package's
``__init__`` imports its API lazily for this; see ``__main__`` and ``cli``), so a SIGTERM
while the process is still starting — importing, migrating the store, recording its
configuration — asks it to stop instead of killing it: it stops cleanly at the next point
it looks. The first SIGTERM/SIGINT sets :data:`requested`; a second one exits at once with
128 + the signal's number, as a shell reports a process killed by it.

A neutral module: the standard library only, so that it can be imported first.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any

__all__ = ["install", "install_for", "is_daemon_run", "requested", "uninstall"]

#: Set by the first SIGTERM/SIGINT after :func:`install`.
requested = threading.Event()
_previous: dict[int, Any] = {}


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    if requested.is_set():
        os._exit(128 + signum)  # the second signal: stop now, whatever is running
    requested.set()


def install() -> bool:
    """Catch SIGTERM and SIGINT (main thread only); False when already installed."""
    if _previous or threading.current_thread() is not threading.main_thread():
        return False
    for sig in (signal.SIGTERM, signal.SIGINT):
        _previous[sig] = signal.signal(sig, _on_signal)
    return True


def uninstall() -> None:
    """Put the previous handlers back and forget a stop request (tests, embedding)."""
    for sig, handler in _previous.items():
        signal.signal(sig, handler)
    _previous.clear()
    requested.clear()


def is_daemon_run(argv: Sequence[str]) -> bool:
    """Whether a command line runs the daemon (``... daemon [options] run ...``)."""
    args = list(argv)
    if "daemon" not in args:
        return False
    return "run" in args[args.index("daemon") + 1 :]


def install_for(argv: Sequence[str]) -> None:
    """Install the handlers when ``argv`` runs the daemon; other commands keep Python's."""
    if is_daemon_run(argv):
        install()
