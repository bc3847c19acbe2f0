"""The office's revocation checker: CRLs and OCSP answers fetched, cached on disk, judged.

The judging is :mod:`edoc_exchange.signing`'s (pure); this module is the network and the
cache, for a commune whose mountain link is often down:

- a fresh answer (before its nextUpdate) comes from memory or from the disk cache, with
  no network at all: the receiving path stays cheap;
- otherwise the certificate's OCSP responder, then its CRL, are asked over HTTP with
  short timeouts and bounded sizes; a URL that failed is not asked again for
  ``retry_after`` (a link that is down costs one timeout, not one per document);
- when nothing can be fetched, a cached CRL past its nextUpdate is used and said so
  ("cached crl of … (responder unreachable)"); else the verdict is "not checked since …"
  (the last answer known) or "not checked: no CRL or OCSP cached".

The cache is a folder (``[trust] revocation_cache``, by default beside the store):
``crl/<sha256 of url>.der`` and ``ocsp/<issuer key hash>-<serial>.der``, each written
atomically; their thisUpdate/nextUpdate are read back from the answers themselves.
:meth:`RevocationChecker.refresh` renews the cached CRLs before they go stale (the daemon
calls it from a loop).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes

from .. import signing
from ..atomicfile import write_atomically

__all__ = ["RefreshReport", "RevocationChecker", "validation_material"]

log = logging.getLogger("edoc.revocation")

#: The largest CRL fetched (a national CA's lists run to a few MiB).
MAX_CRL_BYTES = 16 * 1024 * 1024
#: The largest OCSP answer fetched.
MAX_OCSP_BYTES = 64 * 1024

_State = signing.RevocationState


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _when(moment: dt.datetime) -> str:
    return f"{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"


class _FetchError(Exception):
    """A fetch that failed (network, HTTP status, size): the answer is "unreachable"."""


@dataclass
class _CachedCrl:
    url: str
    data: bytes
    this_update: dt.datetime
    next_update: dt.datetime | None


@dataclass
class RefreshReport:
    """What one :meth:`RevocationChecker.refresh` did."""

    refreshed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class RevocationChecker:
    """Answers ``status(cert, issuer)`` (a :class:`signing.RevocationSource`) for an office.

    Never raises and never waits longer than about ``timeout`` per URL asked; with
    ``fetch=False`` (:meth:`cached`) it does not touch the network at all. Thread-safe:
    the daemon's loops share one checker.
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        timeout: float = 3.0,
        retry_after: dt.timedelta = dt.timedelta(minutes=5),
        clock: Callable[[], dt.datetime] = _utcnow,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.timeout = timeout
        self.retry_after = retry_after
        self.clock = clock
        self._transport = transport
        self._lock = threading.Lock()
        #: (issuer key hash, serial, fetched) → (status, valid until): answers not asked
        #: again; a cache-only answer never stands in for one that may fetch.
        self._answers: dict[
            tuple[str, int, bool], tuple[signing.RevocationStatus, dt.datetime]
        ] = {}
        #: CRLs read from disk or fetched, by URL.
        self._crls: dict[str, _CachedCrl] = {}
        #: URL → when it last failed (not asked again before retry_after).
        self._down: dict[str, dt.datetime] = {}
        #: CRL URL → the issuer it was judged against (for refresh()).
        self._issuers: dict[str, x509.Certificate] = {}
        #: time.monotonic() of the last refresh() the daemon asked for (rate limit).
        self.refreshed_at: float | None = None

    # -- the source a TrustPolicy asks ------------------------------------------------

    def status(self, cert: x509.Certificate, issuer: x509.Certificate) -> signing.RevocationStatus:
        """The revocation verdict of ``cert``, fetching when nothing fresh is cached."""
        return self._status(cert, issuer, fetch=True)

    def cached(self) -> signing.RevocationSource:
        """The same checker, answering from its cache only (no network): for checks that
        must stay cheap and local, such as a received PDF's signatures."""
        return _CacheOnly(self)

    def answers(
        self, cert: x509.Certificate, issuer: x509.Certificate
    ) -> tuple[list[bytes], list[bytes]]:
        """The DER CRLs and OCSP responses about ``cert`` that this checker used or has
        cached, after one :meth:`status` (which fetches only when nothing fresh is known,
        at most once per URL within ``retry_after``): what a PDF's DSS embeds for
        long-term validation. Only answers signed by ``issuer`` are given; never raises."""
        self.status(cert, issuer)
        crls: list[bytes] = []
        ocsps: list[bytes] = []
        try:
            for url in signing.crl_urls(cert):
                crl = self._cached_crl(url)
                if crl is not None and self._judge_crl(crl, cert, issuer, []) is not None:
                    crls.append(crl.data)
            data = self._ocsp_path(cert, issuer).read_bytes()
        except OSError:
            return crls, ocsps
        except Exception:  # never let a checker bug stop a signature
            log.exception("revocation material of %x not read", cert.serial_number)
            return crls, ocsps
        try:
            answer = signing.judge_ocsp(data, cert, issuer, now=self.clock())
        except signing.RevocationDataError:
            return crls, ocsps
        if answer.state is not _State.NOT_CHECKED:
            ocsps.append(data)
        return crls, ocsps

    def _status(
        self, cert: x509.Certificate, issuer: x509.Certificate, *, fetch: bool
    ) -> signing.RevocationStatus:
        now = self.clock()
        key = (_key_hash(issuer), cert.serial_number, fetch)
        with self._lock:
            hit = self._answers.get(key)
            if hit is None and not fetch:
                hit = self._answers.get((key[0], key[1], True))
        if hit is not None and now <= hit[1]:
            return hit[0]
        try:
            status, until = self._decide(cert, issuer, now=now, fetch=fetch)
        except Exception as exc:  # never let a checker bug stop the receiving path
            log.exception("revocation check of %x failed", cert.serial_number)
            status = signing.RevocationStatus(_State.NOT_CHECKED, f"not checked: {exc}")
            until = now + self.retry_after
        with self._lock:
            if len(self._answers) > 10_000:
                self._answers.clear()
            self._answers[key] = (status, until)
        return status

    def _decide(
        self, cert: x509.Certificate, issuer: x509.Certificate, *, now: dt.datetime, fetch: bool
    ) -> tuple[signing.RevocationStatus, dt.datetime]:
        crl_urls, ocsp_urls = signing.crl_urls(cert), signing.ocsp_urls(cert)
        if not crl_urls and not ocsp_urls:
            return (
                signing.RevocationStatus(
                    _State.NOT_CHECKED,
                    "not checked: the certificate names no CRL or OCSP responder",
                ),
                now + dt.timedelta(hours=1),
            )
        soon = now + self.retry_after
        problems: list[str] = []
        with self._lock:  # the lists refresh() keeps fresh
            for url in crl_urls:
                self._issuers.setdefault(url, issuer)
        # 1. A fresh cached CRL: no network.
        stale_crls: list[tuple[str, signing.RevocationAnswer, _CachedCrl]] = []
        for url in crl_urls:
            crl = self._cached_crl(url, now)
            if crl is None:
                continue
            answer = self._judge_crl(crl, cert, issuer, problems)
            if answer is None:
                continue
            if answer.fresh(now):
                source = f"cached crl of {_when(answer.this_update)} ({url})"
                return _status(answer, source), _until(answer, now)
            stale_crls.append((url, answer, crl))
        # 2. A fresh cached OCSP answer: no network.
        cached_ocsp = self._cached_ocsp(cert, issuer, now, problems)
        if cached_ocsp is not None and (
            cached_ocsp.fresh(now) or cached_ocsp.state is _State.REVOKED  # revoked for good
        ):
            source = f"cached ocsp answer of {_when(cached_ocsp.this_update)}"
            return _status(cached_ocsp, source), _until(cached_ocsp, now)
        if fetch:
            # 3. The OCSP responder.
            for url in ocsp_urls:
                answer = self._ask_ocsp(url, cert, issuer, now, problems)
                if answer is not None:
                    return _status(answer, f"ocsp {url}"), _until(answer, now)
            # 4. The CRL.
            for url in crl_urls:
                crl = self._fetch_crl(url, problems)
                if crl is None:
                    continue
                answer = self._judge_crl(crl, cert, issuer, problems)
                if answer is None:
                    continue
                self._store_crl(crl)
                self._issuers[url] = issuer
                stale = not answer.fresh(now)
                source = f"crl {url}" + (" (past its nextUpdate)" if stale else "")
                return _status(answer, source, stale=stale), _until(answer, now)
        why = f" ({'; '.join(problems)})" if problems else ""
        # 5. A stale cached CRL, said so.
        if stale_crls:
            url, answer, crl = max(stale_crls, key=lambda item: item[1].this_update)
            next_update = f", next update was {_when(crl.next_update)}" if crl.next_update else ""
            source = (
                f"cached crl of {_when(answer.this_update)}{next_update} "
                f"(responder unreachable){why}"
            )
            return _status(answer, source, stale=True), soon
        # 6. Nothing usable.
        if cached_ocsp is not None:
            source = f"not checked since {_when(cached_ocsp.this_update)}{why}"
        else:
            source = f"not checked: no CRL or OCSP cached{why}"
        return signing.RevocationStatus(_State.NOT_CHECKED, source), soon

    # -- CRLs -----------------------------------------------------------------------

    def _crl_path(self, url: str) -> Path:
        return self.folder / "crl" / f"{hashlib.sha256(url.encode()).hexdigest()}.der"

    def _cached_crl(self, url: str, now: dt.datetime | None = None) -> _CachedCrl | None:
        """The CRL of ``url`` from memory, or from disk when memory has none or only a
        stale one (another process, the daemon, may have refreshed the file)."""
        with self._lock:
            crl = self._crls.get(url)
        fresh = crl is not None and (
            now is None or (crl.next_update is not None and now <= crl.next_update)
        )
        if crl is not None and fresh:
            return crl
        path = self._crl_path(url)
        try:
            data = path.read_bytes()
            this_update, next_update = signing.crl_times(data)
        except (OSError, ValueError):
            return crl
        if crl is not None and crl.this_update >= this_update:
            return crl
        crl = _CachedCrl(url, data, this_update, next_update)
        with self._lock:
            self._crls[url] = crl
        return crl

    def _judge_crl(
        self,
        crl: _CachedCrl,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        problems: list[str],
    ) -> signing.RevocationAnswer | None:
        try:
            return signing.judge_crl(crl.data, cert, issuer)
        except signing.RevocationDataError as exc:
            problems.append(f"crl {crl.url}: {exc}")
            log.warning("CRL %s not believed: %s", crl.url, exc)
            return None

    def _fetch_crl(self, url: str, problems: list[str]) -> _CachedCrl | None:
        try:
            data = self._fetch("GET", url, None, MAX_CRL_BYTES)
            this_update, next_update = signing.crl_times(data)
        except _FetchError as exc:
            problems.append(f"crl {url}: {exc}")
            return None
        except ValueError as exc:
            problems.append(f"crl {url}: unreadable CRL ({exc})")
            return None
        return _CachedCrl(url, data, this_update, next_update)

    def _store_crl(self, crl: _CachedCrl) -> None:
        with self._lock:
            self._crls[crl.url] = crl
        try:
            path = self._crl_path(crl.url)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, crl.data)
            write_atomically(path.with_suffix(".url"), crl.url.encode("utf-8"))
        except OSError as exc:  # the answer holds in memory; the disk is the spare
            log.warning("CRL of %s not cached on disk: %s", crl.url, exc)

    # -- OCSP -----------------------------------------------------------------------

    def _ocsp_path(self, cert: x509.Certificate, issuer: x509.Certificate) -> Path:
        return self.folder / "ocsp" / f"{_key_hash(issuer)[:32]}-{cert.serial_number:x}.der"

    def _cached_ocsp(
        self,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        now: dt.datetime,
        problems: list[str],
    ) -> signing.RevocationAnswer | None:
        try:
            data = self._ocsp_path(cert, issuer).read_bytes()
        except OSError:
            return None
        try:
            return signing.judge_ocsp(data, cert, issuer, now=now)
        except signing.RevocationDataError as exc:
            problems.append(f"cached ocsp answer: {exc}")
            return None

    def _ask_ocsp(
        self,
        url: str,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        now: dt.datetime,
        problems: list[str],
    ) -> signing.RevocationAnswer | None:
        try:
            data = self._fetch("POST", url, signing.ocsp_request(cert, issuer), MAX_OCSP_BYTES)
        except _FetchError as exc:
            problems.append(f"ocsp {url}: {exc}")
            return None
        try:
            answer = signing.judge_ocsp(data, cert, issuer, now=now)
        except signing.RevocationDataError as exc:
            problems.append(f"ocsp {url}: {exc}")
            log.warning("OCSP answer from %s not believed: %s", url, exc)
            return None
        if answer.state is _State.NOT_CHECKED:
            problems.append(f"ocsp {url}: the responder does not know the certificate")
            return None
        try:
            path = self._ocsp_path(cert, issuer)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, data)
        except OSError as exc:
            log.warning("OCSP answer not cached on disk: %s", exc)
        return answer

    # -- the network ----------------------------------------------------------------

    def _fetch(self, method: str, url: str, body: bytes | None, limit: int) -> bytes:
        """One bounded request: short timeouts, no redirects, at most ``limit`` bytes; a
        URL that failed lately is not asked (raises _FetchError at once)."""
        now = self.clock()
        with self._lock:
            failed = self._down.get(url)
        if failed is not None and now < failed + self.retry_after:
            raise _FetchError(f"unreachable since {_when(failed)}")
        try:
            data = self._request(method, url, body, limit)
        except _FetchError as exc:
            with self._lock:
                self._down[url] = now
            log.info("revocation source %s unreachable: %s", url, exc)
            raise
        with self._lock:
            self._down.pop(url, None)
        return data

    def _request(self, method: str, url: str, body: bytes | None, limit: int) -> bytes:
        headers = {"Content-Type": "application/ocsp-request"} if body is not None else {}
        timeout = httpx.Timeout(self.timeout, connect=min(self.timeout, 2.0))
        try:
            with (
                httpx.Client(timeout=timeout, transport=self._transport) as client,
                client.stream(method, url, content=body, headers=headers) as response,
            ):
                if response.status_code != 200:
                    raise _FetchError(f"HTTP {response.status_code}")
                declared = response.headers.get("Content-Length")
                if declared is not None and declared.isdigit() and int(declared) > limit:
                    raise _FetchError(f"answer too large ({declared} bytes)")
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise _FetchError(f"answer too large (over {limit} bytes)")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise _FetchError(type(exc).__name__ + (f": {exc}" if str(exc) else "")) from None

    # -- keeping the cache fresh ------------------------------------------------------

    def refresh(
        self,
        issuers: Sequence[x509.Certificate] = (),
        *,
        ahead: dt.timedelta = dt.timedelta(hours=12),
    ) -> RefreshReport:
        """Fetch again every cached CRL whose nextUpdate is within ``ahead`` (or past), so
        that the receiving path finds fresh lists; what failed is reported, not raised.
        CRLs are known by the URLs certificates named (roots name none themselves); a list
        is kept only when one of ``issuers`` (the trust roots) or the issuer it was first
        judged against signed it."""
        report = RefreshReport()
        now = self.clock()
        with self._lock:
            known = dict(self._issuers)
        urls = set(known) | set(self._crls)
        for marker in (self.folder / "crl").glob("*.url"):
            try:
                urls.add(marker.read_text(encoding="utf-8").strip())
            except OSError:
                continue
        for url in sorted(urls):
            crl = self._cached_crl(url)
            if crl is not None and crl.next_update is not None and crl.next_update > now + ahead:
                continue
            fresh = self._fetch_crl(url, report.failed)
            if fresh is None:
                continue
            signers = [c for c in (known.get(url), *issuers) if c is not None]
            if not any(_signed_crl(fresh.data, c) for c in signers):
                report.failed.append(f"crl {url}: not signed by a known issuer")
                continue
            self._store_crl(fresh)
            report.refreshed.append(url)
        with self._lock:  # answers derived from the old lists are asked again
            self._answers.clear()
        return report


def validation_material(
    checker: RevocationChecker, roots: Sequence[x509.Certificate] = ()
) -> signing.ValidationMaterialSource:
    """The source a signer's PDF signatures get their LTV material from: for each
    certificate asked about, its issuer (among those asked about and ``roots``, the
    office's trust roots and TSA roots) and the checker's CRLs and OCSP answers about it.
    What cannot be had is left out and said at info level: the PDF is signed anyway."""

    def material(certs: Sequence[x509.Certificate]) -> signing.ValidationMaterial:
        candidates = [*certs, *roots]
        issuers: dict[bytes, x509.Certificate] = {}
        crls: list[bytes] = []
        ocsps: list[bytes] = []
        for cert in certs:
            issuer = _issuer_of(cert, candidates)
            if issuer is None:
                if cert.issuer != cert.subject:
                    log.info("no LTV material for %s: its issuer is not known",
                             cert.subject.rfc4514_string())
                continue
            issuers[issuer.fingerprint(hashes.SHA256())] = issuer
            found_crls, found_ocsps = checker.answers(cert, issuer)
            if not found_crls and not found_ocsps:
                log.info("no CRL or OCSP answer to embed for %s (none named or none reachable)",
                         cert.subject.rfc4514_string())
            crls += found_crls
            ocsps += found_ocsps
        return signing.ValidationMaterial(tuple(issuers.values()), tuple(crls), tuple(ocsps))

    return material


def _issuer_of(
    cert: x509.Certificate, candidates: Sequence[x509.Certificate]
) -> x509.Certificate | None:
    """The candidate that signed ``cert`` (None for a root, or when none did)."""
    if cert.issuer == cert.subject:
        return None
    for candidate in candidates:
        if candidate.subject != cert.issuer or candidate == cert:
            continue
        try:
            cert.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return candidate
    return None


def _signed_crl(data: bytes, issuer: x509.Certificate) -> bool:
    """Whether ``issuer`` signed the CRL (judged about the issuer itself: only the
    signature and name checks matter here)."""
    try:
        signing.judge_crl(data, issuer, issuer)
    except signing.RevocationDataError:
        return False
    return True


class _CacheOnly:
    """A :class:`RevocationChecker` that answers from its cache (no network)."""

    def __init__(self, checker: RevocationChecker) -> None:
        self._checker = checker

    def status(self, cert: x509.Certificate, issuer: x509.Certificate) -> signing.RevocationStatus:
        return self._checker._status(cert, issuer, fetch=False)


@functools.lru_cache(maxsize=64)
def _key_hash(issuer: x509.Certificate) -> str:
    """The issuer's SHA-256 fingerprint (the same few issuers are asked about thousands
    of times: hashed once each)."""
    return issuer.fingerprint(hashes.SHA256()).hex()


def _status(
    answer: signing.RevocationAnswer, source: str, *, stale: bool = False
) -> signing.RevocationStatus:
    return signing.RevocationStatus(
        answer.state,
        source,
        reason=answer.reason,
        revoked_at=answer.revoked_at,
        stale=stale,
    )


def _until(answer: signing.RevocationAnswer, now: dt.datetime) -> dt.datetime:
    """How long an answer is not asked again: its nextUpdate, at most an hour (a revoked
    certificate is revoked for good; a good one is asked about again hourly)."""
    if answer.state is _State.REVOKED:
        return now + dt.timedelta(days=365)
    cap = now + dt.timedelta(hours=1)
    return min(answer.next_update, cap) if answer.next_update is not None else now
