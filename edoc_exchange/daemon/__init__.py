"""The daemon: inbound and outbound loops, the clerk's actions, health and metrics."""

from .metrics import Metrics
from .office import Office, OfficeIdentity, StepReport, mark
from .runner import Intervals, Runner, refresh_directory

__all__ = [
    "Intervals",
    "Metrics",
    "Office",
    "OfficeIdentity",
    "Runner",
    "StepReport",
    "mark",
    "refresh_directory",
]
