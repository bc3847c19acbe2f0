"""The application layer: what one office does, behind every door.

The CLI, ``edoc demo``, the daemon's loops, the coming web pages and a commune tool that
embeds the library all call these functions, and only these: receive, send, compose and
queue, the clerk's actions, the files and details of a document. Each is a plain typed
function of an :class:`Office` (the wired parts: store, axis client, signer, trust policy,
clock), built from the settings by :func:`build_office` with only the parts a door needs.
"""

from ._office import FINAL_STATUSES, FollowPolicy, Office, OfficeIdentity, StepReport
from .checkpoints import (
    LogLine,
    LogPage,
    LogStatus,
    checkpoint_now,
    document_timeline,
    export_audit_log,
    log_status,
    log_timeline,
    maybe_checkpoint,
    verify_log,
)
from .clerk import DocumentDetails, document_details, mark
from .composing import Composed, Queued, compose_and_queue, compose_file, numbers_used
from .directory import refresh_directory
from .figures import Figures, figures
from .incoming import IncomingFilters, incoming_detail, incoming_file, list_incoming
from .lifecycle import (
    LifecycleError,
    answer_take_back,
    replace,
    revoke,
    take_back,
    update,
)
from .mail import MailError, MailReport, mail_configured, send_notices
from .metrics import Metrics
from .outgoing import (
    DraftError,
    DraftForm,
    SentDocument,
    Upload,
    approve_draft,
    create_draft,
    issue_draft,
    resend,
    return_draft,
    send_document,
    sent_details,
    sent_list,
    submit_draft,
    update_draft,
)
from .paper import (
    PaperCountError,
    RenderedReport,
    enter_paper_count,
    parse_quarter,
    render_report_yaml,
)
from .pdfchecks import PdfVerdictRow, check_pdfs, pdf_verdicts
from .receiving import receive_documents, receive_statuses, received_files
from .replies import status_message
from .sending import (
    FOLLOW_STOPPED,
    Dispatch,
    follow_sent,
    queue_file,
    queue_message,
    send_due,
    send_now,
)
from .visible import (
    Person,
    TwoStepError,
    VisibleSignatures,
    issue_pdf,
    load_person,
    load_visible,
    sign_as,
)
from .wiring import (
    build_office,
    load_policy,
    load_signer,
    open_store,
    record_configuration,
    upgrade_store,
)
from .worker import (
    Stuck,
    beat,
    keep_wal_small,
    register_worker,
    stop_worker,
    store_space,
    stuck_work,
)

__all__ = [
    "FINAL_STATUSES",
    "FOLLOW_STOPPED",
    "Composed",
    "Dispatch",
    "DocumentDetails",
    "DraftError",
    "DraftForm",
    "Figures",
    "FollowPolicy",
    "IncomingFilters",
    "LifecycleError",
    "LogLine",
    "LogPage",
    "LogStatus",
    "MailError",
    "MailReport",
    "Metrics",
    "Office",
    "OfficeIdentity",
    "PaperCountError",
    "PdfVerdictRow",
    "Person",
    "Queued",
    "RenderedReport",
    "SentDocument",
    "StepReport",
    "Stuck",
    "TwoStepError",
    "Upload",
    "VisibleSignatures",
    "answer_take_back",
    "approve_draft",
    "beat",
    "build_office",
    "check_pdfs",
    "checkpoint_now",
    "compose_and_queue",
    "compose_file",
    "create_draft",
    "document_details",
    "document_timeline",
    "enter_paper_count",
    "export_audit_log",
    "figures",
    "follow_sent",
    "incoming_detail",
    "incoming_file",
    "issue_draft",
    "issue_pdf",
    "keep_wal_small",
    "list_incoming",
    "load_person",
    "load_policy",
    "load_signer",
    "load_visible",
    "log_status",
    "log_timeline",
    "mail_configured",
    "mark",
    "maybe_checkpoint",
    "numbers_used",
    "open_store",
    "parse_quarter",
    "pdf_verdicts",
    "queue_file",
    "queue_message",
    "receive_documents",
    "receive_statuses",
    "received_files",
    "record_configuration",
    "refresh_directory",
    "register_worker",
    "render_report_yaml",
    "replace",
    "resend",
    "return_draft",
    "revoke",
    "send_document",
    "send_due",
    "send_notices",
    "send_now",
    "sent_details",
    "sent_list",
    "sign_as",
    "status_message",
    "stop_worker",
    "store_space",
    "stuck_work",
    "submit_draft",
    "take_back",
    "update",
    "update_draft",
    "upgrade_store",
    "verify_log",
]

# Revocation (CRL/OCSP with an offline cache) and certificate expiry warnings.
from .expiry import (
    CertificateExpiry,
    certificate_expiries,
    expiry_warnings,
    keep_revocation_fresh,
    office_certificates,
    settings_certificates,
    update_expiry_metrics,
)
from .revocation import RefreshReport, RevocationChecker
from .wiring import revocation_folder

__all__ += [
    "CertificateExpiry",
    "RefreshReport",
    "RevocationChecker",
    "certificate_expiries",
    "expiry_warnings",
    "keep_revocation_fresh",
    "office_certificates",
    "revocation_folder",
    "settings_certificates",
    "update_expiry_metrics",
]
