"""``edoc send``, ``inbox``, ``fetch``, ``ack``, ``sent``, ``agencies`` and ``edoc axis serve``.

Thin commands: read the settings (``--config`` file and EDOC_* variables), call the axis
client, print; ``send`` goes through the office's outbox (``[office]``, ``[store]``), so a
manual send is recorded like a daemon send. Every failure is an EdocError with a Vietnamese
and an English message, printed by ``exits_on_error``; secrets are never printed.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TransferSpeedColumn,
)
from rich.table import Table

from .. import office as steps
from ..atomicfile import write_atomically
from ..axis import AckStatus, AxisClient, MessageType
from ..config import ConfigError, load_settings
from ..errors import EdocError
from ..office import build_office
from ..sandbox.axis import LocalAxisConfig, serve
from ._app import ConfigOption, app, exits_on_error, out

__all__ = ["axis_app"]

axis_app = typer.Typer(
    help="Trục liên thông cục bộ (thử nghiệm, đào tạo). The local axis (tests, training).",
    no_args_is_help=True,
)
app.add_typer(axis_app, name="axis")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for integrators).")]

#: Files larger than this get a progress bar while they upload.
_PROGRESS_FROM = 1024 * 1024


class _FileError(EdocError):
    pass


def _client(config: Path | None) -> AxisClient:
    return AxisClient(load_settings(config).require_axis())


def _json(data: object) -> None:
    out.print_json(json.dumps(data, ensure_ascii=False, default=str))


@app.command()
@exits_on_error
def send(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="An .edxml file.")
    ],
    config: ConfigOption = None,
) -> None:
    """Gửi văn bản của cơ quan. Send this office's .edxml now, through its outbox; prints DocId.

    A manual send is registered like a daemon send: queued in the store (audit events
    included), signed with the office key if it is not signed yet, sent, followed. Exit 0
    when sent (or sent before), 1 when it stays queued (retried later) or failed.
    """
    settings = load_settings(config)
    office = build_office(settings, receiving=False)
    size = file.stat().st_size
    if size >= _PROGRESS_FROM:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=out,
            transient=True,
        ) as bar:
            task = bar.add_task("Đang gửi / sending", total=size)
            result = steps.send_now(
                office, file, progress=lambda sent, _total: bar.update(task, completed=sent)
            )
    else:
        result = steps.send_now(office, file)
    targets = ", ".join(result.recipients) or "?"
    if result.state == "sent":
        note = "" if result.new else " (đã gửi trước đó / already sent)"
        out.print(f"Đã gửi / sent: {file.name}  {office.office_id} -> {targets}", markup=False)
        out.print(f"DocId: {result.axis_doc_id}{note}", markup=False)
        return
    if result.state == "failed":
        out.print(
            f"Trục từ chối, không gửi được / refused by the axis, not sent: {result.error}",
            markup=False,
        )
    elif result.state == "sending":
        out.print(
            "Tiến trình nền đang gửi văn bản này / the daemon is sending it now", markup=False
        )
    else:
        reason = f": {result.error}" if result.error else ""
        out.print(
            f"Chưa gửi được, vẫn trong hàng đợi, sẽ gửi lại / not sent yet, kept in the "
            f"outbox and retried{reason}",
            markup=False,
        )
    raise typer.Exit(1)


@app.command()
@exits_on_error
def inbox(
    status: Annotated[
        bool, typer.Option("--status", help="Thông điệp trạng thái / list status messages.")
    ] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Văn bản đến chưa xác nhận. Items waiting for this office (until acknowledged)."""
    kind = MessageType.STATUS if status else MessageType.EDOC
    with _client(config) as client:
        items = client.list_received(kind)
    if as_json:
        _json([i.model_dump() for i in items])
        return
    if not items:
        out.print("Không có văn bản đến / nothing waiting")
        return
    table = Table(
        "DocId",
        "Nơi gửi / From",
        "Mã văn bản / DocumentId",
        "Trạng thái / State",
        "Thời gian / Time",
    )
    for item in items:
        table.add_row(
            item.doc_id,
            item.sender or "",
            item.document_id or "",
            item.status or "",
            item.created_time or "",
        )
    out.print(table)
    out.print(f"{len(items)} mục / items")


@app.command()
@exits_on_error
def fetch(
    doc_id: Annotated[str, typer.Argument(metavar="DOCID", help="The axis DocId.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", dir_okay=False, help="File to write.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Tải một văn bản đến. Download a received item (it stays listed until `edoc ack`)."""
    settings = load_settings(config).require_axis()
    with AxisClient(settings) as client:
        data = client.fetch(doc_id)
    target = output or settings.download_folder / f"{_safe(doc_id)}.edxml"
    _write_atomically(target, data)
    out.print(f"{target}  {len(data)} bytes")
    out.print(f"Nhớ xác nhận / remember to acknowledge: edoc ack {doc_id} --done")


def _safe(doc_id: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in doc_id).strip(".")
    return cleaned or "edoc"


def _write_atomically(target: Path, data: bytes) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, data)
    except OSError as exc:
        raise _FileError(
            f"Không ghi được tệp {target}: {exc.strerror}",
            f"cannot write {target}: {exc.strerror}",
            step="fetch",
        ) from None


@app.command()
@exits_on_error
def ack(
    doc_id: Annotated[str, typer.Argument(metavar="DOCID", help="The axis DocId.")],
    done: Annotated[bool, typer.Option("--done", help="Đã tiếp nhận / taken in.")] = False,
    fail: Annotated[bool, typer.Option("--fail", help="Không nhận được / refused.")] = False,
    config: ConfigOption = None,
) -> None:
    """Xác nhận đã nhận văn bản. Acknowledge a received item: --done or --fail."""
    if done == fail:
        raise typer.BadParameter(
            "chọn đúng một: --done hoặc --fail / give exactly one of --done, --fail"
        )
    status = AckStatus.DONE if done else AckStatus.FAIL
    with _client(config) as client:
        client.acknowledge(doc_id, status)
    out.print(f"Đã xác nhận / acknowledged: {doc_id} {status.value}")


@app.command()
@exits_on_error
def sent(
    doc_id: Annotated[str, typer.Argument(metavar="DOCID", help="DocId printed by `edoc send`.")],
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Tình trạng văn bản đã gửi. Per-recipient status of a document this office sent."""
    with _client(config) as client:
        rows = client.sent_status(doc_id)
    if as_json:
        _json([r.model_dump() for r in rows])
        return
    table = Table(
        "Nơi nhận / To",
        "Gửi / Sent",
        "Nhận / Received",
        "Trạng thái cuối / Last",
        "Thời gian nhận / Received at",
    )
    for row in rows:
        table.add_row(
            row.to_code,
            row.send_status or "",
            row.receive_status or "",
            row.last_status_code or "",
            row.received_time or "",
        )
    out.print(table)


def _fold(text: str) -> str:
    """Lower case without diacritics: a clerk may type 'nam khanh' for 'Nậm Khánh'."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@app.command()
@exits_on_error
def agencies(
    search: Annotated[
        str | None, typer.Option("--search", "-s", help="Tìm theo mã hoặc tên / filter.")
    ] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Danh bạ cơ quan trên trục. The organisation directory known to the axis."""
    with _client(config) as client:
        found = client.agencies()
    if search:
        needle = _fold(search)
        found = [a for a in found if needle in _fold(a.organ_id) or needle in _fold(a.name)]
    if as_json:
        _json([a.model_dump() for a in found])
        return
    table = Table("Mã định danh / OrganId", "Tên / Name", "Cấp trên / Parent")
    for agency in found:
        table.add_row(agency.organ_id, agency.name, agency.parent_id or "")
    out.print(table)
    out.print(f"{len(found)} cơ quan / organisations")


@axis_app.command("serve")
@exits_on_error
def serve_command(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", dir_okay=False, help="Local axis TOML (default: ./local-axis.toml)."
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
) -> None:
    """Chạy trục liên thông cục bộ. Run the local axis (same protocol, own SQLite database)."""
    path = config or Path("local-axis.toml")
    if not path.is_file():
        raise ConfigError(
            f"Không tìm thấy cấu hình trục cục bộ {path}: dùng --config",
            f"local axis config {path} not found: use --config",
            step="axis.serve",
        )
    settings = LocalAxisConfig.load(path)
    out.print(
        f"Trục cục bộ / local axis: http://{host}:{port}  "
        f"({len(settings.systems)} hệ thống / systems, CSDL / database {settings.database})"
    )
    serve(settings, host=host, port=port)
