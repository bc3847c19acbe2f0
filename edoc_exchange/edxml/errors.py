"""Errors of the edXML format layer; all derive from :class:`~edoc_exchange.errors.EdocError`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import EdocError
from .findings import Finding, Severity

if TYPE_CHECKING:
    from .reader import ReadResult

__all__ = ["EdxmlError", "EdxmlReadError", "EdxmlWriteError", "IdentifierError"]


class EdxmlError(EdocError):
    """Anything wrong with an edXML message or one of its identifiers."""


class IdentifierError(EdxmlError, ValueError):
    """A malformed OrganId or DocumentId; the message says which part is wrong.

    It is also a ``ValueError`` so that pydantic validators can raise it directly.
    """


class _FindingsError(EdxmlError):
    """An error that carries every finding, not only the first one."""

    _vi_head = ""
    _en_head = ""

    def __init__(self, findings: Sequence[Finding], *, source: str | None = None) -> None:
        self.findings: tuple[Finding, ...] = tuple(findings)
        self.errors: tuple[Finding, ...] = tuple(
            f for f in self.findings if f.severity is Severity.ERROR
        )
        first = self.errors[0] if self.errors else None
        count = len(self.errors)
        vi = f"{self._vi_head}: {count} lỗi" + (f"; đầu tiên: {first.vi}" if first else "")
        en = f"{self._en_head}: {count} error(s)" + (f"; first: {first.en}" if first else "")
        where = first.path if first else None
        if first is not None and first.line is not None:
            where = f"line {first.line}: {where}"
        if source:
            where = f"{source}: {where}" if where else source
        super().__init__(vi, en, step=where)


class EdxmlReadError(_FindingsError):
    """The input is not an acceptable edXML message.

    ``findings`` lists every error and warning; ``partial`` holds what could still be read
    (header fields of a message whose attachments are broken, say) or ``None`` when nothing
    could: it is for showing a person what arrived, never for processing.
    """

    _vi_head = "Gói tin edXML không hợp lệ"
    _en_head = "invalid edXML message"

    def __init__(
        self,
        findings: Sequence[Finding],
        *,
        partial: ReadResult | None = None,
        source: str | None = None,
    ) -> None:
        self.partial = partial
        super().__init__(findings, source=source)


class EdxmlWriteError(_FindingsError):
    """The model breaks a rule of the standard, so the writer refuses to produce it."""

    _vi_head = "Không thể tạo gói tin edXML"
    _en_head = "cannot write the edXML message"
