"""Opening the office's signer from where its key is: one way for every door.

The key is a PEM key with its certificate, a PKCS#12 file (how soft certificates are
issued), or a PKCS#11 token (the USB token a chairman signs with). The CLI and the daemon
differ only in how a secret is asked for (a prompt for a clerk, an environment variable
for a daemon), so that is the one thing a caller passes: ``secret(kind)``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ._errors import Rule, SignerError
from ._pkcs11 import Pkcs11Signer
from ._signers import (
    KeyPairSigner,
    load_pem_signer,
    load_pkcs12_signer,
    pem_key_is_encrypted,
    read_certificates,
)

__all__ = ["KEY_PASSWORD_ENV", "PIN_ENV", "KeySource", "SecretKind", "open_signer"]

#: The environment variables a secret comes from (never a command-line argument).
KEY_PASSWORD_ENV = "EDOC_KEY_PASSWORD"  # noqa: S105 (a variable's name)
PIN_ENV = "EDOC_PKCS11_PIN"


class SecretKind(enum.StrEnum):
    """Which secret a key source needs, with the environment variable it comes from."""

    KEY_PASSWORD = "key-password"  # noqa: S105 (a kind, not a password)
    PKCS12_PASSWORD = "pkcs12-password"  # noqa: S105
    PIN = "pin"

    @property
    def env(self) -> str:
        """The environment variable that holds this secret."""
        return PIN_ENV if self is SecretKind.PIN else KEY_PASSWORD_ENV

    @property
    def prompt(self) -> str:
        """How a person is asked for it (Vietnamese / English)."""
        return {
            SecretKind.KEY_PASSWORD: "Mật khẩu khóa / key password",
            SecretKind.PKCS12_PASSWORD: "Mật khẩu PKCS#12 / PKCS#12 password",
            SecretKind.PIN: "PIN của token / token PIN",
        }[self]


@dataclass(frozen=True)
class KeySource:
    """Where the key is: exactly one of ``key`` (+ ``cert``), ``p12``, ``pkcs11_module``."""

    key: Path | None = None
    cert: Path | None = None
    chain: Path | None = None
    p12: Path | None = None
    pkcs11_module: Path | None = None
    token_label: str | None = None
    key_label: str | None = None

    @property
    def given(self) -> bool:
        """Whether any key source is named at all."""
        return any(v is not None for v in (self.key, self.p12, self.pkcs11_module))

    def problem(self) -> tuple[str, str] | None:
        """Why this is not one usable key source (Vietnamese, English), or None."""
        sources = [self.key is not None, self.p12 is not None, self.pkcs11_module is not None]
        if sum(sources) != 1:
            return (
                "cần đúng một nguồn khóa: key + cert, p12, hoặc pkcs11_module",
                "exactly one key source is needed: key + cert, p12, or pkcs11_module",
            )
        if self.key is not None and self.cert is None:
            return "khóa PEM cần chứng thư (cert)", "a PEM key needs its certificate (cert)"
        if self.pkcs11_module is not None and (not self.token_label or not self.key_label):
            return (
                "token PKCS#11 cần token_label và key_label",
                "a PKCS#11 token needs token_label and key_label",
            )
        return None


#: Asked for a secret a source needs; None when there is none to give.
Secret = Callable[[SecretKind], str | None]


def open_signer(source: KeySource, *, secret: Secret) -> KeyPairSigner | Pkcs11Signer:
    """The signer ``source`` names; raises SignerError (``key-source`` for a source that
    is not exactly one usable key, ``key-password``, ``token``, ...)."""
    problem = source.problem()
    if problem is not None:
        raise SignerError(Rule.KEY_SOURCE, detail=f"{problem[0]} / {problem[1]}")
    if source.key is not None:
        assert source.cert is not None
        password: bytes | None = None
        if pem_key_is_encrypted(source.key):
            given = secret(SecretKind.KEY_PASSWORD)
            if given is None:
                raise SignerError(Rule.KEY_PASSWORD, detail=f"set {KEY_PASSWORD_ENV}")
            password = given.encode()
        return load_pem_signer(source.key, source.cert, password=password, chain_path=source.chain)
    if source.p12 is not None:
        try:
            return load_pkcs12_signer(source.p12, password=None)
        except SignerError as exc:
            if exc.rule is not Rule.KEY_PASSWORD:
                raise
        given = secret(SecretKind.PKCS12_PASSWORD)
        if given is None:
            raise SignerError(Rule.KEY_PASSWORD, detail=f"set {KEY_PASSWORD_ENV}")
        return load_pkcs12_signer(source.p12, password=given.encode())
    assert source.pkcs11_module is not None
    assert source.token_label is not None
    assert source.key_label is not None
    pin = secret(SecretKind.PIN)
    if not pin:
        raise SignerError(Rule.TOKEN, detail=f"no PIN: set {PIN_ENV}")
    certificate = read_certificates(source.cert)[0] if source.cert is not None else None
    return Pkcs11Signer.open(
        module=source.pkcs11_module,
        token_label=source.token_label,
        key_label=source.key_label,
        pin=pin,
        certificate=certificate,
        # the intermediates a validator needs to reach the root (a PDF carries them)
        chain=tuple(read_certificates(source.chain)) if source.chain is not None else (),
    )
