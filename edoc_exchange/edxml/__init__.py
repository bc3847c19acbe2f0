"""The QCVN 102:2016 edXML format: models, the reader, the writer, identifiers, findings.

This package is pure: it imports nothing else from edoc_exchange but the root error.
"""

from .checks import check
from .errors import EdxmlError, EdxmlReadError, EdxmlWriteError, IdentifierError
from .findings import Finding, Severity
from .formats import VN_TZ
from .identifiers import DocumentId, OrganId
from .models import (
    Attachment,
    BusinessDocType,
    Bussiness,
    BussinessDocumentInfo,
    Code,
    Document,
    DocumentType,
    Message,
    OrganizationInfo,
    OtherInfo,
    PromulgationInfo,
    RawXml,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    ResponseForTask,
    SignerInfo,
    StaffInfo,
    StatusCode,
    StatusMessage,
    TraceHeader,
)
from .reader import DEFAULT_LIMITS, ReadLimits, ReadResult, read, read_file, read_tree
from .spec import DSIG_NS, NS
from .writer import write, write_file

__all__ = [
    "DEFAULT_LIMITS",
    "DSIG_NS",
    "NS",
    "VN_TZ",
    "Attachment",
    "BusinessDocType",
    "Bussiness",
    "BussinessDocumentInfo",
    "Code",
    "Document",
    "DocumentId",
    "DocumentType",
    "EdxmlError",
    "EdxmlReadError",
    "EdxmlWriteError",
    "Finding",
    "IdentifierError",
    "Message",
    "OrganId",
    "OrganizationInfo",
    "OtherInfo",
    "PromulgationInfo",
    "RawXml",
    "ReadLimits",
    "ReadResult",
    "Receiver",
    "ReplacementInfo",
    "ResponseFor",
    "ResponseForTask",
    "Severity",
    "SignerInfo",
    "StaffInfo",
    "StatusCode",
    "StatusMessage",
    "TraceHeader",
    "check",
    "read",
    "read_file",
    "read_tree",
    "write",
    "write_file",
]
