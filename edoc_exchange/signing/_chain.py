"""Certificate path building and checking against the policy's roots, at the policy's time.

Done here rather than by signxml (which asks the system store) or by a TLS-oriented
verifier (which wants server or client EKUs), so that each failure has its own rule: a
clerk must learn "expired at signing time" rather than "certificate verification failed".
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature

from ._errors import Rule, UntrustedSigner
from ._policy import KeyUsage

__all__ = ["check_chain"]

_MAX_DEPTH = 8


def _describe(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string()
    except ValueError:
        return f"serial {cert.serial_number:x}"


@functools.lru_cache(maxsize=512)
def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer``'s name and key made ``cert`` (checks the signature)."""
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, _CryptoInvalidSignature):
        return False
    return True


def _build(
    cert: x509.Certificate,
    pool: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    path: list[x509.Certificate],
) -> list[x509.Certificate] | None:
    """Depth-first search from ``cert`` up to a root; the first complete path wins."""
    if cert in roots:
        return [*path, cert]
    if len(path) >= _MAX_DEPTH:
        return None
    for issuer in [*roots, *pool]:
        if issuer in path or issuer == cert:
            continue
        if _issued_by(cert, issuer):
            found = _build(issuer, pool, roots, [*path, cert])
            if found is not None:
                return found
    return None


def check_chain(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    *,
    roots: Sequence[x509.Certificate],
    at: dt.datetime,
    key_usage: frozenset[KeyUsage],
) -> list[x509.Certificate]:
    """Return the path leaf → root, or raise :class:`UntrustedSigner` naming the rule.

    Checks, in order: a path exists (signature and names on every link) to a trusted root;
    every certificate on it is valid at ``at``; every issuer is a CA allowed to sign
    certificates, within its path length; the leaf allows one of ``key_usage``.
    """
    key = (id(leaf), tuple(map(id, intermediates)), tuple(map(id, roots)), key_usage)
    hit = _CHECKED.get(key)
    if hit is not None and all(start <= at <= end for start, end in hit[2]):
        return list(hit[1])  # the same path, valid at ``at`` too (else checked in full)
    path = _check_chain(leaf, intermediates, roots=roots, at=at, key_usage=key_usage)
    if len(_CHECKED) >= _CHECKED_MAX:
        _CHECKED.clear()
    windows = tuple((c.not_valid_before_utc, c.not_valid_after_utc) for c in path)
    _CHECKED[key] = ((leaf, *intermediates, *roots), tuple(path), windows)
    return path


#: Paths found valid, by the identities of the certificates given and the usages asked
#: for, with each certificate's validity window: what :func:`check_chain` decides apart
#: from the time (the path, the issuers' constraints, the leaf's usage) depends on these
#: alone, and the same few signers are checked thousands of times. An entry holds its
#: certificates, so that their ids are not reused while it lives.
_CHECKED: dict[
    tuple[Any, ...],
    tuple[
        tuple[x509.Certificate, ...],
        tuple[x509.Certificate, ...],
        tuple[tuple[dt.datetime, dt.datetime], ...],
    ],
] = {}
_CHECKED_MAX = 256


def _check_chain(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    *,
    roots: Sequence[x509.Certificate],
    at: dt.datetime,
    key_usage: frozenset[KeyUsage],
) -> list[x509.Certificate]:
    # 1. Path: KeyInfo certificates are only candidates; trust comes from the roots.
    path = _build(leaf, intermediates, roots, [])
    if path is None:
        if _issued_by(leaf, leaf):
            raise UntrustedSigner(Rule.SELF_SIGNED, detail=_describe(leaf))
        raise UntrustedSigner(Rule.UNTRUSTED_ROOT, detail=f"issuer {_issuer(leaf)}")
    # 2. Validity of every certificate at the policy time.
    for cert in path:
        if at < cert.not_valid_before_utc:
            raise UntrustedSigner(
                Rule.CERT_NOT_YET_VALID,
                detail=f"{_describe(cert)} valid from {cert.not_valid_before_utc:%Y-%m-%d %H:%M} "
                f"UTC, checked at {at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC",
            )
        if at > cert.not_valid_after_utc:
            raise UntrustedSigner(
                Rule.CERT_EXPIRED,
                detail=f"{_describe(cert)} valid until {cert.not_valid_after_utc:%Y-%m-%d %H:%M} "
                f"UTC, checked at {at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC",
            )
    # 3. Issuers must be CAs, allowed to sign certificates, within their path length.
    for depth, issuer in enumerate(path[1:]):
        _check_issuer(issuer, below=depth)
    # 4. The leaf must allow document signing.
    _check_leaf_usage(leaf, key_usage)
    return path


def _issuer(cert: x509.Certificate) -> str:
    try:
        return cert.issuer.rfc4514_string()
    except ValueError:
        return "?"


def _check_issuer(issuer: x509.Certificate, *, below: int) -> None:
    try:
        bc = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise UntrustedSigner(Rule.ISSUER_NOT_CA, detail=_describe(issuer)) from None
    if not bc.ca:
        raise UntrustedSigner(Rule.ISSUER_NOT_CA, detail=_describe(issuer))
    if bc.path_length is not None and below > bc.path_length:
        raise UntrustedSigner(
            Rule.ISSUER_NOT_CA, detail=f"{_describe(issuer)}: path length {bc.path_length}"
        )
    try:
        ku = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not ku.key_cert_sign:
        raise UntrustedSigner(Rule.ISSUER_NOT_CA, detail=f"{_describe(issuer)}: no keyCertSign")


def _check_leaf_usage(leaf: x509.Certificate, wanted: frozenset[KeyUsage]) -> None:
    try:
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise UntrustedSigner(Rule.KEY_USAGE, detail="no KeyUsage extension") from None
    if not any(getattr(ku, usage.value) for usage in wanted):
        raise UntrustedSigner(Rule.KEY_USAGE, detail=_describe(leaf))
