"""A local timestamping authority (RFC 3161 over HTTP) for the demo and the tests.

``LocalTsa(tsa).start()`` serves on 127.0.0.1 in a thread and returns its address once the
socket listens; POST ``application/timestamp-query`` → ``application/timestamp-reply``.
Tokens are built by pyhanko's DummyTimeStamper with a test TSA certificate
(:func:`~edoc_exchange.sandbox.pki.new_test_tsa`: timeStamping, critical). A request
that is not a TimeStampReq, or asks for a hash it does not do, gets a ``rejection``
status with its failInfo, never a server error. ``mode`` plays a faulty TSA for tests:
``"garbage"`` answers bytes that are not a TimeStampResp, ``"reject"`` refuses all.
Testing only: nothing it stamps proves anything outside a test.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from .pki import TestTsa

__all__ = ["LocalTsa", "TsaMode"]

log = logging.getLogger("edoc.sandbox.tsa")

TsaMode = Literal["ok", "garbage", "reject"]

_QUERY = "application/timestamp-query"
_REPLY = "application/timestamp-reply"
_MAX_QUERY = 64 * 1024
_HASHES = frozenset({"sha256", "sha384", "sha512"})


class LocalTsa:
    """A TSA on 127.0.0.1 (port 0: the system picks one), served from a thread."""

    def __init__(
        self, tsa: TestTsa, *, host: str = "127.0.0.1", port: int = 0, mode: TsaMode = "ok"
    ) -> None:
        from asn1crypto import keys, x509  # type: ignore[import-untyped]
        from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

        self.tsa = tsa
        self.mode: TsaMode = mode
        self.requests = 0
        key = keys.PrivateKeyInfo.load(
            tsa.key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
        )
        cert = x509.Certificate.load(tsa.cert.public_bytes(Encoding.DER))
        ca = x509.Certificate.load(tsa.ca_cert.public_bytes(Encoding.DER))
        from pyhanko_certvalidator.registry import SimpleCertificateStore

        embed = SimpleCertificateStore.from_certs([ca])  # type: ignore[no-untyped-call]
        self._stamper = _stamper(DummyTimeStamper)(
            tsa_cert=cert, tsa_key=key, certs_to_embed=embed
        )
        self._stamper.rsa_key = tsa.key
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="edoc-local-tsa", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/tsa"

    def start(self) -> str:
        """Serve in a thread; the socket already listens (bound in ``__init__``), so the
        address answers as soon as this returns."""
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def __enter__(self) -> LocalTsa:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- answering -------------------------------------------------------------------

    def answer(self, body: bytes, content_type: str) -> bytes:
        """The DER TimeStampResp for one query (a rejection for a bad one)."""
        from asn1crypto import tsp

        if self.mode == "reject":
            return _rejection("rejected by the test TSA", "system_failure")
        if content_type != _QUERY:
            return _rejection(f"content type must be {_QUERY}", "bad_request")
        try:
            req = tsp.TimeStampReq.load(body)
            req.native  # noqa: B018 (asn1crypto parses lazily: parse all of it now)
            algorithm = req["message_imprint"]["hash_algorithm"]["algorithm"].native
        except (ValueError, TypeError, KeyError):
            return _rejection("not a TimeStampReq", "bad_data_format")
        if algorithm not in _HASHES:
            return _rejection(f"hash algorithm {algorithm} not supported", "bad_alg")
        with self._lock:  # one token at a time (serial numbers, the signer's key)
            res = self._stamper.request_tsa_response(req)
        return bytes(res.dump())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            # Headers and body leave in two writes: without TCP_NODELAY the body waits
            # for the client's delayed ACK (tens of milliseconds a token).
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("tsa: " + format, *args)

            def do_GET(self) -> None:
                self._send(405, b"POST an application/timestamp-query\n", "text/plain")

            def do_POST(self) -> None:
                tsa.requests += 1
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = -1
                if length < 0 or length > _MAX_QUERY:
                    self._reply(_rejection("query too large or unsized", "bad_request"))
                    return
                body = self.rfile.read(length)
                if tsa.mode == "garbage":
                    self._send(200, b"\x00not a timestamp reply\xff", _REPLY)
                    return
                kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                try:
                    self._reply(tsa.answer(body, kind))
                except Exception as exc:  # a bug here must still answer RFC 3161, not 500
                    log.exception("local TSA failed on a query")
                    self._reply(_rejection(f"TSA failure: {type(exc).__name__}", "system_failure"))

            def _reply(self, der: bytes) -> None:
                self._send(200, der, _REPLY)

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


def _stamper(base: type[Any]) -> type[Any]:
    """pyhanko's DummyTimeStamper signing with a key loaded once: its own parses the key
    again for every token (a tenth of a second of RSA checks each)."""

    class Stamper(base):  # type: ignore[misc]
        rsa_key: Any = None

        def _sign_tst_info(self, tst_info_data: bytes, md_algorithm: str, when: Any) -> Any:
            from asn1crypto import cms, core
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
            from pyhanko.sign.general import as_signing_certificate, simple_cms_attribute

            attribute: Any = simple_cms_attribute
            algorithm = getattr(hashes, md_algorithm.upper())()
            digest = hashes.Hash(algorithm)
            digest.update(tst_info_data)
            signed_attrs = cms.CMSAttributes(
                [
                    attribute("content_type", "tst_info"),
                    attribute("signing_time", cms.Time({"utc_time": core.UTCTime(when)})),
                    attribute("signing_certificate", as_signing_certificate(self.tsa_cert)),
                    attribute("message_digest", digest.finalize()),
                ]
            )
            signature = self.rsa_key.sign(signed_attrs.dump(), PKCS1v15(), algorithm)
            return signature, signed_attrs

    return Stamper


def _rejection(text: str, fail: str) -> bytes:
    """A TimeStampResp with status ``rejection``, its statusString and failInfo."""
    from asn1crypto import tsp

    info = tsp.PKIStatusInfo(
        {
            "status": tsp.PKIStatus("rejection"),
            "status_string": [text],
            "fail_info": tsp.PKIFailureInfo({fail}),
        }
    )
    # TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken OPTIONAL }:
    # asn1crypto's TimeStampResp will not encode without the token, so the SEQUENCE is
    # written here around the status alone.
    body = bytes(info.dump())
    return b"\x30" + _der_length(len(body)) + body


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw
