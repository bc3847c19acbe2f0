"""``edoc demo``: the seed plan carried from a commune to its district, end to end.

On a fresh install with no configuration: a sandbox (local axis, UBND xã Nậm Khánh and
UBND huyện Bắc Hà with test keys) in a temporary folder; the plan composed from its YAML,
rendered as the decree's PDF, signed (PDF and envelope) and queued; both daemons started as
real processes; the district receives, verifies and answers 01, its clerk accepts (03); the
commune sees both statuses; both audit logs verify. Both offices' web pages are served
from the start, each with two test accounts (a văn thư and a lãnh đạo), so a person can
watch the plan arrive in the browser. Everything stops at the end, whatever happened,
unless ``linger`` keeps it running for a person to look. This module sits beside the CLI
at the top of the stack: it wires every layer.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .. import audit, edxml
from .. import office as steps
from ..config import load_settings
from ..errors import EdocError
from ..office import Office, build_office, compose_and_queue, refresh_directory, staff
from ..web import create_app
from ..web.serve import PagesServer
from .box import Sandbox

__all__ = [
    "COMMUNE",
    "DEMO_ACCOUNTS",
    "DISTRICT",
    "DemoError",
    "DemoResult",
    "default_plan",
    "run_demo",
]

COMMUNE = ("000.12.05.H38", "UBND xã Nậm Khánh")
DISTRICT = ("000.00.05.H38", "UBND huyện Bắc Hà")


#: The test accounts made on both offices' pages: (user name, full name, role).
DEMO_ACCOUNTS = (
    ("vanthu", "Văn thư (thử nghiệm)", staff.Role.CLERK),
    ("lanhdao", "Lãnh đạo (thử nghiệm)", staff.Role.LEADER),
)


class DemoError(EdocError):
    """A demo step did not finish in time; the message names the step and the logs."""


@dataclass
class DemoResult:
    """Where the demo left its files, and what it saw."""

    root: Path
    pdf: Path
    edxml: Path
    document_id: str
    logs: list[Path] = field(default_factory=list)
    audit_entries: dict[str, int] = field(default_factory=dict)
    statuses: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: Each office's pages: organ_id -> address (served while the demo ran).
    pages: dict[str, str] = field(default_factory=dict)
    #: The test accounts' password (the same on both offices; a new one each run).
    password: str = ""


def default_plan() -> Path | None:
    """The seed plan's YAML shipped in the repository (``examples/``), when it is there."""
    candidate = Path(__file__).resolve().parents[2] / "examples" / "ke-hoach-papi-2020.yaml"
    return candidate if candidate.is_file() else None


Report = Callable[[str], None]


def _wait(what: str, check: Callable[[], bool], deadline: float, logs: list[Path]) -> None:
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise DemoError(
        f"Bước '{what}' không xong trong thời hạn; xem nhật ký: {', '.join(map(str, logs))}",
        f"step '{what}' did not finish in time; see the logs: {', '.join(map(str, logs))}",
        step="demo",
    )


@contextmanager
def _stopped(servers: list[PagesServer]) -> Iterator[None]:
    """The page servers started inside are stopped when the block ends."""
    try:
        yield
    finally:
        for server in servers:
            server.stop()


@contextmanager
def _processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes started inside are stopped (SIGTERM, then SIGKILL) when the block ends."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for proc in reversed(started):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(started):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _serve_pages(
    office: Office, password: str, servers: list[PagesServer]
) -> str:
    """Add the test accounts to ``office`` and serve its pages on a free local port."""
    for username, full_name, role in DEMO_ACCOUNTS:
        staff.add_user(office.db, office.office_id, username, full_name, role, password,
                       by="demo")
    server = PagesServer(create_app(office), "127.0.0.1", 0)
    servers.append(server)
    return server.start()


def run_demo(
    plan: Path,
    *,
    root: Path | None = None,
    report: Report = print,
    timeout: float = 90.0,
    linger: Callable[[], None] | None = None,
) -> DemoResult:
    """Run the whole exchange; raise DemoError (naming the step) if a step does not finish.

    ``linger`` is called once everything is done, with the axis, the daemons and the pages
    still running (``edoc demo --keep`` waits there for Ctrl+C); they stop when it returns.
    """
    started = time.monotonic()
    deadline = started + timeout
    root = root or Path(tempfile.mkdtemp(prefix="edoc-demo-"))
    box = Sandbox.create(
        root,
        [COMMUNE, DISTRICT],
        parents={COMMUNE[0]: DISTRICT[0]},
        daemon={"inbound_interval": 0.3, "outbound_interval": 0.3, "stale_after": 10.0},
    )
    commune_id, district_id = COMMUNE[0], DISTRICT[0]
    logs = [box.root / "axis" / "axis.log"] + [
        o.folder / "daemon.log" for o in box.offices.values()
    ]
    report(f"Thư mục thử / sandbox: {root}")
    password = secrets.token_urlsafe(9)
    servers: list[PagesServer] = []
    pages: dict[str, str] = {}
    with _processes() as procs, _stopped(servers), _local_tsa(box, report):
        procs.append(box.start_axis())
        report(f"✓ Trục liên thông cục bộ / local axis: {box.axis_url}")
        commune = build_office(load_settings(box.offices[commune_id].config))
        district = build_office(load_settings(box.offices[district_id].config))
        for office in (commune, district):
            pages[office.office_id] = _serve_pages(office, password, servers)
            report(
                f"✓ Trang web / pages: {office.identity.organ_name}: "
                f"{pages[office.office_id]}"
            )
        accounts = ", ".join(f"{name} ({role.value})" for name, _, role in DEMO_ACCOUNTS)
        report(
            f"  Tài khoản thử / test accounts: {accounts}; mật khẩu / password: {password}"
        )
        count = refresh_directory(commune)
        report(f"✓ Danh bạ cơ quan / directory: {count} cơ quan / organisations")

        # Numbered from the commune's register, signed and queued in one step.
        composed = compose_and_queue(commune, plan).composed
        out = root / "out"
        out.mkdir()
        pdf = out / f"{composed.message.attachments[0].name}"
        pdf.write_bytes(composed.pdf)
        edxml_path = out / f"{pdf.stem}.edxml"
        edxml_path.write_bytes(composed.data)
        document_id = composed.message.document_id or ""
        report(
            f"✓ Soạn và ký kế hoạch / plan composed and signed: Số {composed.content.number}/"
            f"{composed.content.notation}, {len(composed.pdf) // 1024} KB PDF (PAdES), "
            f"{len(composed.data) // 1024} KB edXML"
        )
        report(f"✓ Đưa vào hàng đợi gửi / queued: {document_id}")

        procs.append(box.start_daemon(commune_id))
        procs.append(box.start_daemon(district_id))
        report("✓ Hai tiến trình nền đang chạy / both daemons running")

        def received() -> bool:
            details = steps.document_details(district.db, district_id, document_id)
            return details.received is not None

        _wait("district receives", received, deadline, logs)
        details = steps.document_details(district.db, district_id, document_id)
        if not details.verified:
            reason = details.received.reason if details.received else None
            raise DemoError(
                f"Huyện từ chối văn bản: {reason}",
                f"the district rejected the document: {reason}",
                step="demo",
            )
        with district.db.engine.connect() as conn:
            event = audit.last_event(conn, district.office_id, audit.AuditEvent.VERIFIED)
        hops = len(event.data["data"].get("unsigned_hops", [])) if event is not None else 0
        report(
            "✓ Huyện nhận, kiểm tra chữ ký số hợp lệ, lưu / district received, verified, stored"
            f" (trục thêm {hops} vết sau khi ký, không được ký / the axis added {hops} "
            "trace hop(s) after signing: unsigned)"
        )

        arrived, accepted = edxml.StatusCode.ARRIVED, edxml.StatusCode.ACCEPTED

        def status(code: edxml.StatusCode) -> Callable[[], bool]:
            def seen() -> bool:
                history = steps.document_details(commune.db, commune_id, document_id).history
                return any(h["direction"] == "in" and h["status_code"] == code for h in history)

            return seen

        _wait(f"status {arrived} reaches the commune", status(arrived), deadline, logs)
        report(
            f"✓ Xã nhận trạng thái {arrived} ({arrived.vi.lower()}) / commune got status "
            f"{arrived} ({arrived.en})"
        )
        steps.mark(district, document_id, accepted, "Vào sổ văn bản đến")
        report(
            f"✓ Văn thư huyện {accepted.vi.lower()} ({accepted}) / district clerk "
            f"{accepted.en} ({accepted})"
        )
        _wait(f"status {accepted} reaches the commune", status(accepted), deadline, logs)
        report(
            f"✓ Xã nhận trạng thái {accepted} ({accepted.vi.lower()}) / commune got status "
            f"{accepted} ({accepted.en})"
        )
        if linger is not None:
            linger()
    report("✓ Đã dừng trục, tiến trình nền và trang web / axis, daemons and pages stopped")

    result = DemoResult(
        root=root,
        pdf=pdf,
        edxml=edxml_path,
        document_id=document_id,
        logs=logs,
        statuses=[arrived.value, accepted.value],
        pages=pages,
        password=password,
    )
    for office in (commune, district):
        steps.checkpoint_now(office)
        checked = steps.verify_log(office)
        result.audit_entries[office.office_id] = checked.entries
        report(
            f"✓ Nhật ký kiểm tra nguyên vẹn / audit log intact: {office.identity.organ_name}, "
            f"{checked.entries} mục/entries, {checked.signed_checkpoints} điểm kiểm tra có "
            f"chữ ký/signed checkpoints"
        )
        office.axis.close()
        office.db.dispose()
    result.seconds = time.monotonic() - started
    return result


@contextmanager
def _local_tsa(box: Sandbox, report: Report) -> Iterator[None]:
    """A local TSA (RFC 3161) for the block: every office signs its PDFs and envelopes
    with timestamps from it, and trusts it on receipt (``[tsa]`` in each edoc.toml)."""
    from .pki import new_test_tsa
    from .tsa import LocalTsa

    tsa = new_test_tsa()
    roots = tsa.write_roots(box.root / "tsa-roots.pem")
    with LocalTsa(tsa) as server:
        for office in box.offices.values():
            with office.config.open("a", encoding="utf-8") as handle:
                handle.write(
                    f"\n[tsa]\nurl = {json.dumps(server.url)}\nroots = {json.dumps(str(roots))}\n"
                )
        report(f"✓ Máy chủ dấu thời gian cục bộ / local TSA (RFC 3161): {server.url}")
        yield
