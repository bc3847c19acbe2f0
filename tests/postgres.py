"""A throwaway PostgreSQL server for tests: initdb in a temp folder, a free port, no trace.

Debian's PostgreSQL server binaries are used (scripts/install.sh --dev installs them);
initdb refuses to run as root, so as root the server runs as the ``postgres`` user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PostgresServer:
    """A running server; ``url(db)`` gives a SQLAlchemy URL to one of its databases."""

    host: str
    port: int
    data_dir: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            host=self.host, port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def find_pg_bin() -> Path | None:
    """The newest PostgreSQL server binaries Debian installed, if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def postgres_server(*, preload: tuple[str, ...] = ()) -> Iterator[PostgresServer]:
    """Start a server, yield it, stop it and delete its files; ``preload`` names server
    libraries to load at start (``pg_stat_statements`` for the benchmarks' counts)."""
    pg_bin = find_pg_bin()
    if pg_bin is None:
        raise RuntimeError("PostgreSQL server binaries not found; run scripts/install.sh --dev")
    base = Path(tempfile.mkdtemp(prefix="edoc-pg-"))
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        shutil.chown(base, "postgres", "postgres")
    data = base / "data"
    port = _free_port()
    subprocess.run(
        [
            *prefix,
            str(pg_bin / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        ],
        check=True,
        capture_output=True,
    )
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off -c max_connections=200"
    )
    if preload:
        options += f" -c shared_preload_libraries={','.join(preload)}"
    subprocess.run(
        [
            *prefix,
            str(pg_bin / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(base / "pg.log"),
            "-w",
            "-o",
            options,
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield PostgresServer("127.0.0.1", port, data)
    finally:
        subprocess.run(
            [*prefix, str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)
