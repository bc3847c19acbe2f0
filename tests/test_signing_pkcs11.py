"""Signing with a real SoftHSM2 token through python-pkcs11: the key never leaves the token.

A throwaway token is made in a temporary folder (SOFTHSM2_CONF points at a generated
configuration). Without softhsm2 or python-pkcs11 the tests are skipped with the reason;
CI installs both.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from pkcs11_fixtures import KEY_LABEL, PIN, TOKEN
from signing_fixtures import document, pki, status

from edoc_exchange.signing import Pkcs11Signer, Rule, SignerError, sign, verify


@pytest.mark.parametrize("kind", ["edoc", "status"])
def test_round_trip_with_token(softhsm: dict[str, Any], kind: str) -> None:
    with Pkcs11Signer.open(module=softhsm["module"], token_label=TOKEN, key_label=KEY_LABEL,
                           pin=PIN, chain=(pki().intermediate.cert,)) as signer:
        assert signer.certificates[0] == softhsm["cert"]
        with pytest.raises(TypeError):
            signer.key.private_bytes(Encoding.PEM, None, None)  # type: ignore[arg-type]
        message = document() if kind == "edoc" else status()
        vm = verify(sign(message, signer), pki().policy())
    assert vm.message == message
    assert vm.certificate == softhsm["cert"]


def test_token_with_the_wrong_certificate(softhsm: dict[str, Any]) -> None:
    with pytest.raises(SignerError) as info:
        Pkcs11Signer.open(module=softhsm["module"], token_label=TOKEN, key_label=KEY_LABEL,
                          pin=PIN, certificate=pki().leaf.cert)
    assert info.value.rule is Rule.KEY_CERT_MISMATCH


def test_token_wrong_pin(softhsm: dict[str, Any]) -> None:
    with pytest.raises(SignerError) as info:
        Pkcs11Signer.open(module=softhsm["module"], token_label=TOKEN, key_label=KEY_LABEL,
                          pin="0000")
    assert info.value.rule is Rule.TOKEN
