"""The daemon: the office's inbound and outbound loops on intervals, a clean stop, health
and metrics. What each step does is :mod:`edoc_exchange.office`'s."""

from .runner import Intervals, Runner

__all__ = ["Intervals", "Runner"]
