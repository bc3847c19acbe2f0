"""edoc-exchange: signed edXML exchange for a commune's People's Committee.

The public API another commune tool imports: read and write QCVN 102:2016 messages, their
models and identifiers, and the errors every layer raises (all derive from EdocError).
"""

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

__version__ = "0.1.0"

__all__ = [
    "Attachment",
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
    "StatusCode",
    "StatusMessage",
    "__version__",
    "read",
    "read_file",
    "write",
    "write_file",
]
