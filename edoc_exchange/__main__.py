"""Run the CLI as ``python -m edoc_exchange``."""

from .cli import main

main()
