"""The SoftHSM2 token the PKCS#11 tests sign with: one per session, whoever asks first.

A throwaway token is made in a temporary folder (SOFTHSM2_CONF points at a generated
configuration); python-pkcs11 reads that configuration once per process, so the token is
made once, here, and shared (a second token of the same label would hold a second key).
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from signing_fixtures import pki

__all__ = ["KEY_LABEL", "PIN", "TOKEN", "softhsm"]

MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
TOKEN = "edoc-test"
PIN = "1234"
KEY_LABEL = "signer"


def _module() -> str | None:
    return next((m for m in MODULE_CANDIDATES if Path(m).exists()), None)


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A fresh token holding an RSA key generated on it and a certificate for that key."""
    module = _module()
    util = shutil.which("softhsm2-util")
    if module is None or util is None:
        pytest.skip("softhsm2 is not installed (apt-get install softhsm2)")
    try:
        pkcs11: Any = importlib.import_module("pkcs11")
    except ImportError:
        pytest.skip("python-pkcs11 is not installed (pip install 'edoc-exchange[pkcs11]')")
    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\n"
                    "log.level = ERROR\n")
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run([util, "--init-token", "--free", "--label", TOKEN, "--so-pin", "12345678",
                    "--pin", PIN], check=True, capture_output=True)
    lib = pkcs11.lib(module)
    token = lib.get_token(token_label=TOKEN)
    with token.open(user_pin=PIN, rw=True) as session:
        pub, _priv = session.generate_keypair(pkcs11.KeyType.RSA, 2048, label=KEY_LABEL,
                                              store=True)
        public = rsa.RSAPublicNumbers(
            e=int.from_bytes(pub[pkcs11.Attribute.PUBLIC_EXPONENT], "big"),
            n=int.from_bytes(pub[pkcs11.Attribute.MODULUS], "big"),
        ).public_key()
        # The CA certifies the token's public key; only the certificate is stored beside it.
        cert = _certify(public)
        session.create_object({
            pkcs11.Attribute.CLASS: pkcs11.ObjectClass.CERTIFICATE,
            pkcs11.Attribute.CERTIFICATE_TYPE: pkcs11.CertificateType.X_509,
            pkcs11.Attribute.TOKEN: True,
            pkcs11.Attribute.LABEL: KEY_LABEL,
            pkcs11.Attribute.SUBJECT: cert.subject.public_bytes(),
            pkcs11.Attribute.VALUE: cert.public_bytes(Encoding.DER),
        })
    yield {"module": module, "cert": cert}
    if old is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = old


def _certify(public: rsa.RSAPublicKey) -> x509.Certificate:
    import datetime as dt

    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID
    from signing_fixtures import NOW

    p = pki()
    flags = dict.fromkeys(("key_encipherment", "data_encipherment", "key_agreement",
                           "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"),
                          False)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Token signer")]))
        .issuer_name(p.intermediate.cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, **flags),
                       critical=True)
        .sign(p.intermediate.key, hashes.SHA256())
    )
