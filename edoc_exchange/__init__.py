"""edoc-exchange: signed edXML exchange for a commune's People's Committee.

The public API another commune tool imports, in the order a document travels:
read and write QCVN 102:2016 messages (``read``, ``write``, the models, identifiers);
sign and verify them (``sign``, ``verify`` with an explicit ``TrustPolicy``); talk to the
axis (``AxisClient``, ``AsyncAxisClient``); and the root of every error (``EdocError``).
Deeper layers (compose, store, audit, daemon) are packages of their own.
"""

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
from .errors import EdocError
from .signing import SignatureError, TrustPolicy, VerifiedMessage, sign, verify

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
