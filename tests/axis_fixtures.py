"""Shared fixtures for the axis tests: messages, a local axis on a free port, clients.

Real HTTP on 127.0.0.1 (uvicorn in a thread), real SQLite files in tmp dirs. Import the
fixtures into a test module with ``from tests.axis_fixtures import *``-free explicit names.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from pydantic import SecretStr

from edoc_exchange import edxml
from edoc_exchange.axis import AxisClient
from edoc_exchange.config import AxisSettings
from edoc_exchange.sandbox.axis import LocalAxis, LocalAxisConfig, SystemConfig

# Three offices of one district of Lào Cai (H17), and the province that is only in the
# directory (known, but no system collects its inbox).
COMMUNE_A = "000.05.01.H17"
COMMUNE_B = "000.06.01.H17"
DISTRICT = "000.00.01.H17"
PROVINCE = "000.00.00.H17"
AXIS_ORGAN = "000.00.00.G22"
UNKNOWN = "000.00.99.H99"

# A vendor's system sending for an enterprise under a post-2020 code (as in the field sample
# axis-2025-petrolimex-to-btc.edxml).
VENDOR = "020100107370"

SYSTEMS = {
    "xa-a": ("secret-commune-a", [COMMUNE_A]),
    "xa-b": ("secret-commune-b", [COMMUNE_B]),
    "huyen": ("secret-district", [DISTRICT]),
    "vendor": ("secret-vendor", [VENDOR]),
}
NAMES = {
    COMMUNE_A: "UBND xã Nậm Khánh",
    COMMUNE_B: "UBND xã Bản Cái",
    DISTRICT: "UBND huyện Bắc Hà",
    PROVINCE: "UBND tỉnh Lào Cai",
}


def org(organ_id: str) -> edxml.OrganizationInfo:
    return edxml.OrganizationInfo(organ_id=organ_id, organ_name=NAMES.get(organ_id, "Cơ quan"))


def make_document(
    sender: str,
    recipients: list[str],
    number: str = "12",
    *,
    subject: str = "Kế hoạch tổ chức Ngày hội Đại đoàn kết",
    attachment_size: int = 1000,
    date: dt.date = dt.date(2025, 3, 14),
) -> edxml.Document:
    """A valid document (strict checker passes) from ``sender`` to ``recipients``."""
    notation = "KH-UBND"
    return edxml.Document(
        sender=org(sender),
        recipients=[org(r) for r in recipients],
        document_id=str(edxml.DocumentId(edxml.OrganId.parse(sender), date, number, notation)),
        code=edxml.Code(number=number, notation=notation),
        promulgation=edxml.PromulgationInfo(place="Bắc Hà", date=date),
        document_type=edxml.DocumentType(type="1", type_name="Kế hoạch"),
        subject=subject,
        signer=edxml.SignerInfo(
            competence="TM. ỦY BAN NHÂN DÂN", position="CHỦ TỊCH", full_name="Nguyễn Văn An"
        ),
        trace=[edxml.TraceHeader(organ_id=sender, timestamp=dt.datetime.now(edxml.VN_TZ))],
        attachments=[
            edxml.Attachment(
                name="ke-hoach.pdf",
                content_type="application/pdf",
                data=(b"%PDF-1.7 " + bytes(range(256)) * (attachment_size // 256 + 1))[
                    :attachment_size
                ],
            )
        ],
    )


def make_status(sender: str, answering: edxml.Document, code: str = "01") -> edxml.StatusMessage:
    """A status message from ``sender`` about ``answering``."""
    assert answering.code is not None
    assert answering.promulgation is not None
    return edxml.StatusMessage(
        sender=org(sender),
        response_for=edxml.ResponseFor(
            organ_id=answering.sender.organ_id,
            code=f"{answering.code.number}/{answering.code.notation}",
            promulgation_date=answering.promulgation.date,
            document_id=answering.document_id,
        ),
        status_code=code,
        description="Đã tiếp nhận",
        timestamp=dt.datetime.now(edxml.VN_TZ),
    )


# The hop the local axis appends: one line, right before TraceHeaderList's end tag, with
# the line break and indentation it adds (see edoc_exchange/sandbox/axis/_trace.py).
_AXIS_HOP = re.compile(
    rb"\r?\n[ \t]*(<(?:[\w.-]+:)?TraceHeader>[^\n]*?</(?:[\w.-]+:)?TraceHeader>)"
    rb"(\r?\n[ \t]*)(?=</(?:[\w.-]+:)?TraceHeaderList\s*>)"
)


def split_axis_hop(delivered: bytes) -> tuple[bytes, bytes]:
    """The delivered bytes without the hop the axis appended, and that hop's XML."""
    found = list(_AXIS_HOP.finditer(delivered))
    assert len(found) == 1, "exactly one hop appended by the axis"
    hop = found[0]
    return delivered[: hop.start()] + hop.group(2) + delivered[hop.end() :], hop.group(1)


def document_id_of(data: bytes) -> str | None:
    """The DocumentId of an .edxml that must be a document."""
    message = edxml.read(data).message
    assert isinstance(message, edxml.Document)
    return message.document_id


class ServerThread:
    """A uvicorn server in a thread on a socket bound beforehand (so the port is known)."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def write_directory(path: Path) -> Path:
    lines = ["organ_id,name,parent_id,email"]
    lines += [f"{o},{n},{'' if o == PROVINCE else PROVINCE},vanthu@laocai.gov.vn"
              for o, n in NAMES.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def axis_config(
    root: Path, *, system_settings: dict[str, dict[str, Any]] | None = None, **overrides: Any
) -> LocalAxisConfig:
    """A local axis in ``root`` serving the three systems, with a CSV directory.

    ``system_settings`` adds settings to a system (``{"xa-a": {"max_clock_skew_seconds":
    "off"}}``); ``overrides`` replace axis-wide ones.
    """
    extra = system_settings or {}
    values: dict[str, Any] = {
        "organ_id": AXIS_ORGAN,
        "database": root / "axis.db",
        "directory": write_directory(root / "agencies.csv"),
        "systems": [
            SystemConfig(
                systemid=s, secret=SecretStr(secret), organ_ids=organs, **extra.get(s, {})
            )
            for s, (secret, organs) in SYSTEMS.items()
        ],
    }
    values.update(overrides)
    return LocalAxisConfig(**values)


@dataclass
class RunningAxis:
    """A local axis serving on loopback, and clients bound to it."""

    root: Path
    config: LocalAxisConfig
    axis: LocalAxis
    server: ServerThread
    clients: list[AxisClient] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def settings(self, systemid: str, **overrides: Any) -> AxisSettings:
        secret, organs = SYSTEMS[systemid]
        values: dict[str, Any] = {
            "endpoint": self.url,
            "systemid": systemid,
            "secret": secret,
            "organ_id": organs[0],
            "timeout": 10.0,
            "retries": 2,
            "backoff_initial": 0.01,
            "backoff_max": 0.05,
            "download_folder": self.root / f"downloads-{systemid}",
        }
        values.update(overrides)
        return AxisSettings(**values)

    def client(self, systemid: str, **overrides: Any) -> AxisClient:
        client = AxisClient(self.settings(systemid, **overrides))
        self.clients.append(client)
        return client

    def restart(self) -> None:
        """Stop the server and the database, start both again from the same files."""
        self.server.stop()
        self.axis.close()
        self.axis = LocalAxis(self.config)
        self.server = ServerThread(self.axis.app).start()

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.server.stop()
        self.axis.close()


def start_axis(root: Path, **overrides: Any) -> RunningAxis:
    config = axis_config(root, **overrides)
    axis = LocalAxis(config)
    return RunningAxis(root, config, axis, ServerThread(axis.app).start())


@pytest.fixture
def local_axis(tmp_path: Path) -> Iterator[RunningAxis]:
    """The local axis on a free loopback port, with its database in tmp_path."""
    running = start_axis(tmp_path)
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def axis_factory(tmp_path: Path) -> Iterator[Callable[..., RunningAxis]]:
    """Start local axes with config overrides (each in its own folder)."""
    started: list[RunningAxis] = []

    def factory(**overrides: Any) -> RunningAxis:
        root = tmp_path / f"axis{len(started)}"
        root.mkdir()
        running = start_axis(root, **overrides)
        started.append(running)
        return running

    try:
        yield factory
    finally:
        for running in started:
            running.close()
