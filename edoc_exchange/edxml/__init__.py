"""The QCVN 102:2016 edXML format: models, the reader, the writer, identifiers, findings.

This package is pure: it imports nothing else from edoc_exchange but the root error.
"""

from .checks import check
from .errors import EdxmlError, EdxmlReadError, EdxmlWriteError, IdentifierError
from .findings import Finding, Severity
from .formats import VN_TZ
from .identifiers import DocumentId, OrganId
from .limits import DEFAULT_LIMITS, ReadLimits
from .models import (
    AttachedFile,
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
    PackedFile,
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
from .reader import ReadResult, read, read_file, read_trace_hops, read_tree
from .spec import DSIG_NS, NS
from .writer import write, write_file

__all__ = [
    "DEFAULT_LIMITS",
    "DSIG_NS",
    "NS",
    "VN_TZ",
    "AttachedFile",
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
    "PackedFile",
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
    "read_trace_hops",
    "read_tree",
    "write",
    "write_file",
]
