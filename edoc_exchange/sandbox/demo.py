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

import datetime as dt
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
from ..office import Office, build_office, outgoing, refresh_directory, staff
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


#: The commune's chairman, who signs the plan with his own (test) key before it is issued.
CHAIRMAN = "Vũ Ngọc Thiện"


@dataclass(frozen=True)
class _Issued:
    document_id: str
    number: int
    notation: str
    pdf_name: str


def _two_step_issue(office: Office, plan: Path,
                    report: Report) -> tuple[_Issued, bytes, bytes]:
    """The plan through the pages' path: the văn thư drafts it from its YAML and submits
    it, the chairman (the leader account with a key of his own) approves and so signs it,
    the văn thư issues it: the number filled in and the office's signature with its seal.
    Returns what was issued, the PDF sent and the edXML message queued."""
    users = {u.username: u for u in staff.list_users(office.db, office.office_id)}
    clerk, leader = users[DEMO_ACCOUNTS[0][0]], users[DEMO_ACCOUNTS[1][0]]
    draft_id = outgoing.draft_from_yaml(office, clerk, plan.read_bytes(), plan.name)
    steps.submit_draft(office, clerk, draft_id)
    steps.approve_draft(office, leader, draft_id)
    report(f"✓ Chủ tịch duyệt và ký số / the chairman approved and signed: {CHAIRMAN}")
    issued = steps.issue_draft(office, clerk, draft_id)
    name, _type, pdf = outgoing.draft_file(office, draft_id, 0)
    sent = steps.document_details(office.db, office.office_id, issued.document_id).sent
    assert sent is not None
    report(f"✓ Văn thư cấp số, ký số của cơ quan (dấu) / the văn thư numbered and sealed it: "
           f"{office.identity.organ_name}")
    notation = str(outgoing.draft_details(office, draft_id).fields["notation"])
    return _Issued(issued.document_id, issued.number, notation, name), pdf, sent.message


def _stamp(signature: dict[str, object]) -> str:
    """The timestamp a PDF signature carries, as the district judged it."""
    at = signature.get("timestamp")
    if not at:
        return ""
    trusted = "" if signature.get("timestamp_trusted") else ", không tin cậy / untrusted"
    when = dt.datetime.fromisoformat(str(at)).astimezone(edxml.VN_TZ)
    return f", dấu thời gian / timestamp {when:%H:%M:%S%z}{trusted}"


def _report_pdf_check(office: Office, document_id: str, report: Report, deadline: float,
                      logs: list[Path]) -> None:
    """Say what the district found of the PDF's signatures (both, in order)."""
    def checked() -> bool:
        return bool(steps.document_details(office.db, office.office_id,
                                           document_id).pdf_verdicts)

    _wait("district checks the PDF", checked, deadline, logs)
    for row in steps.document_details(office.db, office.office_id, document_id).pdf_verdicts:
        names = ", ".join(f"{i + 1}. {sig.get('signer')} ({sig.get('verdict')}{_stamp(sig)})"
                          for i, sig in enumerate(row.signatures))
        report(f"✓ Huyện kiểm tra chữ ký trên PDF / district checked the PDF signatures: "
               f"{row.verdict}: {names}")


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
        signers={COMMUNE[0]: CHAIRMAN},
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

        # The two-step flow (Nghị định 30): drafted, approved and signed by the chairman
        # with his own key, then numbered and issued with the office's seal by the văn thư.
        out = root / "out"
        out.mkdir()
        issued, pdf_bytes, data = _two_step_issue(commune, plan, report)
        pdf = out / issued.pdf_name
        pdf.write_bytes(pdf_bytes)
        edxml_path = out / f"{pdf.stem}.edxml"
        edxml_path.write_bytes(data)
        document_id = issued.document_id
        report(
            f"✓ Soạn và ký kế hoạch / plan composed and signed: Số {issued.number}/"
            f"{issued.notation}, {len(pdf_bytes) // 1024} KB PDF (PAdES: {CHAIRMAN}, rồi / "
            f"then {COMMUNE[1]}), {len(data) // 1024} KB edXML"
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
        _report_pdf_check(district, document_id, report, deadline, logs)
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
