"""Imported first by the CLI package, before the command modules and their heavy imports
(seconds on a small machine): ``edoc daemon run`` catches SIGTERM/SIGINT from here on, so
a stop asked while it is still starting is a clean stop (see edoc_exchange.stopping)."""

from __future__ import annotations

import sys

from ..stopping import install_for

install_for(sys.argv[1:])
