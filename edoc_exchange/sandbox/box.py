"""A whole exchange on one machine: a local axis and offices with test keys and configs.

For trying the product, training clerks, the demo, crash tests and benchmarks: everything
lives in one folder (the axis database and directory, each office's keys, config and
SQLite store) and runs as real processes (``edoc axis serve``, ``edoc daemon run``).
The keys are test keys from a test CA: never use a sandbox for real documents.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.serialization import Encoding

from .pki import new_test_identity

__all__ = ["Sandbox", "SandboxOffice", "free_port"]

AXIS_ORGAN_ID = "000.00.00.G22"


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def _toml(sections: Mapping[str, Mapping[str, Any]], top: Mapping[str, Any] | None = None) -> str:
    lines = [f"{k} = {_toml_value(v)}" for k, v in (top or {}).items() if v is not None]
    for name, values in sections.items():
        lines.append(f"\n[{name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None]
    return "\n".join(lines) + "\n"


#: The chairman's staff account in a sandbox office with a chairman (the demo's leader).
CHAIRMAN_USER = "lanhdao"


def _visible_signatures(folder: Path, organ: str, name: str, chairman: str | None,
                        sections: dict[str, dict[str, Any]]) -> list[bytes]:
    """Give the office a chairman with his own test key and signature image, and a test
    seal (``[office] seal_image``, ``[signers.chutich]``); returns his CA to trust."""
    if chairman is None:
        return []
    from .looks import write_seal, write_signature

    looks = folder / "looks"
    looks.mkdir(parents=True, exist_ok=True)
    write_seal(looks / "seal.png", name)
    write_signature(looks / "chutich.png")
    person = new_test_identity(organ_id=organ, name=chairman)
    person.write(folder / "keys" / "chutich")
    sections["office"]["seal_image"] = "looks/seal.png"
    sections["signers.chutich"] = {
        "key": "keys/chutich/signer.key.pem",
        "cert": "keys/chutich/signer.pem",
        "display_name": chairman,
        "title": "Chủ tịch",
        "signature_image": "looks/chutich.png",
        "user": CHAIRMAN_USER,
    }
    return [person.ca_cert.public_bytes(Encoding.PEM)]


@dataclass(frozen=True)
class SandboxOffice:
    """One office of the sandbox: its folder holds keys, ``edoc.toml`` and its store."""

    organ_id: str
    name: str
    systemid: str
    folder: Path

    @property
    def config(self) -> Path:
        return self.folder / "edoc.toml"


@dataclass
class Sandbox:
    """A local axis and offices, written to ``root``; start them with the process helpers."""

    root: Path
    port: int
    offices: dict[str, SandboxOffice]

    @property
    def axis_config(self) -> Path:
        return self.root / "axis" / "local-axis.toml"

    @property
    def axis_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def create(
        cls,
        root: Path,
        offices: Sequence[tuple[str, str]],
        *,
        port: int | None = None,
        store_urls: Mapping[str, str] | None = None,
        daemon: Mapping[str, Any] | None = None,
        parents: Mapping[str, str] | None = None,
        signers: Mapping[str, str] | None = None,
    ) -> Sandbox:
        """Write the axis config, the directory, and per office: test keys and edoc.toml.

        ``offices`` are (OrganId, name) pairs; every office trusts every office's CA.
        ``store_urls`` gives an office a database URL (default: SQLite in its folder);
        ``daemon`` overrides [daemon] settings of every office (fast intervals in tests).
        ``signers`` gives an office (OrganId) a chairman by name: his own test key, a test
        signature image and the office's test seal (the two-step flow of Nghị định 30),
        his account being the leader ``lanhdao`` (:data:`CHAIRMAN_USER`).
        """
        root.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        axis_dir = root / "axis"
        axis_dir.mkdir(exist_ok=True)
        parents = parents or {}
        directory = ["organ_id,name,parent_id"] + [
            f"{organ},{name},{parents.get(organ, '')}" for organ, name in offices
        ]
        (axis_dir / "agencies.csv").write_text("\n".join(directory) + "\n", encoding="utf-8")
        made: dict[str, SandboxOffice] = {}
        systems: list[str] = []
        identities = {}
        extra_roots: list[bytes] = []
        for index, (organ, name) in enumerate(offices):
            systemid = f"system-{index + 1}"
            secret = secrets.token_hex(16)
            folder = root / f"office-{organ}"
            identity = new_test_identity(organ_id=organ, name=name)
            identity.write(folder / "keys")
            identities[organ] = identity
            made[organ] = SandboxOffice(organ, name, systemid, folder)
            systems.append(
                f'\n[[systems]]\nsystemid = "{systemid}"\nsecret = "{secret}"\n'
                f'organ_ids = ["{organ}"]\n'
            )
            store = (store_urls or {}).get(organ) or f"sqlite:///{folder / 'edoc.sqlite3'}"
            sections: dict[str, dict[str, Any]] = {
                "axis": {
                    "endpoint": f"http://127.0.0.1:{port}",
                    "systemid": systemid,
                    "secret": secret,
                    "organ_id": organ,
                    "timeout": 10.0,
                    "retries": 2,
                    "backoff_initial": 0.05,
                    "backoff_max": 0.5,
                    "max_retry_time": 5.0,
                },
                "store": {"url": store},
                "office": {
                    "organ_id": organ,
                    "name": name,
                    "staff": "Văn thư",
                    "department": "Văn phòng",
                },
                "signing": {"key": "keys/signer.key.pem", "cert": "keys/signer.pem"},
                "trust": {"roots": "../roots.pem"},
                "daemon": {"health_port": 0, **(daemon or {})},
                # Signed checkpoints also leave the database, as an operator ships them.
                "audit": {"checkpoint_file": "audit-checkpoints.jsonl"},
            }
            extra_roots += _visible_signatures(folder, organ, name, (signers or {}).get(organ),
                                               sections)
            made[organ].config.write_text(_toml(sections), encoding="utf-8")
        roots = b"".join(i.ca_cert.public_bytes(Encoding.PEM) for i in identities.values())
        roots += b"".join(extra_roots)
        (root / "roots.pem").write_bytes(roots)
        axis_toml = _toml(
            {},
            {
                "organ_id": AXIS_ORGAN_ID,
                "database": "local-axis.db",
                "directory": "agencies.csv",
                # As the national axis: its own TraceHeader appended to every document,
                # delivered with CRLF line ends (signatures leave both unsigned).
                "trace": True,
                "line_ends": "crlf",
            },
        ) + "".join(systems)
        (axis_dir / "local-axis.toml").write_text(axis_toml, encoding="utf-8")
        return cls(root=root, port=port, offices=made)

    # --- processes -------------------------------------------------------------------------

    def _env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("EDOC_CONFIG", None)
        env["PYTHONUNBUFFERED"] = "1"
        env.update(extra or {})
        return env

    def start_axis(self, *, log: Path | None = None) -> subprocess.Popen[bytes]:
        """Start ``edoc axis serve`` and wait until it answers."""
        out = (log or self.root / "axis" / "axis.log").open("ab")
        proc = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [
                sys.executable,
                "-m",
                "edoc_exchange",
                "axis",
                "serve",
                "--config",
                str(self.axis_config),
                "--port",
                str(self.port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=self._env(),
        )
        self.wait_for_axis(proc)
        return proc

    def wait_for_axis(
        self, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30.0
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"the local axis exited with {proc.returncode}")
            try:
                httpx.get(f"{self.axis_url}/countReceiveEdoc", timeout=1.0)
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("the local axis did not start")

    def start_daemon(
        self,
        organ_id: str,
        *,
        log: Path | None = None,
        env: Mapping[str, str] | None = None,
        health_port: int | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``edoc daemon run`` for one office; with ``health_port``, its /healthz
        there (see :meth:`daemon_health` and :meth:`wait_for_daemon`)."""
        office = self.offices[organ_id]
        if health_port is not None:
            env = {**(env or {}), "EDOC_DAEMON__HEALTH_PORT": str(health_port)}
        out = (log or office.folder / "daemon.log").open("ab")
        return subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [
                sys.executable,
                "-m",
                "edoc_exchange",
                "daemon",
                "run",
                "--config",
                str(office.config),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=self._env(env),
        )

    @staticmethod
    def daemon_health(port: int) -> dict[str, Any] | None:
        """A daemon's /healthz report (ok or degraded), None while nothing answers."""
        try:
            answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5.0)
            report = answer.json()
        except (httpx.HTTPError, ValueError):
            return None
        return report if isinstance(report, dict) else None

    def wait_for_daemon(
        self, proc: subprocess.Popen[bytes], port: int, timeout: float = 120.0
    ) -> dict[str, Any]:
        """Wait until the daemon's loops run (its /healthz says ``ready``); return the report.

        Readiness, not a guess of how long starting takes: a loaded machine only waits
        longer. Raises RuntimeError when the daemon exits or ``timeout`` passes first.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the daemon exited with {proc.returncode} while starting")
            report = self.daemon_health(port)
            if report is not None and report.get("ready"):
                return report
            time.sleep(0.05)
        raise RuntimeError(f"the daemon did not become ready within {timeout:.0f} s")

    def run(
        self, organ_id: str, *args: str, check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run an ``edoc`` command with this office's config."""
        office = self.offices[organ_id]
        return subprocess.run(  # noqa: S603 (our own interpreter and module)
            [sys.executable, "-m", "edoc_exchange", *args, "--config", str(office.config)],
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
            env=self._env(),
        )
