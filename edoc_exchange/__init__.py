"""edoc-exchange: signed edXML exchange for a commune's People's Committee.

The public API another commune tool imports, in the order a document travels:
read and write QCVN 102:2016 messages (``read``, ``write``, the models, identifiers);
sign and verify them (``sign``, ``verify`` with an explicit ``TrustPolicy``); talk to the
axis (``AxisClient``, ``AsyncAxisClient``); and the root of every error (``EdocError``).
Deeper layers (compose, store, audit, daemon) are packages of their own.
"""

import importlib
from typing import TYPE_CHECKING, Any

from .errors import EdocError

if TYPE_CHECKING:
    from .axis import AsyncAxisClient, AxisClient, AxisError
    from .edxml import (
        Attachment,
        Document,
        DocumentId,
        EdxmlError,
        EdxmlReadError,
        EdxmlWriteError,
        OrganId,
        OrganizationInfo,
        ReadLimits,
        ReadResult,
        StatusCode,
        StatusMessage,
        read,
        read_file,
        write,
        write_file,
    )
    from .signing import SignatureError, TrustPolicy, VerifiedMessage, sign, verify

# The API is imported on first use (PEP 562): ``edoc daemon run`` must catch SIGTERM before
# the heavy imports (lxml, cryptography, httpx...), and a bare ``import edoc_exchange`` is
# where every command starts.
_EXPORTS = {
    "AsyncAxisClient": "axis",
    "AxisClient": "axis",
    "AxisError": "axis",
    "Attachment": "edxml",
    "Document": "edxml",
    "DocumentId": "edxml",
    "EdxmlError": "edxml",
    "EdxmlReadError": "edxml",
    "EdxmlWriteError": "edxml",
    "OrganId": "edxml",
    "OrganizationInfo": "edxml",
    "ReadLimits": "edxml",
    "ReadResult": "edxml",
    "StatusCode": "edxml",
    "StatusMessage": "edxml",
    "read": "edxml",
    "read_file": "edxml",
    "write": "edxml",
    "write_file": "edxml",
    "SignatureError": "signing",
    "TrustPolicy": "signing",
    "VerifiedMessage": "signing",
    "sign": "signing",
    "verify": "signing",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__version__ = "0.1.0"

__all__ = [
    "AsyncAxisClient",
    "Attachment",
    "AxisClient",
    "AxisError",
    "Document",
    "DocumentId",
    "EdocError",
    "EdxmlError",
    "EdxmlReadError",
    "EdxmlWriteError",
    "OrganId",
    "OrganizationInfo",
    "ReadLimits",
    "ReadResult",
    "SignatureError",
    "StatusCode",
    "StatusMessage",
    "TrustPolicy",
    "VerifiedMessage",
    "__version__",
    "read",
    "read_file",
    "sign",
    "verify",
    "write",
    "write_file",
]
