"""Signature errors: every outcome of signing or verifying that is not "valid".

Exception tree (all derive from :class:`~edoc_exchange.errors.EdocError`)::

    SignatureError            carries the Rule that failed, in Vietnamese and English
    ├── InvalidSignature      the bytes or the signature are wrong (tampering, bad structure,
    │                         an algorithm the policy refuses)
    ├── UntrustedSigner       the signature is intact but its certificate is not trusted for
    │                         this message (no path to a root, expired, key usage, OrganId)
    ├── Unsigned              no signature at all
    ├── LegacySignature       the SDK's edXML-namespaced placeholder: legacy, unverifiable
    ├── SignerError           a key, certificate, PKCS#12 file or token that cannot sign
    └── TrustStoreError       a trust bundle or folder that cannot be used

A caller that only needs "verified or not" catches :class:`SignatureError`; one that shows a
clerk what to do reads ``rule`` (stable code) and ``vi``/``en`` (texts).
"""

from __future__ import annotations

import enum

from ..errors import EdocError

__all__ = [
    "InvalidSignature",
    "LegacySignature",
    "Rule",
    "SignatureError",
    "SignerError",
    "TrustStoreError",
    "Unsigned",
    "UntrustedSigner",
]


class Rule(enum.StrEnum):
    """The rule a message or key failed; the value is a stable code for logs and JSON."""

    # input
    MALFORMED = "malformed-xml"
    NOT_EDXML = "not-edxml"
    COMMENT = "comment-or-pi"
    # presence and place
    UNSIGNED = "unsigned"
    LEGACY = "legacy-signature"
    SIGNATURE_COUNT = "one-signature"
    SIGNATURE_PLACE = "signature-place"
    SIGNATURE_STRUCTURE = "signature-structure"
    # what is signed, and how
    REFERENCE_COUNT = "one-reference"
    REFERENCE_URI = "reference-uri"
    TRANSFORMS = "transforms"
    UNSIGNED_CONTENT = "unsigned-content"
    C14N_METHOD = "c14n-method"
    SIGNATURE_METHOD = "signature-method"
    HMAC = "hmac-forbidden"
    SHA1 = "legacy-sha1"
    DIGEST_METHOD = "digest-method"
    KEY_INFO = "key-info"
    # cryptography
    DIGEST = "digest-mismatch"
    SIGNATURE_VALUE = "signature-value"
    # trust
    UNTRUSTED_ROOT = "untrusted-root"
    SELF_SIGNED = "self-signed"
    CERT_EXPIRED = "cert-expired"
    CERT_NOT_YET_VALID = "cert-not-yet-valid"
    ISSUER_NOT_CA = "issuer-not-ca"
    KEY_USAGE = "key-usage"
    ORGAN_NOT_ALLOWED = "organ-not-allowed"
    SIGNING_TIME_FUTURE = "signing-time-future"
    CERT_REVOKED = "cert-revoked"
    REVOCATION_UNKNOWN = "revocation-unknown"
    # signing side and configuration
    KEY_SOURCE = "key-source"
    KEY_UNREADABLE = "key-unreadable"
    KEY_PASSWORD = "key-password"  # noqa: S105 (a rule code, not a password)
    KEY_CERT_MISMATCH = "key-cert-mismatch"
    KEY_TYPE = "key-type"
    PKCS11_MISSING = "pkcs11-missing"
    TOKEN = "token"  # noqa: S105
    TRUST_STORE = "trust-store"
    # RFC 3161 timestamps (the signature's unsigned property)
    TIMESTAMP_IMPRINT = "timestamp-imprint"
    TIMESTAMP_INVALID = "timestamp-invalid"

    @property
    def vi(self) -> str:
        """What failed, in Vietnamese."""
        return _TEXTS[self][0]

    @property
    def en(self) -> str:
        """What failed, in English."""
        return _TEXTS[self][1]


_TEXTS: dict[Rule, tuple[str, str]] = {
    Rule.MALFORMED: (
        "Gói tin không phải XML hợp lệ, có DOCTYPE hoặc vượt giới hạn an toàn",
        "not well-formed XML, has a DOCTYPE, or exceeds the safety limits",
    ),
    Rule.NOT_EDXML: (
        "Không phải gói tin edXML (thiếu edXML/edXMLEnvelope/edXMLHeader/MessageHeader)",
        "not an edXML message (edXML/edXMLEnvelope/edXMLHeader/MessageHeader missing)",
    ),
    Rule.COMMENT: (
        "Gói tin có chú thích (comment) hoặc chỉ thị xử lý, phần mềm ký không bao giờ tạo ra "
        "(dấu hiệu chèn nội dung)",
        "the message holds an XML comment or processing instruction, which no signer writes "
        "(a sign of content injection)",
    ),
    Rule.UNSIGNED: (
        "Gói tin chưa được ký số",
        "the message is not signed",
    ),
    Rule.LEGACY: (
        "Chữ ký kiểu cũ của SDK (không thuộc không gian tên XML-DSig), không kiểm tra được",
        "legacy, unverifiable signature element (the SDK's edXML-namespaced Signature)",
    ),
    Rule.SIGNATURE_COUNT: (
        "Gói tin có nhiều hơn một chữ ký",
        "the message holds more than one signature",
    ),
    Rule.SIGNATURE_PLACE: (
        "Chữ ký không nằm đúng chỗ (edXML/edXMLEnvelope/edXMLHeader, sau TraceHeaderList "
        "hoặc MessageHeader)",
        "the signature is not in its place (edXML/edXMLEnvelope/edXMLHeader, after "
        "TraceHeaderList or MessageHeader)",
    ),
    Rule.SIGNATURE_STRUCTURE: (
        "Cấu trúc chữ ký không đúng (chỉ được có SignedInfo, SignatureValue, KeyInfo, và "
        "Object của dấu thời gian)",
        "unexpected signature structure (only SignedInfo, SignatureValue, KeyInfo, and the "
        "timestamp's Object allowed)",
    ),
    Rule.REFERENCE_COUNT: (
        "Chữ ký phải có đúng một Reference",
        "the signature must hold exactly one Reference",
    ),
    Rule.REFERENCE_URI: (
        'Chữ ký phải phủ toàn bộ gói tin (Reference URI=""), không trỏ tới một phần tử',
        'the signature must cover the whole message (Reference URI=""), not one element',
    ),
    Rule.TRANSFORMS: (
        "Phép biến đổi không đúng (enveloped-signature, bộ lọc vết chuyển tiếp, exc-c14n)",
        "unexpected transforms (enveloped-signature, the trace filter, exclusive c14n)",
    ),
    Rule.UNSIGNED_CONTENT: (
        "Phần không được ký chứa nội dung khác ngoài vết chuyển tiếp (TraceHeader) thêm sau "
        "khi ký: có thể là giả mạo",
        "the unsigned part holds something other than trace hops appended after signing: "
        "possibly a forgery",
    ),
    Rule.C14N_METHOD: (
        "Phương pháp chuẩn hóa SignedInfo không được chấp nhận",
        "SignedInfo canonicalization method not accepted",
    ),
    Rule.SIGNATURE_METHOD: (
        "Thuật toán ký không được chính sách chấp nhận",
        "signature algorithm not accepted by the trust policy",
    ),
    Rule.HMAC: (
        "Chữ ký HMAC (khóa bí mật dùng chung) không bao giờ được chấp nhận",
        "an HMAC (shared-secret) signature is never accepted",
    ),
    Rule.SHA1: (
        "Thuật toán SHA-1 đã lỗi thời; chỉ chấp nhận khi cho phép kiểu cũ (--allow-legacy)",
        "SHA-1 is obsolete; accepted only when legacy algorithms are allowed (--allow-legacy)",
    ),
    Rule.DIGEST_METHOD: (
        "Thuật toán băm không được chính sách chấp nhận",
        "digest algorithm not accepted by the trust policy",
    ),
    Rule.KEY_INFO: (
        "KeyInfo phải chứa chứng thư số X.509 của người ký (X509Data/X509Certificate)",
        "KeyInfo must hold the signer's X.509 certificate (X509Data/X509Certificate)",
    ),
    Rule.DIGEST: (
        "Nội dung gói tin đã bị thay đổi sau khi ký (giá trị băm không khớp)",
        "the message was changed after signing (digest mismatch)",
    ),
    Rule.SIGNATURE_VALUE: (
        "Giá trị chữ ký không khớp với chứng thư số của người ký",
        "the signature value does not match the signer's certificate",
    ),
    Rule.UNTRUSTED_ROOT: (
        "Chứng thư số không do tổ chức chứng thực tin cậy cấp",
        "the certificate does not chain to a trusted root",
    ),
    Rule.SELF_SIGNED: (
        "Chứng thư số tự ký, không có trong danh sách tin cậy",
        "self-signed certificate outside the trust store",
    ),
    Rule.CERT_EXPIRED: (
        "Chứng thư số đã hết hạn tại thời điểm ký",
        "the certificate had expired at signing time",
    ),
    Rule.CERT_NOT_YET_VALID: (
        "Chứng thư số chưa có hiệu lực tại thời điểm ký",
        "the certificate was not yet valid at signing time",
    ),
    Rule.ISSUER_NOT_CA: (
        "Chứng thư cấp trên không phải của tổ chức chứng thực (CA)",
        "an issuing certificate is not a CA certificate",
    ),
    Rule.KEY_USAGE: (
        "Chứng thư số không cho phép ký số (digitalSignature/nonRepudiation)",
        "the certificate does not allow signing (digitalSignature/nonRepudiation)",
    ),
    Rule.ORGAN_NOT_ALLOWED: (
        "Chứng thư số không được phép ký thay cho cơ quan gửi (OrganId)",
        "the certificate may not sign for the sending organisation (OrganId)",
    ),
    Rule.SIGNING_TIME_FUTURE: (
        "Thời điểm ký trong gói tin nằm ở tương lai",
        "the signing time in the message lies in the future",
    ),
    Rule.CERT_REVOKED: (
        "Chứng thư số của người ký đã bị thu hồi",
        "the signer's certificate has been revoked",
    ),
    Rule.REVOCATION_UNKNOWN: (
        "Không kiểm tra được tình trạng thu hồi của chứng thư số (CRL/OCSP) mà chính sách "
        "tin cậy bắt buộc kiểm tra ([trust] revocation = \"require\")",
        "the certificate's revocation status could not be checked (CRL/OCSP) and the trust "
        'policy requires it ([trust] revocation = "require")',
    ),
    Rule.KEY_UNREADABLE: (
        "Không đọc được khóa bí mật, chứng thư số hoặc tệp PKCS#12",
        "cannot read the private key, certificate or PKCS#12 file",
    ),
    Rule.KEY_SOURCE: (
        "Nguồn khóa ký không hợp lệ",
        "the signing key's source is not usable",
    ),
    Rule.KEY_PASSWORD: (
        "Mật khẩu của khóa sai hoặc thiếu",
        "wrong or missing key password",
    ),
    Rule.KEY_CERT_MISMATCH: (
        "Khóa bí mật không khớp với chứng thư số",
        "the private key does not match the certificate",
    ),
    Rule.KEY_TYPE: (
        "Loại khóa không hỗ trợ (cần RSA từ 2048 bit hoặc ECDSA P-256)",
        "unsupported key type (RSA of 2048 bits or more, or ECDSA P-256, needed)",
    ),
    Rule.PKCS11_MISSING: (
        "Chưa cài thư viện python-pkcs11 (pip install 'edoc-exchange[pkcs11]')",
        "python-pkcs11 is not installed (pip install 'edoc-exchange[pkcs11]')",
    ),
    Rule.TOKEN: (
        "Không dùng được thiết bị ký (token): thư viện, nhãn, PIN hoặc khóa không đúng",
        "cannot use the signing token: module, label, PIN or key is wrong",
    ),
    Rule.TRUST_STORE: (
        "Không đọc được danh sách chứng thư tin cậy",
        "cannot read the trusted certificates",
    ),
    Rule.TIMESTAMP_IMPRINT: (
        "Dấu thời gian không khớp với chữ ký (giá trị băm khác): chữ ký hoặc dấu thời gian "
        "đã bị thay đổi",
        "the timestamp does not match the signature (imprint differs): the signature or "
        "the timestamp was changed",
    ),
    Rule.TIMESTAMP_INVALID: (
        "Dấu thời gian hỏng hoặc chữ ký của máy chủ dấu thời gian không khớp",
        "the timestamp is broken or its authority's signature does not match",
    ),
}


class SignatureError(EdocError):
    """A signature outcome other than "valid"; ``rule`` says which rule failed.

    ``detail`` adds what was found (an algorithm URI, a certificate subject) to both texts.
    """

    def __init__(self, rule: Rule, *, detail: str | None = None, step: str | None = None) -> None:
        self.rule = rule
        self.detail = detail
        extra = f": {detail}" if detail else ""
        super().__init__(f"{rule.vi}{extra}", f"{rule.en}{extra}", step=step or rule.value)


class InvalidSignature(SignatureError):  # noqa: N818 (the outcome's name)
    """The bytes or the signature are wrong: reject the message; never show it as valid."""


class UntrustedSigner(SignatureError):  # noqa: N818
    """The signature is intact, but its certificate is not trusted for this message."""


class Unsigned(SignatureError):  # noqa: N818
    """The message carries no signature."""


class LegacySignature(SignatureError):  # noqa: N818
    """The SDK's edXML-namespaced placeholder Signature: legacy and unverifiable."""


class SignerError(SignatureError):
    """A key, certificate, PKCS#12 file or token that cannot be used to sign."""


class TrustStoreError(SignatureError):
    """Trusted roots that cannot be loaded (no certificate, unreadable file)."""
