"""The root of every exception edoc-exchange raises.

This module imports nothing from the package, so every layer (the pure ``edxml`` format
included) may derive its errors from :class:`EdocError` without an arrow pointing backwards.

Exception tree (each layer adds its branch in its own package)::

    EdocError
    ├── edxml.EdxmlError           the QCVN 102 format
    │   ├── edxml.IdentifierError  a malformed OrganId or DocumentId
    │   ├── edxml.EdxmlReadError   bytes that are not an acceptable message
    │   └── edxml.EdxmlWriteError  a model that may not be written
    └── ...                        signing, axis, store, audit (later layers)
"""

from __future__ import annotations

__all__ = ["EdocError"]


class EdocError(Exception):
    """A failure a person can act on: it says, in Vietnamese and English, what went wrong.

    ``step`` names the field, element path or processing step concerned, so a clerk or an
    integrator knows where to look; ``vi`` and ``en`` are the two texts of the message.
    """

    def __init__(self, vi: str, en: str, *, step: str | None = None) -> None:
        self.vi = vi
        self.en = en
        self.step = step
        super().__init__(self.diagnostics())

    def diagnostics(self) -> str:
        """The text shown to a person: where, then the Vietnamese and English messages."""
        where = f"{self.step}: " if self.step else ""
        return f"{where}{self.vi} ({self.en})"
