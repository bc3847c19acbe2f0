"""The ``edoc`` command: one module per command group, joined here.

Commands are thin: they parse arguments, call the library and print. Every
:class:`~edoc_exchange.errors.EdocError` ends in one place (:func:`main`), which prints its
Vietnamese and English message and exits 1; a traceback appears only with ``--debug``.
"""

from __future__ import annotations

# First: catches the daemon's stop signal before the command modules' heavy imports.
from . import _early  # noqa: F401  (isort: keep first)
from . import axis as _axis  # noqa: F401  (send, inbox, fetch, ack, sent, agencies, axis serve)
from . import compose as _compose  # noqa: F401  (compose, demo)
from . import documents as _documents  # noqa: F401  (send-document)
from . import formats as _formats  # noqa: F401  (registers validate, inspect, extract)
from . import lifecycle as _lifecycle  # noqa: F401  (revoke, update, replace, take-back, ...)
from . import office as _office  # noqa: F401  (db, daemon, status, mark, audit, report)
from . import pdfsign as _pdfsign  # noqa: F401  (sign-pdf)
from . import signing as _signing  # noqa: F401  (registers keys new, sign, verify)
from . import web as _web  # noqa: F401  (web, users)
from ._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    app(prog_name="edoc")
