"""The TSA client: RFC 3161 over HTTP with httpx, as a pyhanko TimeStamper.

One client serves both signatures: pyhanko asks it through ``async_timestamp`` when it
signs a PDF (PAdES B-T), :func:`signing.sign` through :meth:`TsaClient.token` for the XML
signature. Every token is checked before it is used: the nonce sent back, the imprint,
the TSA's signature, and its certificate (timeStamping) under the configured TSA roots;
a token that fails is a :class:`TimestampError`, never a signature with a doubtful time.

Needs pyhanko (the ``pdf`` extra); :func:`open_timestamper` imports this module.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

import httpx
from asn1crypto import cms, tsp  # type: ignore[import-untyped]
from cryptography import x509
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError, handle_tsp_response

from ._errors import SignatureError
from ._timestamp import TimestampError, TimestampStatus, check_token

__all__ = ["TimeStampResp", "TsaClient"]

_REPLY = "application/timestamp-reply"


class TimeStampResp(tsp.TimeStampResp):  # type: ignore[misc]
    """RFC 3161's TimeStampResp, whose timeStampToken is OPTIONAL (absent in a refusal):
    asn1crypto's own declares it required and cannot read a refusal."""

    _fields = [  # noqa: RUF012 (asn1crypto's declaration style)
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


class TsaClient(TimeStamper):
    """A TSA at ``url``: tokens over SHA-256 digests, checked against ``roots``.

    ``auth`` is (user, password) for HTTP basic authentication, ``token`` a bearer token;
    ``timeout`` bounds each request (seconds). ``required`` tells the signers what to do
    when the TSA fails: refuse (True) or sign without a timestamp and say so (False).
    """

    def __init__(
        self,
        url: str,
        *,
        roots: Sequence[x509.Certificate],
        required: bool = True,
        timeout: float = 10.0,
        auth: tuple[str, str] | None = None,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(include_nonce=True)  # type: ignore[no-untyped-call]
        self.url = url
        self.roots = tuple(roots)
        self.required = required
        self._headers = {"Content-Type": "application/timestamp-query", "Accept": _REPLY}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(
            timeout=timeout, auth=auth, transport=transport, follow_redirects=False
        )

    def __repr__(self) -> str:
        return f"TsaClient(url={self.url!r}, required={self.required})"

    def close(self) -> None:
        self._client.close()

    # --- the exchange ------------------------------------------------------------------

    def _fail(self, vi: str, en: str) -> TimestampError:
        return TimestampError(
            f"Không lấy được dấu thời gian từ {self.url}: {vi}",
            f"cannot get a timestamp from {self.url}: {en}",
        )

    def _post(self, req: Any) -> Any:
        """Send one TimeStampReq; the TimeStampResp, or a TimestampError saying why."""
        try:
            res = self._client.post(self.url, content=req.dump(), headers=self._headers)
        except httpx.TimeoutException as exc:
            raise self._fail("hết thời gian chờ", f"timed out ({exc})") from None
        except httpx.HTTPError as exc:
            raise self._fail(
                f"không kết nối được ({exc})", f"cannot connect ({exc})"
            ) from None
        if res.status_code != 200:
            raise self._fail(f"máy chủ trả mã HTTP {res.status_code}", f"HTTP {res.status_code}")
        kind = res.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != _REPLY:
            raise self._fail(
                f"câu trả lời không phải {_REPLY} ({kind or 'không rõ'})",
                f"the answer is not {_REPLY} ({kind or 'none'})",
            )
        try:
            parsed = TimeStampResp.load(res.content)
            parsed.native  # noqa: B018 (parse it all now: asn1crypto is lazy)
        except (ValueError, TypeError) as exc:
            raise self._fail("câu trả lời hỏng", f"unreadable answer ({exc})") from None
        return parsed

    def _granted(self, res: Any, nonce: int | None) -> Any:
        try:
            return handle_tsp_response(res, nonce)  # type: ignore[arg-type]
        except TimestampRequestError as exc:  # refused, or a nonce that is not ours
            raise self._fail(f"bị từ chối hoặc sai nonce ({exc})", str(exc)) from None
        except (ValueError, TypeError, KeyError) as exc:
            raise self._fail("câu trả lời hỏng", f"unreadable answer ({exc})") from None

    def _checked(self, tst: Any, digest: bytes) -> Any:
        try:
            verdict = check_token(tst.dump(), digest=digest, roots=self.roots)
        except SignatureError as exc:
            raise self._fail(exc.vi, exc.en) from None
        if verdict.status is not TimestampStatus.VALID:
            raise self._fail(
                f"máy chủ dấu thời gian không được tin cậy ({verdict.reason})",
                f"the TSA is not trusted ({verdict.reason})",
            )
        return tst

    def token(self, digest: bytes, algorithm: str = "sha256") -> bytes:
        """A checked token (DER) over ``digest``, or a :class:`TimestampError`."""
        nonce, req = self.request_cms(digest, algorithm)  # type: ignore[no-untyped-call]
        tst = self._checked(self._granted(self._post(req), nonce), digest)
        return bytes(tst.dump())

    def token_over(self, data: bytes) -> bytes:
        """A checked token over the SHA-256 of ``data``."""
        return self.token(hashlib.sha256(data).digest())

    # --- pyhanko's side --------------------------------------------------------------

    async def async_request_tsa_response(self, req: Any) -> Any:
        return await asyncio.to_thread(self._post, req)

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        nonce, req = self.request_cms(message_digest, md_algorithm)  # type: ignore[no-untyped-call]
        res = await self.async_request_tsa_response(req)
        return self._checked(self._granted(res, nonce), message_digest)
