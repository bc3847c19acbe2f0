"""Signing and verification of edXML messages (XML-DSig, QCVN 102:2016, Thông tư 41/2017).

``sign(message, signer)`` writes one enveloped XML-DSig signature over the whole message;
``verify(data, policy)`` returns a :class:`VerifiedMessage` built from the signed bytes
only, or raises a :class:`SignatureError` naming the rule that failed. There is no default
policy: trusted roots and algorithms are always stated by the caller.

This package imports ``edxml`` and the root error only.
"""

from ._chain import check_chain
from ._errors import (
    InvalidSignature,
    LegacySignature,
    Rule,
    SignatureError,
    SignerError,
    TrustStoreError,
    Unsigned,
    UntrustedSigner,
)
from ._evidence import signed_message
from ._open import KEY_PASSWORD_ENV, PIN_ENV, KeySource, SecretKind, open_signer
from ._pkcs11 import Pkcs11Signer
from ._policy import (
    DEFAULT_DIGEST_ALGORITHMS,
    DEFAULT_SIGNATURE_ALGORITHMS,
    KeyUsage,
    TrustPolicy,
    load_organ_map,
    load_roots,
    spki_sha256,
)
from ._revocation import (
    RevocationAnswer,
    RevocationDataError,
    RevocationMode,
    RevocationSource,
    RevocationState,
    RevocationStatus,
    crl_times,
    crl_urls,
    judge_crl,
    judge_ocsp,
    ocsp_request,
    ocsp_urls,
)
from ._sign import sign
from ._signers import (
    KeyPairSigner,
    Signer,
    SigningKey,
    load_pem_signer,
    load_pkcs12_signer,
    pem_key_is_encrypted,
    read_certificates,
    sign_data,
)
from ._stream import LargeVerifiedMessage, verify_file
from ._timestamp import (
    TimestampedSigner,
    Timestamper,
    TimestampError,
    TimestampStatus,
    TimestampVerdict,
    ValidationMaterial,
    ValidationMaterialSource,
    check_token,
    open_timestamper,
    timestamper_of,
    validation_material_of,
)
from ._timestamp import skipped as timestamp_skipped
from ._verify import VerifiedMessage, check_revocation, signing_time, stored_timestamp, verify

__all__ = [
    "DEFAULT_DIGEST_ALGORITHMS",
    "DEFAULT_SIGNATURE_ALGORITHMS",
    "KEY_PASSWORD_ENV",
    "PIN_ENV",
    "InvalidSignature",
    "KeyPairSigner",
    "KeySource",
    "KeyUsage",
    "LargeVerifiedMessage",
    "LegacySignature",
    "Pkcs11Signer",
    "RevocationAnswer",
    "RevocationDataError",
    "RevocationMode",
    "RevocationSource",
    "RevocationState",
    "RevocationStatus",
    "Rule",
    "SecretKind",
    "SignatureError",
    "Signer",
    "SignerError",
    "SigningKey",
    "TimestampError",
    "TimestampStatus",
    "TimestampVerdict",
    "TimestampedSigner",
    "Timestamper",
    "TrustPolicy",
    "TrustStoreError",
    "Unsigned",
    "UntrustedSigner",
    "ValidationMaterial",
    "ValidationMaterialSource",
    "VerifiedMessage",
    "check_chain",
    "check_revocation",
    "check_token",
    "crl_times",
    "crl_urls",
    "judge_crl",
    "judge_ocsp",
    "load_organ_map",
    "load_pem_signer",
    "load_pkcs12_signer",
    "load_roots",
    "ocsp_request",
    "ocsp_urls",
    "open_signer",
    "open_timestamper",
    "pem_key_is_encrypted",
    "read_certificates",
    "sign",
    "sign_data",
    "signed_message",
    "signing_time",
    "spki_sha256",
    "stored_timestamp",
    "timestamp_skipped",
    "timestamper_of",
    "validation_material_of",
    "verify",
    "verify_file",
]
