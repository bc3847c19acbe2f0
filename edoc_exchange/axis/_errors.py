"""Errors of the axis layer: one class per failure class, so callers decide by type.

Exception tree::

    EdocError
    └── AxisError                   anything that went wrong talking to an axis
        ├── AxisTransientError      a retry may help (the client retries these itself)
        │   ├── AxisConnectionError no connection, or it dropped before a whole answer
        │   ├── AxisTimeout         no answer within the configured timeout
        │   ├── AxisServerError     HTTP 5xx
        │   └── AxisRateLimited     HTTP 429; ``retry_after`` holds the server's wish
        ├── AxisProtocolError       an answer that is not the protocol's JSON
        └── AxisRejected            the axis answered ``status: FAIL`` (never retried)
            ├── AxisAuthError       HMAC, system id, clock skew, not served OrganId
            ├── AxisValidationError the message or the call itself is wrong
            └── AxisNotFound        no such DocId for this system

Every error carries the axis's ``error_code``/``error_desc`` when it sent them, and the
HTTP status when there was one. A transient error that survived every retry is raised as
itself: the *last* failure is what the caller sees.
"""

from __future__ import annotations

from ..errors import EdocError

__all__ = [
    "AxisAuthError",
    "AxisConnectionError",
    "AxisError",
    "AxisNotFound",
    "AxisProtocolError",
    "AxisRateLimited",
    "AxisRejected",
    "AxisServerError",
    "AxisSettingsError",
    "AxisTimeout",
    "AxisTransientError",
    "AxisValidationError",
]


class AxisError(EdocError):
    """A call to the axis failed; ``operation`` names the call (``sendEdoc``, ...)."""

    def __init__(
        self,
        vi: str,
        en: str,
        *,
        operation: str,
        error_code: str | None = None,
        error_desc: str | None = None,
        http_status: int | None = None,
    ) -> None:
        self.operation = operation
        self.error_code = error_code
        self.error_desc = error_desc
        self.http_status = http_status
        super().__init__(vi, en, step=f"axis.{operation}")


class AxisSettingsError(AxisError):
    """The client's settings cannot serve this call (no sender OrganId, say): fix the config."""


class AxisTransientError(AxisError):
    """A failure where trying again later may succeed."""

    #: Seconds the server asked us to wait (``Retry-After`` of a 429 or 503), if it did.
    retry_after: float | None = None


class AxisConnectionError(AxisTransientError):
    """The connection could not be made, or broke before the whole answer arrived."""


class AxisTimeout(AxisTransientError):  # noqa: N818  (named for what happened)
    """The axis did not answer within the timeout."""


class AxisServerError(AxisTransientError):
    """The axis answered with a 5xx: its fault, not the message's."""


class AxisRateLimited(AxisTransientError):  # noqa: N818  (named for what happened)
    """HTTP 429. ``retry_after`` is the server's requested wait in seconds, if it gave one."""

    def __init__(
        self,
        vi: str,
        en: str,
        *,
        operation: str,
        retry_after: float | None,
        error_code: str | None = None,
        error_desc: str | None = None,
        http_status: int | None = 429,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(
            vi,
            en,
            operation=operation,
            error_code=error_code,
            error_desc=error_desc,
            http_status=http_status,
        )


class AxisProtocolError(AxisError):
    """The answer is not the protocol's JSON (a proxy's HTML page, a truncated body...).

    Not retried: the call may have taken effect, and the same answer would likely come back.
    """


class AxisRejected(AxisError):  # noqa: N818  (named for what happened)
    """The axis refused the call (``status: FAIL``); retrying the same call cannot help."""


class AxisAuthError(AxisRejected):
    """Authentication failed: wrong secret or system id, clock skew, or an OrganId not served."""


class AxisValidationError(AxisRejected):
    """The call or the message is invalid (edXML, hash-file, size, unknown recipient...)."""


class AxisNotFound(AxisRejected):
    """No item with that DocId is visible to this system."""
