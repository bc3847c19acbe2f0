"""``edoc compose`` and ``edoc demo``: from a plan's YAML to a signed envelope on its way."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated

import typer

from .. import office as steps
from ..atomicfile import write_atomically
from ..compose import InputError
from ..config import load_settings
from ..office import build_office, compose_file, load_signer, open_store
from ..reports import Period, egov_fill, egov_report
from ..sandbox.demo import default_plan, run_demo
from ..signing import KeySource, Signer
from ..vntime import VN_TZ
from ._app import ConfigOption, app, err_console, exits_on_error, out
from .signing import load_signer_from_options


@app.command("compose")
@exits_on_error
def compose_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Plan/report YAML.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", dir_okay=False, help="Where to write the .edxml.")
    ],
    pdf: Annotated[
        Path | None, typer.Option("--pdf", dir_okay=False, help="Also write the PDF here.")
    ] = None,
    queue: Annotated[
        bool,
        typer.Option(
            "--queue", help="Put it in the outbox (a blank number takes the next free one)."
        ),
    ] = False,
    attach_source: Annotated[
        bool,
        typer.Option(
            "--attach-source", help="Gửi kèm tệp YAML. Attach the YAML source to the envelope."
        ),
    ] = False,
    key: Annotated[Path | None, typer.Option("--key", exists=True, dir_okay=False)] = None,
    cert: Annotated[Path | None, typer.Option("--cert", exists=True, dir_okay=False)] = None,
    chain: Annotated[Path | None, typer.Option("--chain", exists=True, dir_okay=False)] = None,
    p12: Annotated[Path | None, typer.Option("--p12", exists=True, dir_okay=False)] = None,
    pkcs11_module: Annotated[
        Path | None, typer.Option("--pkcs11-module", exists=True, dir_okay=False)
    ] = None,
    token_label: Annotated[str | None, typer.Option("--token-label")] = None,
    key_label: Annotated[str | None, typer.Option("--key-label")] = None,
    egov: Annotated[
        str | None,
        typer.Option(
            "--egov",
            help="Điền số liệu quản trị điện tử của kỳ (2026-Q4, 2026). Fill the report's "
            "e-governance figures (egov: KEY) computed for this period.",
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Soạn văn bản. Compose a plan/report: PDF (decree layout), signed edXML, outbox."""
    settings = load_settings(config)
    office_id = settings.office.organ_id if settings.office else None
    db = open_store(settings)
    fill = None
    if egov is not None:
        period = Period.parse(egov)
        figures = egov_report(
            db, settings.require_office().organ_id, period,
            today=dt.datetime.now(VN_TZ).date(),
        )
        fill = egov_fill(figures, period)
    # With --queue the office takes the number in its register as it queues (the one door
    # where processes composing at once cannot take the same number).
    # The key is opened once (a token session is opened once): from the options when given,
    # else from [signing].
    source = KeySource(
        key=key,
        cert=cert,
        chain=chain,
        p12=p12,
        pkcs11_module=pkcs11_module,
        token_label=token_label,
        key_label=key_label,
    )
    signer: Signer | None = (
        load_signer_from_options(source) if source.given else load_signer(settings.signing)
    )
    office = (
        build_office(settings, db=db, receiving=False, signer=signer) if queue else None
    )
    if signer is None:
        err_console.print(
            "Cảnh báo: không có khóa ký, văn bản sẽ không được ký số / "
            "warning: no signing key, the document will not be signed"
        )
    queued = None
    try:
        if office is not None:
            queued = steps.compose_and_queue(
                office, file, attach_source=attach_source, fill=fill
            )
            composed = queued.composed
        else:
            composed = compose_file(
                file, db=db, office_id=office_id, signer=signer, now=dt.datetime.now(dt.UTC),
                attach_source=attach_source, fill=fill,
            )
    except InputError as exc:
        err_console.print(exc.report())
        raise typer.Exit(1) from None
    write_atomically(output, composed.data)
    out.print(f"{output}: {composed.message.document_id} ({len(composed.data)} bytes)")
    if pdf is not None:
        write_atomically(pdf, composed.pdf)
        out.print(f"{pdf}: {len(composed.pdf)} bytes")
    if composed.preview:
        out.print(
            "Bản xem trước: chưa có số, chưa ký; --queue để lấy số, ký và xếp hàng gửi / "
            "preview: not numbered, not signed; --queue takes the number, signs and queues it"
        )
    if queued is not None:
        state = "đã xếp hàng / queued" if queued.new else "đã có trong hàng đợi / already queued"
        out.print(f"Hộp thư đi / outbox #{queued.outbox_id}: {state}")


def _wait_for_person() -> None:
    out.print(
        "Mở trang web ở trên và đăng nhập; nhấn Ctrl+C để dừng. / Open the pages above and "
        "sign in; press Ctrl+C to stop."
    )
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        out.print("")


@app.command("demo")
@exits_on_error
def demo_cmd(
    plan: Annotated[
        Path | None,
        typer.Option(
            "--plan", exists=True, dir_okay=False, help="The plan's YAML (default: the seed plan)."
        ),
    ] = None,
    keep: Annotated[
        Path | None, typer.Option("--dir", file_okay=False, help="Work in this (new) folder.")
    ] = None,
    stay: Annotated[
        bool,
        typer.Option(
            "--keep",
            help="Để chạy tiếp đến khi nhấn Ctrl+C. Leave the axis, daemons and pages running "
            "for a person to look, until Ctrl+C.",
        ),
    ] = False,
) -> None:
    """Chạy thử toàn bộ. The seed plan from commune to district, signed, tracked, logged."""
    plan = plan or default_plan()
    if plan is None:
        err_console.print(
            "Không tìm thấy kế hoạch mẫu; dùng --plan / seed plan not found; use --plan FILE.yaml"
        )
        raise typer.Exit(2)
    if keep is not None and keep.exists() and any(keep.iterdir()):
        err_console.print(f"{keep} không trống / is not empty")
        raise typer.Exit(2)
    out.print(
        "edoc demo: Kế hoạch PAPI của UBND xã Nậm Khánh gửi UBND huyện Bắc Hà "
        "(khóa thử nghiệm / test keys only)"
    )
    result = run_demo(plan, root=keep, report=out.print, linger=_wait_for_person if stay else None)
    out.print("")
    out.print(f"PDF:   {result.pdf}")
    out.print(f"edXML: {result.edxml}")
    for log in result.logs:
        out.print(f"Log:   {log}")
    out.print(f"Xong trong / done in {result.seconds:.1f} s")
