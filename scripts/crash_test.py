#!/usr/bin/env python
"""Crash test of issue 5: SIGKILL the daemons at random moments during many exchanges.

A commune sends ``--exchanges`` documents to its district through a local axis process; the
district's daemon stores and answers each (status 01) and its clerk accepts each (status 03,
done from this process as ``edoc mark`` would). Meanwhile one of the two daemons, chosen at
random, is SIGKILLed at random moments (at least ``--kills`` times) and restarted. Once all
has settled, the daemons are stopped cleanly and the stores, the axis and the audit logs
are checked: every document is stored exactly once, every status arrived exactly once,
nothing is left half-done, both audit logs verify. Prints PASS/FAIL; exits 0 on PASS.

    python scripts/crash_test.py [--exchanges 200] [--kills 20] [--seed N] [--keep DIR]

The daemons are real processes (``python -m edoc_exchange daemon run``) working on SQLite
files that this process reads and writes too (WAL and a busy timeout make that safe).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from edoc_exchange import audit, edxml
from edoc_exchange import office as steps
from edoc_exchange.config import load_settings
from edoc_exchange.errors import EdocError
from edoc_exchange.office import Office, build_office
from edoc_exchange.sandbox import Sandbox, free_port
from edoc_exchange.store.tables import (
    inbox,
    inbox_claims,
    outbox,
    recipient_statuses,
    status_history,
    workers,
)

COMMUNE = "000.05.01.H17"
DISTRICT = "000.00.01.H17"
NAMES = {COMMUNE: "UBND xã Nậm Khánh", DISTRICT: "UBND huyện Bắc Hà"}

#: Fast loops, and the work of a killed daemon taken over after 2 s (default: 2 minutes).
DAEMON_SETTINGS: dict[str, Any] = {
    "inbound_interval": 0.2,
    "outbound_interval": 0.2,
    "directory_interval": 3600.0,
    "stale_after": 2.0,
    "retry_initial": 0.5,
    "retry_max": 2.0,
    "checkpoint_every": 50,
}


@dataclass(frozen=True)
class Options:
    """What one run does (the command line, or a test's smaller version)."""

    exchanges: int = 200
    kills: int = 20
    seed: int | None = None
    keep: Path | None = None
    timeout: float = 600.0
    #: Store both offices in a throwaway PostgreSQL server (a province's setup).
    postgres: bool = False
    #: Daemon processes per office, sharing its database (one work list, SKIP LOCKED).
    workers: int = 1


@dataclass
class Check:
    """One line of the final report."""

    name: str
    ok: bool
    detail: str = ""


@dataclass
class Outcome:
    """The checks, the run's figures and whether it passed."""

    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append(Check(name, ok, detail))


def say(text: str) -> None:
    print(text, flush=True)


def process_names(opts: Options) -> list[str]:
    """The daemon processes of a run: one per office, or ``organ#k`` with several."""
    if opts.workers == 1:
        return [COMMUNE, DISTRICT]
    return [f"{organ}#{k}" for organ in (COMMUNE, DISTRICT) for k in range(opts.workers)]


def make_document(number: int, today: dt.date) -> bytes:
    """The ``number``-th plan from the commune to the district (unsigned; the daemon signs)."""
    notation = "KH-UBND"
    doc = edxml.Document(
        sender=edxml.OrganizationInfo(organ_id=COMMUNE, organ_name=NAMES[COMMUNE]),
        recipients=[edxml.OrganizationInfo(organ_id=DISTRICT, organ_name=NAMES[DISTRICT])],
        document_id=str(
            edxml.DocumentId(edxml.OrganId.parse(COMMUNE), today, str(number), notation)
        ),
        code=edxml.Code(number=str(number), notation=notation),
        promulgation=edxml.PromulgationInfo(place="Bắc Hà", date=today),
        document_type=edxml.DocumentType(type="1", type_name="Kế hoạch"),
        subject=f"Kế hoạch số {number} (thử nghiệm ngắt tiến trình / crash test)",
        signer=edxml.SignerInfo(
            competence="TM. ỦY BAN NHÂN DÂN", position="CHỦ TỊCH", full_name="Nguyễn Văn An"
        ),
        trace=[edxml.TraceHeader(organ_id=COMMUNE, timestamp=dt.datetime.now(edxml.VN_TZ))],
        attachments=[
            edxml.Attachment(
                name="ke-hoach.pdf",
                content_type="application/pdf",
                data=b"%PDF-1.7 " + number.to_bytes(4, "big") + bytes(range(256)) * 4,
            )
        ],
    )
    return edxml.write(doc)


class Daemons:
    """The two daemon processes: start, SIGKILL, restart, stop; notices one that died alone."""

    def __init__(self, box: Sandbox) -> None:
        self.box = box
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}
        self.started: dict[str, float] = {}
        self.ready_at: dict[str, float] = {}
        self.unexpected: list[str] = []

    def start(self, name: str) -> None:
        """Start the daemon process ``name``: an office's OrganId, with ``#k`` for the k-th
        of several processes of that office (each its own worker name)."""
        self.ready_at.pop(name, None)
        self.ports[name] = free_port()
        organ, _, k = name.partition("#")
        env = {"EDOC_DAEMON__WORKER": f"{organ}-{k}"} if k else None
        log = self.box.offices[organ].folder / (f"daemon-{k}.log" if k else "daemon.log")
        self.procs[name] = self.box.start_daemon(
            organ, health_port=self.ports[name], env=env, log=log
        )
        self.started[name] = time.monotonic()

    def ready(self, organ: str) -> float | None:
        """When the daemon's loops were seen running (its /healthz says ready), None if
        not yet: the harness waits for readiness, never for a guessed delay."""
        if organ not in self.ready_at:
            report = self.box.daemon_health(self.ports[organ])
            if report is not None and report.get("ready"):
                self.ready_at[organ] = time.monotonic()
        return self.ready_at.get(organ)

    def wait_ready(self, organ: str, timeout: float = 120.0) -> None:
        """Block until the daemon runs its loops (a clean stop is then a real stop)."""
        self.box.wait_for_daemon(self.procs[organ], self.ports[organ], timeout)
        self.ready(organ)

    def kill(self, organ: str) -> None:
        proc = self.procs[organ]
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)

    def watch(self) -> None:
        """Restart (and remember) a daemon that exited without being killed."""
        for organ, proc in list(self.procs.items()):
            code = proc.poll()
            if code is not None:
                self.unexpected.append(f"{organ} exited by itself with code {code}")
                self.start(organ)

    def stop(self, timeout: float = 30.0) -> list[str]:
        """SIGTERM both, wait; return what went wrong (a hang, a non-zero exit)."""
        problems: list[str] = []
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for organ, proc in self.procs.items():
            try:
                code = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
                problems.append(f"{organ} did not stop within {timeout:.0f} s of SIGTERM")
                continue
            if code != 0:
                problems.append(f"{organ} exited with {code} after SIGTERM")
        return problems

    def kill_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(10)


@dataclass
class Progress:
    """What the stores show now (read without writing)."""

    sent: int = 0
    received: int = 0
    waiting_clerk: int = 0
    accepted: int = 0
    statuses_in: int = 0
    statuses_out: int = 0
    open_rows: int = 0
    claims: int = 0

    def settled(self, n: int) -> bool:
        return (
            self.sent == n
            and self.received == n
            and self.accepted == n
            and self.statuses_in == 2 * n
            and self.statuses_out == 2 * n
            and self.open_rows == 0
            and self.claims == 0
        )

    def line(self, n: int) -> str:
        return (
            f"sent {self.sent}/{n}, stored {self.received}/{n}, accepted {self.accepted}/{n}, "
            f"statuses in {self.statuses_in}/{2 * n} (out {self.statuses_out}), "
            f"open outbox rows {self.open_rows}, claims {self.claims}"
        )


def _count(office: Office, query: Any) -> int:
    with office.db.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def progress(commune: Office, district: Office) -> Progress:
    """Counts that reach their final values only when every exchange is complete."""

    def n(table: Any, *where: Any) -> Any:
        return select(func.count()).select_from(table).where(*where)

    return Progress(
        sent=_count(commune, n(outbox, outbox.c.kind == "edoc", outbox.c.state == "sent")),
        received=_count(district, n(inbox)),
        waiting_clerk=_count(district, n(inbox, inbox.c.clerk_state == "01")),
        accepted=_count(district, n(inbox, inbox.c.clerk_state == "03")),
        statuses_in=_count(commune, n(status_history, status_history.c.direction == "in")),
        statuses_out=_count(district, n(status_history, status_history.c.direction == "out")),
        open_rows=_count(commune, n(outbox, outbox.c.state != "sent"))
        + _count(district, n(outbox, outbox.c.state != "sent")),
        claims=_count(commune, n(inbox_claims)) + _count(district, n(inbox_claims)),
    )


def accept_arrivals(district: Office) -> int:
    """The district's clerk accepts (03) every verified document waiting in state 01."""
    with district.db.engine.connect() as conn:
        waiting = (
            conn.execute(
                select(inbox.c.document_id).where(
                    inbox.c.clerk_state == "01", inbox.c.verdict == "verified"
                )
            )
            .scalars()
            .all()
        )
    for document_id in waiting:
        steps.mark(district, document_id, "03", "Vào sổ văn bản đến")
    return len(waiting)


def exercise(
    opts: Options, box: Sandbox, daemons: Daemons, commune: Office, district: Office
) -> tuple[list[str], int]:
    """Queue the documents, accept arrivals and kill daemons until all has settled.

    Returns (the DocumentIds queued, the number of kills); raises TimeoutError past the
    deadline.
    """
    rng = random.Random(opts.seed)  # noqa: S311 - reproducible chaos, not cryptography
    n = opts.exchanges
    start = time.monotonic()
    deadline = start + opts.timeout
    # Spread the queueing over about the time the kills take, so kills hit every phase.
    queue_window = max(2.0, opts.kills * 2.0)
    today = dt.date.today()
    documents = [make_document(i + 1, today) for i in range(n)]
    queued: list[str] = []
    kills = 0
    victims: Counter[str] = Counter()

    def plan_kill() -> tuple[str, float, bool]:
        """The next victim and when: mostly at a random moment of its work, now and then
        while it is still starting (migrations, loading keys)."""
        early = rng.random() < 0.1
        return rng.choice(sorted(daemons.procs)), rng.uniform(0.0, 1.0 if early else 1.5), early

    victim, delay, early = plan_kill()
    next_report = start
    while True:
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError(
                f"not settled within {opts.timeout:.0f} s: {progress(commune, district).line(n)}"
            )
        due = min(n, int(n * (now - start) / queue_window) + 1)
        while len(queued) < due:
            data = documents[len(queued)]
            steps.queue_message(commune, data, composed=True)
            read = edxml.read(data).message
            assert isinstance(read, edxml.Document)
            queued.append(read.document_id or "")
        try:
            accept_arrivals(district)
        except EdocError as exc:  # a busy database: the clerk tries again in a moment
            say(f"  clerk: {exc.diagnostics()}")
        daemons.watch()
        ready = daemons.ready(victim)
        since = daemons.started[victim] if early else ready
        if kills < opts.kills and since is not None and now >= since + delay:
            daemons.kill(victim)
            kills += 1
            victims[victim] += 1
            moment = (
                "while starting"
                if ready is None
                else f"{max(0.0, now - ready):.2f} s into its loops"
            )
            say(f"  kill {kills}: SIGKILL {victim} {moment}")
            time.sleep(rng.uniform(0.0, 0.3))
            daemons.start(victim)
            victim, delay, early = plan_kill()
        if now >= next_report:
            say(f"  [{now - start:6.1f} s] kills {kills}, {progress(commune, district).line(n)}")
            next_report = now + 3.0
        if kills >= opts.kills and len(queued) == n and progress(commune, district).settled(n):
            break
        time.sleep(0.05)
    say(
        f"settled after {time.monotonic() - start:.1f} s: {kills} kills "
        f"({sum(c for v, c in victims.items() if v.startswith(COMMUNE))} commune, "
        f"{sum(c for v, c in victims.items() if v.startswith(DISTRICT))} district)"
    )
    return queued, kills


def _rows(office: Office, query: Any) -> list[Any]:
    with office.db.engine.connect() as conn:
        return list(conn.execute(query).all())


def _dupes(values: Sequence[Any]) -> list[Any]:
    return [v for v, c in Counter(values).items() if c > 1]


def _same(name: str, got: Sequence[Any], want: Sequence[Any]) -> tuple[bool, str]:
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    dupes = _dupes(got)
    ok = not missing and not extra and not dupes and len(got) == len(want)
    detail = f"{len(got)} {name}"
    if not ok:
        detail += f"; missing {missing[:5]}, unexpected {extra[:5]}, duplicated {dupes[:5]}"
    return ok, detail


def check_stores(out: Outcome, queued: list[str], commune: Office, district: Office) -> None:
    """Every document stored once, every status once, nothing left half-done."""
    n = len(queued)
    got = _rows(
        district,
        select(inbox.c.document_id, inbox.c.axis_doc_id, inbox.c.verdict, inbox.c.clerk_state),
    )
    ok, detail = _same("documents in the district inbox", [r.document_id for r in got], queued)
    out.check("district inbox: every document exactly once (DocumentId)", ok, detail)
    axis_ids = [r.axis_doc_id for r in got]
    out.check(
        "district inbox: axis DocIds unique",
        not _dupes(axis_ids) and len(axis_ids) == n,
        f"{len(set(axis_ids))} distinct of {len(axis_ids)}",
    )
    bad = [r.document_id for r in got if r.verdict != "verified" or r.clerk_state != "03"]
    out.check("district inbox: all verified and accepted (03)", not bad, f"not so: {bad[:5]}")

    sent = _rows(
        commune,
        select(outbox.c.document_id, outbox.c.state, outbox.c.axis_doc_id, outbox.c.attempts).where(
            outbox.c.kind == "edoc"
        ),
    )
    ok, detail = _same("documents in the commune outbox", [r.document_id for r in sent], queued)
    unsent = [r.document_id for r in sent if r.state != "sent" or r.axis_doc_id is None]
    out.check("commune outbox: every document sent exactly once", ok and not unsent, detail)
    out.figures["commune documents sent more than once (attempts > 1)"] = sum(
        1 for r in sent if r.attempts > 1
    )
    finals = _rows(
        commune,
        select(
            outbox.c.document_id, recipient_statuses.c.organ_id, recipient_statuses.c.status_code
        )
        .join(recipient_statuses, recipient_statuses.c.outbox_id == outbox.c.id)
        .where(outbox.c.kind == "edoc"),
    )
    ok, detail = _same("recipient rows", [r.document_id for r in finals], queued)
    wrong = [r.document_id for r in finals if r.organ_id != DISTRICT or r.status_code != "03"]
    out.check(
        "commune recipient_statuses: district at 03 for every document",
        ok and not wrong,
        detail + (f"; not at 03: {wrong[:5]}" if wrong else ""),
    )

    want_pairs = [(d, c) for d in queued for c in ("01", "03")]
    came = _rows(
        commune,
        select(status_history.c.document_id, status_history.c.status_code).where(
            status_history.c.direction == "in"
        ),
    )
    ok, detail = _same("statuses received", [(r[0], r[1]) for r in came], want_pairs)
    out.check("commune status_history: every 01 and 03 arrived exactly once", ok, detail)
    went = _rows(
        district,
        select(status_history.c.document_id, status_history.c.status_code).where(
            status_history.c.direction == "out"
        ),
    )
    ok, detail = _same("statuses sent", [(r[0], r[1]) for r in went], want_pairs)
    out.check("district status_history: every 01 and 03 sent exactly once", ok, detail)
    answers = _rows(
        district,
        select(outbox.c.document_id, outbox.c.status_code, outbox.c.state, outbox.c.attempts),
    )
    ok, detail = _same("status rows", [(r[0], r[1]) for r in answers], want_pairs)
    out.check(
        "district outbox: one status row per answer, all sent",
        ok and all(r.state == "sent" for r in answers),
        detail,
    )
    out.figures["district statuses sent more than once (attempts > 1)"] = sum(
        1 for r in answers if r.attempts > 1
    )
    for name, office in (("commune", commune), ("district", district)):
        stuck = _rows(office, select(outbox.c.id).where(outbox.c.state == "sending"))
        claims = _rows(office, select(inbox_claims.c.axis_doc_id))
        out.check(
            f"{name}: no outbox row left in 'sending', no inbox claim left",
            not stuck and not claims,
            f"{len(stuck)} sending, {len(claims)} claims",
        )
        last = _rows(office, select(workers.c.id, workers.c.stopped_at).order_by(workers.c.id))
        out.check(
            f"{name}: the worker stopped by SIGTERM says it stopped",
            bool(last) and last[-1].stopped_at is not None,
            f"{len(last)} worker rows, last {last[-1] if last else None}",
        )


def check_axis(out: Outcome, box: Sandbox, queued: list[str]) -> None:
    """The axis holds each message once and every delivery was acknowledged."""
    n = len(queued)
    path = box.root / "axis" / "local-axis.db"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
        docs = con.execute(
            "SELECT document_id FROM messages WHERE kind = 'edoc' AND sender_organ = ?",
            (COMMUNE,),
        ).fetchall()
        ok, detail = _same("documents at the axis", [d[0] for d in docs], queued)
        out.check("axis: each document accepted once (no duplicate from resends)", ok, detail)
        statuses = con.execute(
            "SELECT response_for, status_code FROM messages WHERE kind = 'status' "
            "AND sender_organ = ?",
            (DISTRICT,),
        ).fetchall()
        want = [(d, c) for d in queued for c in ("01", "03")]
        ok, detail = _same("statuses at the axis", [(s[0], s[1]) for s in statuses], want)
        out.check("axis: each status accepted once", ok, detail)
        states = dict(
            con.execute(
                "SELECT kind || ' to ' || to_organ || ' ' || state, count(*) FROM deliveries "
                "GROUP BY kind, to_organ, state"
            ).fetchall()
        )
        want_states = {f"edoc to {DISTRICT} done": n, f"status to {COMMUNE} done": 2 * n}
        out.check(
            "axis: every delivery acknowledged 'done', none left open",
            states == want_states,
            str(states),
        )


def check_audit(out: Outcome, box: Sandbox, n: int, commune: Office, district: Office) -> None:
    """Both logs verify (``edoc audit verify``) and record each step once."""
    for organ in (COMMUNE, DISTRICT):
        result = box.run(organ, "audit", "verify", check=False)
        text = (result.stdout + result.stderr).strip().splitlines()
        out.check(f"audit verify {organ}: exit 0", result.returncode == 0, text[0] if text else "")
    want: list[tuple[Office, audit.AuditEvent, int]] = [
        (commune, audit.AuditEvent.SENT, n),
        (commune, audit.AuditEvent.STATUS_RECEIVED, 2 * n),
        (commune, audit.AuditEvent.ACKNOWLEDGED, 2 * n),
        (district, audit.AuditEvent.RECEIVED, n),
        (district, audit.AuditEvent.VERIFIED, n),
        (district, audit.AuditEvent.ACKNOWLEDGED, n),
        (district, audit.AuditEvent.CLERK_ACTION, n),
        (district, audit.AuditEvent.STATUS_SENT, 2 * n),
    ]
    for office, event, count in want:
        with office.db.engine.connect() as conn:
            got = sum(1 for e in audit.entries(conn, office.office_id) if e.event == event)
        out.check(
            f"audit {office.office_id}: '{event}' recorded once per item",
            got == count,
            f"{got} of {count}",
        )


def _log_tails(box: Sandbox, lines: int = 15) -> None:
    for organ, office in box.offices.items():
        for log in sorted(office.folder.glob("daemon*.log")):
            tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
            say(f"--- last lines of {log} ({organ}) ---")
            for line in tail:
                say(f"    {line}")


def run(opts: Options) -> Outcome:
    """One whole crash test; never hangs past ``opts.timeout`` (plus stopping)."""
    out = Outcome()
    root = opts.keep or Path(tempfile.mkdtemp(prefix="edoc-crash-"))
    if opts.keep is not None and root.exists() and any(root.iterdir()):
        raise SystemExit(f"--keep folder {root} is not empty")
    say(
        f"crash test: {opts.exchanges} exchanges, {opts.kills} kills, seed {opts.seed}, "
        f"folder {root}"
    )
    with contextlib.ExitStack() as stack:
        store_urls: dict[str, str] = {}
        if opts.postgres:
            server = stack.enter_context(_postgres())
            store_urls = {
                organ: server.create_database(f"crash_{i}")
                for i, organ in enumerate((COMMUNE, DISTRICT))
            }
            say(f"stores: PostgreSQL on 127.0.0.1:{server.port}")
        return _run_in(opts, out, root, store_urls)


def _postgres() -> Any:
    """A throwaway PostgreSQL server (the tests' helper, shared rather than copied)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from postgres import postgres_server  # type: ignore[import-not-found,unused-ignore]

    return postgres_server()


def _run_in(opts: Options, out: Outcome, root: Path, store_urls: dict[str, str]) -> Outcome:
    box = Sandbox.create(
        root,
        [(COMMUNE, NAMES[COMMUNE]), (DISTRICT, NAMES[DISTRICT])],
        daemon=DAEMON_SETTINGS,
        parents={COMMUNE: DISTRICT},
        store_urls=store_urls,
    )
    commune = build_office(load_settings(box.offices[COMMUNE].config))
    district = build_office(load_settings(box.offices[DISTRICT].config))
    axis = box.start_axis()
    daemons = Daemons(box)
    finished = False
    try:
        for name in process_names(opts):
            daemons.start(name)
        try:
            queued, kills = exercise(opts, box, daemons, commune, district)
        except TimeoutError as exc:
            out.check("everything settled before the deadline", False, str(exc))
            _log_tails(box)
            return out
        out.figures["kills"] = kills
        out.check(f"at least {opts.kills} kills", kills >= opts.kills, str(kills))
        out.check(
            "no daemon exited by itself", not daemons.unexpected, "; ".join(daemons.unexpected)
        )
        try:
            for name in process_names(opts):
                daemons.wait_ready(name)
        except RuntimeError as exc:
            out.check("both daemons running before the final stop", False, str(exc))
        problems = daemons.stop()
        out.check("both daemons stop cleanly on SIGTERM", not problems, "; ".join(problems))
        check_stores(out, queued, commune, district)
        check_axis(out, box, queued)
        check_audit(out, box, len(queued), commune, district)
        if not out.passed:
            _log_tails(box)
        finished = True
        return out
    finally:
        daemons.kill_all()
        axis.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            axis.wait(10)
        commune.db.dispose()
        district.db.dispose()
        if opts.keep is None and finished and out.passed:
            shutil.rmtree(root, ignore_errors=True)
        elif opts.keep is None:
            say(f"(folder kept for inspection: {root})")


def report(out: Outcome) -> None:
    """Print the checks and the figures, then PASS or FAIL."""
    say("")
    for c in out.checks:
        say(f"[{'ok  ' if c.ok else 'FAIL'}] {c.name}" + (f" — {c.detail}" if c.detail else ""))
    for name, value in out.figures.items():
        say(f"       {name}: {value}")
    say("PASS" if out.passed else "FAIL")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the crash test from command-line arguments; 0 on PASS, 1 on FAIL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--exchanges", type=int, default=200)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", type=Path, default=None, help="keep the sandbox in DIR")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds before giving up (FAIL)"
    )
    parser.add_argument(
        "--postgres", action="store_true", help="store both offices in a throwaway PostgreSQL"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="daemon processes per office (one database)"
    )
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    opts = Options(
        exchanges=args.exchanges,
        kills=args.kills,
        seed=seed,
        keep=args.keep,
        timeout=args.timeout,
        postgres=args.postgres,
        workers=args.workers,
    )
    out = run(opts)
    report(out)
    return 0 if out.passed else 1


if __name__ == "__main__":
    sys.exit(main())
