"""Run the CLI as ``python -m edoc_exchange.cli``."""

from . import main

main()
