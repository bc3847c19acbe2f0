"""The office's own commands: the database, the daemon, the clerk's actions, the audit log
and the e-governance report.

``edoc db upgrade``, ``edoc daemon run``, ``edoc status DOCUMENT_ID``, ``edoc files
DOCUMENT_ID -o DIR``, ``edoc mark DOCUMENT_ID 03 [--note]``, ``edoc audit
verify|export|prove|checkpoint``, ``edoc report egov``.
All read the settings from ``--config`` (or $EDOC_CONFIG, ./edoc.toml) and EDOC_* variables.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .. import audit, edxml, signing, stopping
from .. import office as steps
from ..atomicfile import write_atomically
from ..config import load_settings
from ..daemon import Runner
from ..edxml import VN_TZ
from ..office import build_office, open_store, record_configuration
from ..office.lifecycle import change_words, outcome_words
from ..reports import (
    Period,
    ReportError,
    build,
    default_facts,
    egov_report,
    render,
    to_yaml,
    xlsx,
)
from ._app import ConfigOption, app, err_console, exits_on_error, out
from ._files import write_files

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
FromOption = Annotated[
    str | None,
    typer.Option(
        "--from",
        help="Nơi gửi (OrganId), khi nhiều nơi gửi dùng cùng mã văn bản. The sender, when "
        "several senders used the DocumentId (default: the issuer it names).",
    ),
]
_MOVES = edxml.StatusCode.clerk_moves()


def _status_text(code: str | None) -> str:
    known = edxml.StatusCode.known(code)
    return known.description if known is not None else ""


db_app = typer.Typer(help="Cơ sở dữ liệu. The database.", no_args_is_help=True)
daemon_app = typer.Typer(help="Tiến trình nền. The background daemon.", no_args_is_help=True)
audit_app = typer.Typer(
    help="Nhật ký kiểm tra. The tamper-evident audit log.", no_args_is_help=True
)
report_app = typer.Typer(help="Báo cáo. Reports.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(daemon_app, name="daemon")
app.add_typer(audit_app, name="audit")
app.add_typer(report_app, name="report")


@db_app.command("upgrade")
@exits_on_error
def db_upgrade(config: ConfigOption = None) -> None:
    """Tạo/cập nhật cơ sở dữ liệu. Create or migrate the database to the current schema."""
    url, revision = steps.upgrade_store(load_settings(config))
    out.print(f"Cơ sở dữ liệu / database {url}: phiên bản / revision {revision}")


@daemon_app.command("run")
@exits_on_error
def daemon_run(
    config: ConfigOption = None,
    once: Annotated[bool, typer.Option("--once", help="Run each step once, then exit.")] = False,
) -> None:
    """Chạy tiến trình nền. Poll, verify, store, answer and send until SIGTERM/SIGINT.

    The first SIGTERM/SIGINT stops it after the item in hand (at most [daemon]
    stop_timeout seconds), also while it is still starting; exit code 0. A second one
    exits at once with 128 + the signal's number.
    """
    if not once:
        # First thing, before the store's migrations and the configuration record (the
        # CLI package installed them already when it saw this command line).
        stopping.install()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for noisy in ("httpx", "httpcore", "stamina", "alembic"):  # one line per poll is not news
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = load_settings(config)
    if _stop_asked("loading the configuration"):
        return
    office = build_office(settings)  # opens and migrates the store
    if _stop_asked("opening the store"):
        return
    record_configuration(office, settings)
    if _stop_asked("recording the configuration"):
        return
    runner = Runner.from_settings(office, settings.daemon, web=settings.web)
    if once:
        runner.inbound_step()
        runner.outbound_step()
        steps.checkpoint_now(office)
        out.print("Xong một lượt / one pass done")
        return
    out.print(
        f"edoc daemon: {office.office_id} ({office.worker}); health: {_health_url(runner.health)}"
    )
    report = runner.run_forever()
    if report.clean:
        out.print("Đã dừng / stopped")
        return
    busy = ", ".join(report.busy)
    out.print(
        f"Đã dừng, không chờ {busy} (việc dở được tiếp nhận ngay khi chạy lại) / stopped "
        f"without waiting for {busy} (its work is taken over at the next start)"
    )
    # A loop is stuck in a call: do not let interpreter shutdown wait on or trip over it.
    for handler in logging.getLogger().handlers:
        handler.flush()
    out.file.flush()
    os._exit(0)


def _stop_asked(during: str) -> bool:
    """Whether a stop signal came while starting (then say so: it is a clean stop)."""
    if not stopping.requested.is_set():
        return False
    out.print(f"Đã dừng khi đang khởi động / stopped while {during}")
    return True


def _health_url(health: tuple[str, int] | None) -> str:
    return f"http://{health[0]}:{health[1]}/healthz" if health else "off"


@app.command("status")
@exits_on_error
def status_cmd(
    document_id: Annotated[
        str | None,
        typer.Argument(help="Mã văn bản; không có: tình trạng cơ quan. Without: the office's."),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    sender: FromOption = None,
) -> None:
    """Tình trạng văn bản. A document's state: received (clerk state) or sent (recipients).

    Without a DOCUMENT_ID: the certificates the office depends on and when they expire.
    Certificates expiring within ``[trust] expiry_warning_days`` are warned about either way.
    """
    settings = load_settings(config)
    office_id = settings.require_office().organ_id
    expiries = steps.certificate_expiries(
        steps.settings_certificates(settings),
        now=dt.datetime.now(dt.UTC),
        warning_days=settings.trust.expiry_warning_days if settings.trust else 30,
    )
    warnings = [e for e in expiries if e.warn]
    if document_id is None:
        _office_status(office_id, expiries, as_json=as_json)
        return
    if not as_json:
        for warning in warnings:
            err_console.print(f"[bold yellow]⚠ {warning.vi}[/] / {warning.en}")
    details = steps.document_details(open_store(settings), office_id, document_id, sender=sender)
    received, sent = details.received, details.sent
    recipients, history = details.recipients, details.history
    if received is None and sent is None:
        err_console.print(f"Không có văn bản {document_id} / no document {document_id}")
        raise typer.Exit(1)
    tsa_roots = (
        signing.load_roots(settings.tsa.roots) if settings.tsa.roots is not None else ()
    )
    stamp = details.timestamp(tsa_roots)
    data: dict[str, Any] = {
        "document_id": document_id,
        "received": None
        if received is None
        else {
            "from": received.sender,
            "subject": received.subject,
            "verdict": received.verdict.value,
            "reason": received.reason,
            "clerk_state": received.clerk_state,
            "received_at": received.received_at.isoformat(),
            "due_date": received.due_date,
            "identity_finding": received.identity_finding,
            "timestamp": stamp.as_json() if stamp is not None else None,
            "pdf_signatures": [
                {
                    "name": v.name,
                    "verdict": v.verdict,
                    "reason": v.reason,
                    "checked_at": v.checked_at.isoformat(),
                    "signatures": v.signatures,
                }
                for v in details.pdf_verdicts
            ],
        },
        "also_received": [
            {"from": r.sender, "verdict": r.verdict.value, "identity_finding": r.identity_finding}
            for r in details.also_received
        ],
        "sent": None
        if sent is None
        else {
            "state": sent.state.value,
            "axis_doc_id": sent.axis_doc_id,
            "last_error": sent.last_error,
            "following": sent.following,
            "follow_next_at": sent.follow_next_at.isoformat() if sent.follow_next_at else None,
            "follow_stopped_at": (
                sent.follow_stopped_at.isoformat() if sent.follow_stopped_at else None
            ),
            "recipients": [
                {
                    "organ_id": r["organ_id"],
                    "status_code": r["status_code"],
                    "send_status": r["send_status"],
                    "receive_status": r["receive_status"],
                }
                for r in recipients
            ],
        },
        "history": [
            {
                "direction": h["direction"],
                "counterpart": h["counterpart"],
                "status_code": h["status_code"],
                "description": h["description"],
                "recorded_at": h["recorded_at"].isoformat(),
            }
            for h in history
        ],
        "changes": [
            {
                "direction": c.direction,
                "issuer": c.issuer,
                "document_id": c.document_id,
                "change": c.change,
                "by_document_id": c.by_document_id,
                "outcome": c.outcome,
                "reason": c.reason,
                "at": c.at.isoformat(),
            }
            for c in details.changes
        ],
        "certificate_warnings": [w.as_json() for w in warnings],
    }
    if as_json:
        out.print_json(json.dumps(data, ensure_ascii=False, default=str))
        return
    table = Table(title=f"Văn bản / document {document_id}")
    table.add_column("")
    table.add_column("", overflow="fold")
    if received is not None:
        table.add_row("Nơi gửi / from", received.sender)
        table.add_row("Trích yếu / subject", received.subject or "")
        table.add_row(
            "Chữ ký / signature",
            received.verdict.value + (f" — {received.reason}" if received.reason else ""),
        )
        table.add_row(
            "Trạng thái / state", f"{received.clerk_state} {_status_text(received.clerk_state)}"
        )
        if received.identity_finding:
            table.add_row("Cảnh báo / warning", received.identity_finding)
        if stamp is not None:
            table.add_row("Dấu thời gian / timestamp", _stamp_line(stamp))
        for v in details.pdf_verdicts:
            table.add_row(f"Chữ ký PDF / PDF signature: {v.name}", _pdf_line(v))
    for other in details.also_received:
        table.add_row(
            "Cùng mã, nơi gửi khác / same DocumentId, another sender",
            f"{other.sender} ({other.verdict.value}; edoc status --from {other.sender})",
        )
    if sent is not None:
        table.add_row("Gửi / sending", f"{sent.state} {sent.axis_doc_id or ''}")
        if sent.follow_stopped_at is not None:
            table.add_row(
                "Theo dõi / following",
                f"đã ngừng hỏi trục từ {sent.follow_stopped_at:%Y-%m-%d} (quá hạn theo dõi); "
                "trạng thái gửi đến vẫn được ghi / stopped asking the axis on "
                f"{sent.follow_stopped_at:%Y-%m-%d} (past the horizon); statuses that "
                "arrive are still recorded",
            )
        for r in data["sent"]["recipients"]:
            table.add_row(
                f"→ {r['organ_id']}",
                f"{r['status_code'] or '-'} {_status_text(r['status_code'])}",
            )
    for h in data["history"]:
        arrow = "←" if h["direction"] == "in" else "→"
        table.add_row(f"{arrow} {h['counterpart']}", f"{h['status_code']} {h['description'] or ''}")
    for c in details.changes:
        table.add_row(*_change_line(document_id, c))
    out.print(table)


_CHANGE_VI = {
    "revoked": "Thu hồi",
    "updated": "Cập nhật",
    "replaced": "Thay thế",
    "takeback": "Lấy lại",
}


def _office_status(
    office_id: str, expiries: list[steps.CertificateExpiry], *, as_json: bool
) -> None:
    """``edoc status`` without a document: each certificate and its expiry, warnings first."""
    warnings = [e for e in expiries if e.warn]
    if as_json:
        data = {
            "office": office_id,
            "certificates": [e.as_json() for e in expiries],
            "certificate_warnings": [w.as_json() for w in warnings],
        }
        out.print_json(json.dumps(data, ensure_ascii=False))
        return
    for warning in warnings:
        out.print(f"[bold yellow]⚠ {warning.vi}[/]\n  {warning.en}")
    table = Table(title=f"Chứng thư số / certificates of {office_id}")
    table.add_column("Vai trò / role")
    table.add_column("Chủ thể / subject", overflow="fold")
    table.add_column("Hết hạn / expires")
    table.add_column("Còn / days left", justify="right")
    for e in expiries:
        role = e.role_words
        table.add_row(
            f"{role[0]} / {role[1]}",
            e.subject,
            f"{e.not_after:%Y-%m-%d}",
            ("⚠ " if e.warn else "") + str(e.days_left),
        )
    out.print(table)


def _change_line(document_id: str, c: Any) -> tuple[str, str]:
    """One line of a document's chain: what happened to it (and by which message), or,
    for the replacement, which document it replaces; the outcome in words."""
    label = f"{_CHANGE_VI.get(c.change, c.change)} / {c.change}"
    when = f"{c.at:%Y-%m-%d}"
    vi_out, en_out = outcome_words(c.change, c.outcome)
    outcome = f"[{vi_out} / {en_out}]"
    if c.document_id != document_id:  # this document is the message that changed another
        return label, f"thay thế cho / replaces {c.document_id} {when} {outcome}"
    vi, en = change_words(c.change)
    by = c.by_document_id if c.by_document_id not in (None, document_id) else None
    what = f"{vi} bởi / {en} by {by}" if by else f"{vi} / {en}"
    reason = f" — {c.reason}" if c.reason else ""
    return label, f"{what} {when} {outcome}{reason}"


def _stamp_line(stamp: signing.TimestampVerdict) -> str:
    """The signature's RFC 3161 timestamp in words: the time it proves, or why not."""
    when = stamp.time.astimezone(VN_TZ).isoformat() if stamp.time else "?"
    if stamp.proven is not None:
        return f"{when} — chứng thực bởi / proven by {stamp.tsa}"
    return (
        f"{when} — chưa chứng thực, máy chủ không tin cậy / not proven, TSA not trusted: "
        f"{stamp.tsa}"
    )


#: A PDF verdict in words (pdf_verdicts.verdict).
_PDF_VERDICT_WORDS = {
    "valid": "hợp lệ / valid",
    "invalid": "không hợp lệ / invalid",
    "untrusted": "không tin cậy / untrusted",
    "revoked": "chứng thư đã bị thu hồi / signer revoked",
    "unsigned": "không có chữ ký / unsigned",
    "error": "không kiểm tra được / not checkable",
}


def _pdf_line(verdict: steps.PdfVerdictRow) -> str:
    """One PDF's verdict: the verdict, then each signer and signing time, then the reason."""
    parts = [_PDF_VERDICT_WORDS.get(verdict.verdict, verdict.verdict)]
    for sig in verdict.signatures:
        who = sig.get("signer") or "?"
        when = sig.get("timestamp") or sig.get("signed_at") or "?"
        parts.append(f"{who} ({when}; thu hồi / revocation: {sig.get('revocation')})")
    if verdict.reason:
        parts.append(verdict.reason)
    return " — ".join(parts)


@app.command("files")
@exits_on_error
def files_cmd(
    document_id: str,
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder to write into.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    config: ConfigOption = None,
    sender: FromOption = None,
) -> None:
    """Lấy tệp của văn bản đến. Write a received document's files (unzipped) into a folder."""
    settings = load_settings(config)
    office_id = settings.require_office().organ_id
    handed = steps.received_files(
        open_store(settings),
        office_id,
        document_id,
        sender=sender,
        blob_dir=settings.store.blob_dir,
    )
    if not handed:
        out.print("Không có tệp đính kèm / no attachments")
        return
    write_files(handed, output, force=force)


@app.command("mark")
@exits_on_error
def mark_cmd(
    document_id: str,
    code: Annotated[
        str,
        typer.Argument(
            help=", ".join(f"{c.value} {c.vi.lower()}" for c in _MOVES),
        ),
    ],
    note: Annotated[str | None, typer.Option("--note", help="Ghi chú gửi kèm / a note.")] = None,
    config: ConfigOption = None,
    sender: FromOption = None,
) -> None:
    """Chuyển trạng thái văn bản đến. Move a received document; the sender is told."""
    target = edxml.StatusCode.known(code)
    if target not in _MOVES:
        choices = ", ".join(c.value for c in _MOVES)
        err_console.print(
            f"Mã trạng thái phải là một trong {choices} / the code must be one of {choices}"
        )
        raise typer.Exit(2)
    office = build_office(load_settings(config))
    row = steps.mark(office, document_id, code, note, sender=sender)
    out.print(
        f"{document_id}: {row.clerk_state} {_status_text(row.clerk_state)} — "
        "đã xếp hàng gửi trạng thái / status queued for the sender"
    )


@audit_app.command("verify")
@exits_on_error
def audit_verify(
    file: Annotated[
        Path | None,
        typer.Option("--file", exists=True, dir_okay=False, help="Verify an export offline."),
    ] = None,
    cert: Annotated[
        list[Path] | None,
        typer.Option(
            "--cert",
            exists=True,
            dir_okay=False,
            help="Chứng thư ký số của cơ quan. The office's signing certificate(s), PEM: the "
            "trust anchor (repeat it for the certificates of earlier keys; default: the "
            "[signing] cert).",
        ),
    ] = None,
    trust: Annotated[
        Path | None,
        typer.Option(
            "--trust",
            exists=True,
            help="CA gốc tin cậy. Trust anchor instead: CA roots (PEM bundle or folder); a "
            "checkpoint's certificate must chain to them and be this office's ([trust] "
            "signers, or its UID).",
        ),
    ] = None,
    checkpoints: Annotated[
        Path | None,
        typer.Option(
            "--checkpoints",
            exists=True,
            dir_okay=False,
            help="Tệp điểm kiểm tra đã chuyển đi. The shipped checkpoint file: the log must "
            "contain every checkpoint in it.",
        ),
    ] = None,
    max_uncovered: Annotated[
        int | None,
        typer.Option(
            "--max-uncovered",
            min=0,
            help="Entries allowed after the last checkpoint (default: [daemon] checkpoint_every).",
        ),
    ] = None,
    max_hours: Annotated[
        float | None,
        typer.Option(
            "--max-uncovered-hours",
            min=0,
            help="Refuse entries left without a checkpoint for longer than this.",
        ),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Kiểm tra nhật ký. Recompute the chain, the tree and the checkpoints under a trust anchor
    (never the certificate a checkpoint carries): exit 0 intact."""
    settings = load_settings(config)
    configured = settings.signing.cert if settings.signing is not None else None
    anchor = audit.load_anchor(
        cert=cert or (configured if trust is None else None),
        trust=trust,
        organ_map=settings.trust.signers if settings.trust is not None else None,
    )
    allowed = settings.daemon.checkpoint_every if max_uncovered is None else max_uncovered
    max_age = dt.timedelta(hours=max_hours) if max_hours is not None else None
    checkpoints = checkpoints or settings.audit.checkpoint_file
    if file is not None:
        report = audit.verify_export(
            file,
            anchor=anchor,
            checkpoint_file=checkpoints,
            max_uncovered=allowed,
            max_uncovered_age=max_age,
        )
    else:
        report = audit.verify_database(
            open_store(settings),
            settings.require_office().organ_id,
            anchor=anchor,
            checkpoint_file=checkpoints,
            max_uncovered=allowed,
            max_uncovered_age=max_age,
        )
    if as_json:
        out.print_json(json.dumps(report.to_json(), ensure_ascii=False))
        return
    out.print(
        f"Nhật ký nguyên vẹn / the log is intact: {report.entries} mục/entries, "
        f"{report.checkpoints} điểm kiểm tra/checkpoints "
        f"({report.signed_checkpoints} có chữ ký/signed); root {report.root_hash}"
    )
    out.print(f"  neo tin cậy / trust anchor: {report.anchor}")
    for signer in report.signers:
        out.print(f"  ký bởi / signed by: {signer}")
    if report.last_checkpoint_size is not None:
        out.print(
            f"  điểm kiểm tra cuối / last checkpoint: {report.last_checkpoint_size} mục/entries, "
            f"{report.last_checkpoint_time}; {report.uncovered} mục sau đó / entries after it"
        )
    if checkpoints is not None:
        out.print(
            f"  tệp điểm kiểm tra / checkpoint file: {report.filed_checkpoints} "
            "điểm kiểm tra khớp / checkpoints found in the log"
        )
    for note in report.limitations:
        out.print(f"  lưu ý / note: {note}")


def _date(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        return dt.datetime.fromisoformat(text).replace(tzinfo=VN_TZ)
    except ValueError:
        err_console.print(f"Ngày '{text}' không hợp lệ (yyyy-mm-dd) / invalid date")
        raise typer.Exit(2) from None


@audit_app.command("export")
@exits_on_error
def audit_export(
    output: Annotated[Path, typer.Option("-o", "--output", dir_okay=False)],
    start: Annotated[str | None, typer.Option("--from", help="yyyy-mm-dd (inclusive)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="yyyy-mm-dd (exclusive)")] = None,
    checkpoints: Annotated[
        Path | None,
        typer.Option(
            "--checkpoints",
            dir_okay=False,
            help="Also append the closing checkpoint to this checkpoint file.",
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Xuất nhật ký cho thanh tra. Export JSON lines ending with a signed checkpoint of the
    log as it is now, verifiable offline."""
    settings = load_settings(config)
    office = build_office(settings, receiving=False)
    checkpoints = checkpoints or office.checkpoint_file
    # Written beside the target and renamed when complete: a failed export leaves no file
    # that looks like a cut one.
    partial = output.with_name(output.name + ".part")
    try:
        with partial.open("w", encoding="utf-8") as handle:
            whole = audit.export_log(
                office.db,
                office.office_id,
                handle,
                start=_date(start),
                end=_date(end),
                signer=office.checkpoint_signer(),
                checkpoint_file=checkpoints,
            )
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    out.print(f"{output}: {whole} mục đầy đủ / whole entries")


@audit_app.command("prove")
@exits_on_error
def audit_prove(
    entry: int,
    cert: Annotated[
        list[Path] | None,
        typer.Option(
            "--cert",
            exists=True,
            dir_okay=False,
            help="The office's signing certificate(s): the trust anchor (default: [signing] cert).",
        ),
    ] = None,
    trust: Annotated[
        Path | None,
        typer.Option("--trust", exists=True, help="Trust anchor instead: CA roots."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Chứng minh một mục nằm trong nhật ký. Inclusion proof against the latest checkpoint,
    once the trust anchor accepts that checkpoint."""
    settings = load_settings(config)
    configured = settings.signing.cert if settings.signing is not None else None
    anchor = audit.load_anchor(
        cert=cert or (configured if trust is None else None),
        trust=trust,
        organ_map=settings.trust.signers if settings.trust is not None else None,
    )
    proof = audit.prove(
        open_store(settings), settings.require_office().organ_id, entry, anchor=anchor
    )
    out.print_json(json.dumps(proof.to_json(), ensure_ascii=False))


@audit_app.command("checkpoint")
@exits_on_error
def audit_checkpoint(
    checkpoints: Annotated[
        Path | None,
        typer.Option(
            "--checkpoints",
            dir_okay=False,
            help="Also append it to this checkpoint file (to ship off the machine).",
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Ký một điểm kiểm tra ngay. Sign a checkpoint of the log as it is now."""
    office = build_office(load_settings(config), receiving=False)
    if checkpoints is not None:
        office.checkpoint_file = checkpoints
    cp = steps.checkpoint_now(office)
    out.print(f"Điểm kiểm tra / checkpoint: {cp.tree_size} mục, root {cp.root_hash}")


def _report_period(period: str | None, quarter: str | None, year: str | None) -> Period:
    """One of --period, --quarter, --year (ReportError otherwise, or for a bad value)."""
    given = [v for v in (period, quarter, year) if v]
    if len(given) != 1:
        raise ReportError(
            "Chọn đúng một kỳ: --quarter 2026-Q4, --year 2026 hoặc --period",
            "choose exactly one period: --quarter 2026-Q4, --year 2026 or --period",
            step="period",
        )
    if quarter and "-Q" not in quarter.upper():
        raise ReportError(
            f"Quý '{quarter[:20]}' không hợp lệ; viết dạng 2026-Q4",
            f"the quarter '{quarter[:20]}' is not valid; write it as 2026-Q4",
            step="quarter",
        )
    if year and not year.strip().isdigit():
        raise ReportError(
            f"Năm '{year[:20]}' không hợp lệ; viết dạng 2026",
            f"the year '{year[:20]}' is not valid; write it as 2026",
            step="year",
        )
    return Period.parse(given[0])


_BINARY = ("pdf", "xlsx")


@report_app.command("egov")
@exits_on_error
def report_egov(
    period: Annotated[
        str | None, typer.Option("--period", help="2026-Q3, 2026-07 or 2026")
    ] = None,
    quarter: Annotated[str | None, typer.Option("--quarter", help="e.g. 2026-Q4")] = None,
    year: Annotated[str | None, typer.Option("--year", help="e.g. 2026")] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="html, csv, json, pdf (báo cáo), yaml, xlsx")
    ] = "html",
    xlsx_out: Annotated[
        bool, typer.Option("--xlsx", help="Bảng tính cho huyện (= --format xlsx).")
    ] = False,
    output: Annotated[Path | None, typer.Option("-o", "--output", dir_okay=False)] = None,
    number: Annotated[
        str | None,
        typer.Option("--number", help="Số của báo cáo (ký số khi có số). The báo cáo's number."),
    ] = None,
    date: Annotated[
        str | None, typer.Option("--date", help="Ngày ban hành yyyy-mm-dd (mặc định hôm nay).")
    ] = None,
    signer_name: Annotated[
        str | None, typer.Option("--signer-name", help="Họ tên người ký.")
    ] = None,
    signer_position: Annotated[
        str, typer.Option("--signer-position", help="Chức vụ người ký.")
    ] = "CHỦ TỊCH",
    to: Annotated[
        list[str] | None,
        typer.Option("--to", help="Nơi nhận thêm (OrganId), sau cơ quan cấp trên."),
    ] = None,
    queue: Annotated[
        bool,
        typer.Option(
            "--queue",
            help="Ban hành và xếp hàng gửi (lấy số ở sổ văn bản đi nếu không có --number). "
            "Issue it: number, sign and queue it to its recipients (with --format pdf).",
        ),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Báo cáo quản trị điện tử. The e-governance figures of a period (PAPI dimension 8).

    ``--format pdf`` renders the official báo cáo (Nghị định 30 layout), signed by the
    office's key when it has a number (--number); ``yaml`` writes it for the clerk to edit
    and then ``edoc compose``; ``xlsx`` (or --xlsx) the spreadsheet for the district.
    """
    if xlsx_out:
        fmt = "xlsx"
    chosen = _report_period(period, quarter, year)
    settings = load_settings(config)
    office_settings = settings.require_office()
    today = dt.datetime.now(VN_TZ).date()
    if fmt in ("html", "csv", "json"):
        report = egov_report(open_store(settings), office_settings.organ_id, chosen)
        text = render(report, fmt)
        if output is None:
            out.print(text, markup=False, highlight=False)
        else:
            output.write_text(text, encoding="utf-8")
            out.print(f"{output}")
        return
    if fmt not in (*_BINARY, "yaml"):
        raise ReportError(
            f"Định dạng '{fmt}' không hỗ trợ; dùng html, csv, json, pdf, yaml hoặc xlsx",
            f"format '{fmt}' is not supported; use html, csv, json, pdf, yaml or xlsx",
            step="format",
        )
    if fmt in _BINARY and output is None:
        raise ReportError(
            f"Định dạng {fmt} cần -o TỆP", f"the {fmt} format needs -o FILE", step="output"
        )
    try:
        issued = dt.date.fromisoformat(date) if date else today
    except ValueError:
        raise ReportError(
            f"Ngày '{date}' không hợp lệ; viết yyyy-mm-dd",
            f"the date '{date}' is not valid; write yyyy-mm-dd",
            step="date",
        ) from None
    office = build_office(settings, receiving=False, signer="settings" if fmt == "pdf" else None)
    facts = default_facts(
        office.db,
        office.office_id,
        office.identity.organ_name,
        date=issued,
        signer_name=signer_name or office.identity.staff or office.identity.organ_name,
        signer_position=signer_position,
        number=number,
        recipients=to or (),
    )
    built = build(office.db, chosen, facts, today=today)
    if fmt == "xlsx":
        assert output is not None
        data = xlsx(
            built.report, names=built.names, previous=built.previous,
            period_words=(chosen.words, chosen.previous().words),
        )
        write_atomically(output, data)
        out.print(f"{output}: {len(data)} bytes")
        return
    text = to_yaml(built.content)
    if fmt == "yaml":
        if output is None:
            out.print(text, markup=False, highlight=False)
        else:
            write_atomically(output, text.encode("utf-8"))
            out.print(f"{output}")
        return
    assert output is not None
    if queue:
        # The one door of every composed document: the register's number, the office's
        # signature on the PDF and the envelope, the outbox.
        with tempfile.TemporaryDirectory() as folder:
            source = Path(folder) / f"bao-cao-{chosen.label}.yaml"
            source.write_text(text, encoding="utf-8")
            queued = steps.compose_and_queue(office, source)
        write_atomically(output, queued.composed.pdf)
        out.print(
            f"{output}: {queued.composed.message.document_id}, đã ký số và xếp hàng gửi / "
            f"signed and queued, outbox #{queued.outbox_id}"
        )
        return
    rendered = steps.render_report_yaml(office, text, source=f"bao-cao-{chosen.label}.yaml")
    write_atomically(output, rendered.pdf)
    state = (
        "đã ký số / signed" if rendered.signed
        else "bản xem trước, chưa ký: cho --number để ký / preview, not signed: give --number"
    )
    out.print(f"{output}: {len(rendered.pdf)} bytes, {state}")


@report_app.command("paper")
@exits_on_error
def report_paper(
    quarter: Annotated[str, typer.Option("--quarter", help="e.g. 2026-Q4")],
    received: Annotated[
        int | None, typer.Option("--received", help="Văn bản đến bằng giấy trong quý.")
    ] = None,
    sent: Annotated[
        int | None, typer.Option("--sent", help="Văn bản đi bằng giấy trong quý.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Nhập số văn bản giấy của một quý. Enter the documents handled on paper in a quarter
    (the share handled electronically needs it)."""
    settings = load_settings(config)
    office = build_office(settings, receiving=False, signer=None)
    year, number = steps.enter_paper_count(office, quarter, received=received, sent=sent)
    out.print(
        f"Đã nhập số văn bản giấy quý {number} năm {year} / paper count entered for "
        f"{year}-Q{number}: đến/received {received if received is not None else '-'}, "
        f"đi/sent {sent if sent is not None else '-'}"
    )
