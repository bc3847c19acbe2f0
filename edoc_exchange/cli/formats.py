"""``edoc validate``, ``edoc inspect`` and ``edoc extract``: the edXML format commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..edxml import EdxmlReadError, Finding, ReadResult, Severity, read_file
from ..edxml.models import Document
from ..edxml.summary import summarize
from ._app import app, err_console, exits_on_error, out
from ._files import write_files

ExistingFile = Annotated[
    Path,
    typer.Argument(exists=True, dir_okay=False, readable=True, help="An .edxml file."),
]


def _read(path: Path, *, strict: bool) -> tuple[ReadResult | None, list[Finding]]:
    """Read a file; return the result (None if unusable) and every finding."""
    try:
        result = read_file(path, strict=strict)
    except EdxmlReadError as exc:
        return exc.partial, list(exc.findings)
    return result, list(result.warnings)


def _line(path: Path, finding: Finding) -> str:
    line = finding.line if finding.line is not None else "-"
    return f"{path}:{line}: {finding.path}: {finding.severity.value}: {finding.vi} ({finding.en})"


@app.command()
@exits_on_error
def validate(
    files: Annotated[
        list[Path],
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="One or more .edxml files."
        ),
    ],
    strict: Annotated[
        bool, typer.Option("--strict", help="Treat every deviation from QCVN 102 as an error.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """Kiểm tra gói tin edXML. Check edXML files: exit 0 all valid, 1 any invalid, 2 usage."""
    reports: list[dict[str, Any]] = []
    any_invalid = False
    for path in files:
        try:
            result, findings = _read(path, strict=strict)
        except OSError as exc:
            findings = []
            result = None
            reports.append(
                {
                    "file": str(path),
                    "valid": False,
                    "errors": [
                        {
                            "code": "io",
                            "severity": "error",
                            "path": "/",
                            "line": None,
                            "message": str(exc),
                            "message_vi": f"Không đọc được tệp: {exc}",
                        }
                    ],
                    "warnings": [],
                }
            )
            any_invalid = True
            if not as_json:
                out.print(f"{path}:-: /: error: Không đọc được tệp ({exc})")
            continue
        errors = [f for f in findings if f.severity is Severity.ERROR]
        warnings = [f for f in findings if f.severity is Severity.WARNING]
        valid = result is not None and not errors
        any_invalid |= not valid
        reports.append(
            {
                "file": str(path),
                "valid": valid,
                "kind": result.message.kind if result else None,
                "errors": [f.to_json() for f in errors],
                "warnings": [f.to_json() for f in warnings],
            }
        )
        if not as_json:
            for finding in findings:
                out.print(_line(path, finding))
            verdict = "hợp lệ / valid" if valid else "KHÔNG hợp lệ / INVALID"
            out.print(
                f"{path}: {verdict} ({len(errors)} lỗi/errors, {len(warnings)} cảnh báo/warnings)"
            )
    if as_json:
        out.print_json(json.dumps(reports, ensure_ascii=False))
    raise typer.Exit(1 if any_invalid else 0)


@app.command()
@exits_on_error
def inspect(
    file: ExistingFile,
    as_json: Annotated[bool, typer.Option("--json", help="Print the stable JSON summary.")] = False,
) -> None:
    """Xem nội dung gói tin. Show a message's header, trace, attachments and warnings."""
    result, findings = _read(file, strict=False)
    errors = [f for f in findings if f.severity is Severity.ERROR]
    warnings = [f for f in findings if f.severity is Severity.WARNING]
    if result is None:
        if as_json:
            out.print_json(
                json.dumps({"errors": [f.to_json() for f in errors]}, ensure_ascii=False)
            )
        for finding in errors:
            err_console.print(_line(file, finding))
        raise typer.Exit(1)
    summary = summarize(result.message, warnings=warnings, errors=errors)
    if as_json:
        out.print_json(json.dumps(summary, ensure_ascii=False))
    else:
        _print_summary(summary)
        for finding in findings:
            style = "red" if finding.severity is Severity.ERROR else "yellow"
            out.print(f"[{style}]{escape(_line(file, finding))}[/]", markup=True)
    raise typer.Exit(1 if errors else 0)


def _print_summary(s: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")

    def row(label: str, value: Any) -> None:
        if value not in (None, "", []):
            table.add_row(label, str(value))

    row("Loại / Kind", "Văn bản (edoc)" if s["kind"] == "edoc" else "Trạng thái (status)")
    row("Mã văn bản / DocumentId", s["document_id"])
    if s["from"]:
        row("Nơi gửi / From", f"{s['from']['organ_id']}  {s['from']['organ_name'] or ''}")
    for org in s["to"]:
        row("Nơi nhận / To", f"{org['organ_id']}  {org['organ_name'] or ''}")
    if s["code"]:
        row("Số, ký hiệu / Code", f"{s['code']['number'] or ''}/{s['code']['notation'] or ''}")
    if s["promulgation"]:
        row(
            "Ban hành / Issued",
            f"{s['promulgation']['place'] or ''}, {s['promulgation']['date'] or ''}",
        )
    if s["document_type"]:
        row("Loại văn bản / Type", s["document_type"]["name"])
    row("Trích yếu / Subject", s["subject"])
    if s["signer"]:
        row(
            "Người ký / Signer",
            " ".join(
                v
                for v in (
                    s["signer"]["competence"],
                    s["signer"]["position"],
                    s["signer"]["full_name"],
                )
                if v
            ),
        )
    row("Hạn xử lý / Due", s["due_date"])
    row("Độ khẩn / Priority", s["priority"])
    if s["status_code"]:
        row("Trạng thái / Status", f"{s['status_code']} {s['status_name'] or ''}")
    row("Mô tả / Description", s["status_description"])
    row("Thời điểm / Time", s["timestamp"])
    if s["response_for"]:
        row("Trả lời cho / Response for", s["response_for"]["document_id"])
    for th in s["trace"]:
        row("Vết / Trace", f"{th['organ_id'] or '-'}  {th['timestamp'] or ''}")
    for att in s["attachments"]:
        text = f"{att['name']}  {att['size']} bytes  sha256:{att['sha256']}  {att['content_type']}"
        if att["packing"]:
            wire = att["wire"]
            text += (
                f"\n  nén zip khi gửi / sent zipped: {wire['size']} bytes  "
                f"sha256:{wire['sha256']}  {wire['content_type']}"
            )
        row("Đính kèm / Attachment", text)
    sig = s["signature"]
    row(
        "Chữ ký / Signature",
        "không / none"
        if not sig["present"]
        else (
            "kiểu cũ, không kiểm tra được / legacy, unverifiable"
            if sig["legacy"]
            else "có (chưa kiểm tra) / present (not verified here)"
        ),
    )
    out.print(table)


@app.command()
@exits_on_error
def extract(
    file: ExistingFile,
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder to write into.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Lưu các tệp đính kèm. Write a message's attachments into a folder."""
    result, findings = _read(file, strict=False)
    errors = [f for f in findings if f.severity is Severity.ERROR]
    if result is None or errors:
        for finding in errors:
            err_console.print(_line(file, finding))
        raise typer.Exit(1)
    message = result.message
    if not isinstance(message, Document) or not message.attachments:
        out.print("Không có tệp đính kèm / no attachments")
        return
    # The files a clerk gets: an attachment the SDK zipped is unpacked, as the official
    # parser does.
    write_files([att.file for att in message.attachments], output, force=force)
