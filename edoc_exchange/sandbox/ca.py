"""A local certificate authority that can revoke, with its CRL and OCSP responder on HTTP.

For tests and trying the product only (like :mod:`.pki`): the certificates it issues name
its CRL distribution point and its OCSP responder (AIA), both served by a stdlib HTTP
server on 127.0.0.1 in a thread, so that revocation is checked over real HTTP. Stopping
the server is how a test cuts the mountain link.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from ..signing import SigningKey
from .pki import _TEST_MARK, TestIdentity, _new_key, certificate_builder, organisation_subject

__all__ = ["LocalCA"]

_MAX_REQUEST = 64 * 1024


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class _Revoked:
    serial: int
    at: dt.datetime
    reason: x509.ReasonFlags


class LocalCA:
    """A CA (5 years) whose issued certificates point at its own CRL and OCSP endpoints.

    ``start()`` binds 127.0.0.1 (port 0: a free one) before anything is issued, since the
    URLs go into the certificates; ``stop()`` takes the endpoints down (connections are
    refused), ``start()`` again brings them back on the same port. ``ocsp_key`` signs OCSP
    answers instead of the CA's key (a test of a forged answer); ``crl_validity`` is the
    time between a CRL's thisUpdate and nextUpdate. ``requests`` counts the HTTP requests
    answered (a test that the cache spared the network).
    """

    __test__ = False

    def __init__(
        self,
        *,
        name: str = "edoc-exchange local CA",
        clock: Callable[[], dt.datetime] = _utcnow,
        crl_validity: dt.timedelta = dt.timedelta(days=7),
        port: int = 0,
    ) -> None:
        self.clock = clock
        self.crl_validity = crl_validity
        self.ocsp_key: SigningKey | None = None
        self.key = _new_key("rsa")
        now = clock()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, f"{name} ({_TEST_MARK})"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, _TEST_MARK),
            ]
        )
        self.cert = certificate_builder(
            subject, subject, self.key.public_key(), now, 5 * 365, ca=True
        ).sign(self.key, hashes.SHA256())
        self.revoked: dict[int, _Revoked] = {}
        self.issued: dict[int, x509.Certificate] = {}
        self.requests = 0
        self._lock = threading.Lock()
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- endpoints ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if not self._port:
            raise RuntimeError("start() the CA's server first: its URL goes into certificates")
        return f"http://127.0.0.1:{self._port}"

    @property
    def crl_url(self) -> str:
        return f"{self.base_url}/crl.der"

    @property
    def ocsp_url(self) -> str:
        return f"{self.base_url}/ocsp"

    def start(self, *, timeout: float = 30.0) -> LocalCA:
        """Serve the CRL and the OCSP responder; return once a request is answered."""
        if self._server is not None:
            return self
        server = ThreadingHTTPServer(("127.0.0.1", self._port), _handler(self))
        server.daemon_threads = True
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="local-ca", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while True:  # readiness: the server answers
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the local CA did not answer within {timeout:.0f} s")
            time.sleep(0.05)

    def stop(self) -> None:
        """Take the endpoints down (the port is kept for a later start())."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> LocalCA:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- issuing and revoking -----------------------------------------------------------

    def issue(
        self,
        *,
        organ_id: str,
        name: str,
        days: int = 365,
        key_type: str = "rsa",
        crl: bool = True,
        ocsp_url: bool = True,
    ) -> TestIdentity:
        """An organisation's key and certificate naming this CA's CRL and OCSP URLs."""
        now = self.clock()
        key = _new_key(key_type)
        subject = organisation_subject(name, organ_id)
        builder = certificate_builder(subject, self.cert.subject, key.public_key(), now, days)
        if crl:
            point = x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(self.crl_url)],
                relative_name=None,
                reasons=None,
                crl_issuer=None,
            )
            builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
        if ocsp_url:
            access = x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(self.ocsp_url)
            )
            builder = builder.add_extension(
                x509.AuthorityInformationAccess([access]), critical=False
            )
        cert = builder.sign(self.key, hashes.SHA256())
        self.issued[cert.serial_number] = cert
        return TestIdentity(self.key, self.cert, key, cert)

    def revoke(
        self,
        cert: x509.Certificate,
        *,
        reason: x509.ReasonFlags = x509.ReasonFlags.key_compromise,
        at: dt.datetime | None = None,
    ) -> None:
        """Put ``cert`` on the CRL and answer "revoked" for it over OCSP from now on."""
        with self._lock:
            self.revoked[cert.serial_number] = _Revoked(
                cert.serial_number, at or self.clock(), reason
            )

    def crl(self, *, this_update: dt.datetime | None = None) -> bytes:
        """The current CRL (DER), valid ``crl_validity`` from ``this_update`` (now)."""
        start = this_update or self.clock()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(start)
            .next_update(start + self.crl_validity)
        )
        with self._lock:
            entries = list(self.revoked.values())
        for entry in entries:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(entry.serial)
                .revocation_date(entry.at)
                .add_extension(x509.CRLReason(entry.reason), critical=False)
                .build()
            )
        return builder.sign(self.key, hashes.SHA256()).public_bytes(Encoding.DER)

    def ocsp_answer(self, request_der: bytes) -> bytes:
        """The responder: a signed answer to a DER OCSP request (the CA signs it itself,
        or ``ocsp_key`` does when a test sets one)."""
        try:
            request = ocsp.load_der_ocsp_request(request_der)
        except ValueError:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.MALFORMED_REQUEST
            ).public_bytes(Encoding.DER)
        now = self.clock()
        with self._lock:
            entry = self.revoked.get(request.serial_number)
        # The responder answers for a certificate it issued; it rebuilds the CertID from a
        # certificate with the serial asked about (only CertID fields go into the answer).
        subject = self.issued.get(request.serial_number) or _stub(self, request.serial_number)
        builder = ocsp.OCSPResponseBuilder().add_response(
            cert=subject,
            issuer=self.cert,
            algorithm=request.hash_algorithm,
            cert_status=ocsp.OCSPCertStatus.REVOKED if entry else ocsp.OCSPCertStatus.GOOD,
            this_update=now,
            next_update=now + dt.timedelta(hours=1),
            revocation_time=entry.at if entry else None,
            revocation_reason=entry.reason if entry else None,
        )
        if self.ocsp_key is None:
            builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, self.cert)
            return builder.sign(self.key, hashes.SHA256()).public_bytes(Encoding.DER)
        # A forger: its own key, under a certificate that takes the CA's name (self-made).
        forged = (
            x509.CertificateBuilder()
            .subject_name(self.cert.subject)
            .issuer_name(self.cert.subject)
            .public_key(self.ocsp_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .sign(self.ocsp_key, hashes.SHA256())
        )
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, forged)
        builder = builder.certificates([forged])
        return builder.sign(self.ocsp_key, hashes.SHA256()).public_bytes(Encoding.DER)


def _stub(ca: LocalCA, serial: int) -> x509.Certificate:
    """A certificate with ``serial`` under the CA's name (the CertID needs only those)."""
    now = ca.clock()
    return (
        x509.CertificateBuilder()
        .subject_name(ca.cert.subject)
        .issuer_name(ca.cert.subject)
        .public_key(ca.key.public_key())
        .serial_number(serial)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(ca.key, hashes.SHA256())
    )



def _handler(ca: LocalCA) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet in tests

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._send(200, b"ok", "text/plain")
                return
            ca.requests += 1
            if self.path == "/crl.der":
                self._send(200, ca.crl(), "application/pkix-crl")
            else:
                self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:
            ca.requests += 1
            length = int(self.headers.get("Content-Length") or 0)
            if self.path != "/ocsp" or not 0 < length <= _MAX_REQUEST:
                self._send(400, b"bad request", "text/plain")
                return
            answer = ca.ocsp_answer(self.rfile.read(length))
            self._send(200, answer, "application/ocsp-response")

    return Handler
