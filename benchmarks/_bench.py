"""What several benchmarks share: the two offices, a local axis in its own process, a
signed-size document, and a process's peak memory.

Benchmarks run as scripts (``python benchmarks/bench_x.py``), so this folder is on their
import path and they import this module as ``_bench``.
"""

from __future__ import annotations

import datetime as dt
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

from edoc_exchange import edxml

COMMUNE = "000.05.01.H17"
DISTRICT = "000.00.01.H17"
#: The local axis's two systems and their secrets (see AXIS_CONFIG).
SECRETS = {"xa": "bench-secret-commune", "huyen": "bench-secret-district"}

AXIS_CONFIG = """
organ_id = "000.00.00.G22"
database = "axis.db"
trace = true

[[systems]]
systemid = "xa"
secret = "{xa}"
organ_ids = ["{commune}"]

[[systems]]
systemid = "huyen"
secret = "{huyen}"
organ_ids = ["{district}"]
"""


def start_axis(folder: Path, port: int) -> subprocess.Popen[bytes]:
    """A local axis for the commune ("xa") and the district ("huyen") on ``port``, in its own
    process, returned once it accepts connections (SystemExit if it does not start)."""
    config = folder / "local-axis.toml"
    config.write_text(
        AXIS_CONFIG.format(commune=COMMUNE, district=DISTRICT, **SECRETS), encoding="utf-8"
    )
    code = (
        "import sys; from edoc_exchange.sandbox.axis import LocalAxisConfig, serve; "
        "serve(LocalAxisConfig.load(sys.argv[1]), port=int(sys.argv[2]), log_level='warning')"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(config), str(port)])
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise SystemExit("local axis did not start") from None
            time.sleep(0.05)


def document(n: int, attachment: int = 2048) -> edxml.Document:
    """The commune's ``n``-th report to the district; about 6 KB once signed with the
    default 2 KB attachment."""
    date = dt.date(2026, 1, 1)
    org = edxml.OrganizationInfo
    return edxml.Document(
        sender=org(organ_id=COMMUNE, organ_name="UBND xã Nậm Khánh"),
        recipients=[org(organ_id=DISTRICT, organ_name="UBND huyện Bắc Hà")],
        document_id=str(edxml.DocumentId(edxml.OrganId.parse(COMMUNE), date, str(n), "BC-UBND")),
        code=edxml.Code(number=str(n), notation="BC-UBND"),
        promulgation=edxml.PromulgationInfo(place="Nậm Khánh", date=date),
        document_type=edxml.DocumentType(type="1", type_name="Báo cáo"),
        subject=f"Báo cáo số {n}",
        signer=edxml.SignerInfo(position="CHỦ TỊCH", full_name="Nguyễn Văn An"),
        trace=[edxml.TraceHeader(organ_id=COMMUNE, timestamp=dt.datetime.now(edxml.VN_TZ))],
        attachments=[
            edxml.Attachment(
                name="bao-cao.pdf",
                content_type="application/pdf",
                data=(bytes(range(256)) * (attachment // 256 + 1))[:attachment],
            )
        ],
    )


def peak_rss() -> tuple[int, str]:
    """This process's peak resident set size in bytes, and the name of its source.

    ``ru_maxrss`` (KiB on Linux, bytes on macOS) survives fork + exec on Linux: a child
    started by a parent that once held 300 MB starts with a 300 MB ``ru_maxrss``, which
    would hide the child's own peak. ``VmHWM`` is the same high-water mark for this process
    image only, so it is used where /proc has it.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024, "VmHWM"
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (peak if sys.platform == "darwin" else peak * 1024), "ru_maxrss"
