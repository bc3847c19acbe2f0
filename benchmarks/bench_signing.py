"""Throughput and memory of sign+verify, as ratios against bare signxml, python-xmlsec and raw RSA.

    python benchmarks/bench_signing.py [--quick] [--rounds N]

For a 5 KB message and for a message with a 10 MB attachment, prints sign+verify per
second with edoc_exchange.signing and, measured in the same run and INTERLEAVED (in each
round one batch of ours, then one of each baseline; medians over the rounds, so drift on a
shared machine hits all alike):

* bare signxml doing the same work on the same bytes: parse, sign with the loaded key
  object (RSA-SHA256, SHA-256, exclusive c14n, the certificate in KeyInfo), serialise,
  then verify the bytes against the certificate object, with signxml's XML Schema check
  off as ours (target: at most 1.2x for 5 KB);
* python-xmlsec (libxmlsec1's C path: template, sign, serialise, parse, verify with the
  key loaded once), where it imports; otherwise the line says why it was skipped. It is
  not a dependency: run the script with an interpreter where ``import xmlsec`` works (a
  throwaway venv with ``pip install xmlsec``, whose wheel's libxml2 matches lxml's);
* raw RSA-2048 sign+verify of those bytes with cryptography (the floor: hashing plus one
  private and one public key operation).

Ours also does what the baselines do not: the reader's bounds, the pinned structure, the
trace filter, the model read from the signed XML, the certificate path and the policy.
The 10 MB case's peak memory is printed as a multiple of the file size, measured in a
fresh subprocess (peak RSS delta: VmHWM, else ru_maxrss).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.signer import XMLSigner
from signxml.verifier import XMLVerifier

from edoc_exchange import edxml, signing
from edoc_exchange.edxml.formats import VN_TZ
from edoc_exchange.sandbox import TestIdentity, new_test_identity

SENDER = "000.00.12.H41"


def message(attachment_size: int) -> bytes:
    """An edXML document whose attachment has ``attachment_size`` bytes."""
    now = dt.datetime.now(VN_TZ).replace(microsecond=0)
    org = edxml.OrganizationInfo(organ_id=SENDER, organ_name="UBND xã Nam Khánh")
    doc = edxml.Document(
        sender=org,
        recipients=[edxml.OrganizationInfo(organ_id="000.00.00.H41", organ_name="UBND huyện")],
        document_id=f"{SENDER},{now:%Y/%m/%d},12/KH-UBND",
        code=edxml.Code(number="12", notation="KH-UBND"),
        promulgation=edxml.PromulgationInfo(place="Nam Khánh", date=now.date()),
        document_type=edxml.DocumentType(type="1", type_name="Kế hoạch"),
        subject="Kế hoạch cải thiện chỉ số PAPI năm 2026",
        signer=edxml.SignerInfo(position="CHỦ TỊCH", full_name="Nguyễn Văn An"),
        other_info=edxml.OtherInfo(priority=0),
        trace=[edxml.TraceHeader(organ_id=SENDER, timestamp=now)],
        business=edxml.Bussiness(doc_type=0),
        attachments=[edxml.Attachment(name="ke-hoach.pdf", content_type="application/pdf",
                                      data=os.urandom(attachment_size))],
    )
    return edxml.write(doc)


def _batch(func: Callable[[], object], count: int) -> float:
    """Seconds per call of ``func`` over ``count`` calls."""
    start = time.perf_counter()
    for _ in range(count):
        func()
    return (time.perf_counter() - start) / count


def interleaved(
    contenders: dict[str, Callable[[], object]], rounds: int, seconds: float
) -> dict[str, float]:
    """Median seconds per call of each contender, timed in alternating batches.

    Each round times one batch of every contender in turn (the first one first); a batch
    lasts about ``seconds`` (at least one call), calibrated once after a warm-up.
    """
    counts: dict[str, int] = {}
    for name, func in contenders.items():
        func()  # warm up
        once = _batch(func, 1)
        counts[name] = max(1, int(seconds / max(once, 1e-9)))
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, func in contenders.items():
            times[name].append(_batch(func, counts[name]))
    return {name: statistics.median(values) for name, values in times.items()}


def xmlsec_contender(
    data: bytes, identity: TestIdentity
) -> tuple[Callable[[], object] | None, str]:
    """Sign+verify with python-xmlsec's C path, or None and why it cannot run here."""
    try:
        import xmlsec  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except Exception as exc:  # ImportError, or a libxml2 mismatch raising at import
        return None, f"{type(exc).__name__}: {exc}"
    key_pem = identity.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    cert_pem = identity.cert.public_bytes(Encoding.PEM)
    try:
        sign_key = xmlsec.Key.from_memory(key_pem, xmlsec.constants.KeyDataFormatPem)
        sign_key.load_cert_from_memory(cert_pem, xmlsec.constants.KeyDataFormatCertPem)
        verify_key = xmlsec.Key.from_memory(cert_pem, xmlsec.constants.KeyDataFormatCertPem)
    except Exception as exc:
        return None, f"xmlsec could not load the keys: {exc}"
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    ds = "http://www.w3.org/2000/09/xmldsig#"

    def run() -> None:
        root = etree.fromstring(data, parser)
        signature = xmlsec.template.create(
            root, xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformRsaSha256
        )
        ref = xmlsec.template.add_reference(signature, xmlsec.constants.TransformSha256, uri="")
        xmlsec.template.add_transform(ref, xmlsec.constants.TransformEnveloped)
        xmlsec.template.add_transform(ref, xmlsec.constants.TransformExclC14N)
        xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(signature))
        root.append(signature)
        ctx = xmlsec.SignatureContext()
        ctx.key = sign_key
        ctx.sign(signature)
        received = etree.fromstring(etree.tostring(root), parser)
        node = received.find(f"{{{ds}}}Signature")
        check = xmlsec.SignatureContext()
        check.key = verify_key
        check.verify(node)

    try:
        run()
    except Exception as exc:
        return None, f"xmlsec failed on the message: {type(exc).__name__}: {exc}"
    return run, f"python-xmlsec {getattr(xmlsec, '__version__', '?')}"


def case(label: str, data: bytes, identity: TestIdentity, rounds: int, seconds: float) -> None:
    signer = identity.signer()
    policy = signing.TrustPolicy(roots=(identity.ca_cert,))
    huge = etree.XMLParser(huge_tree=True, resolve_entities=False)

    class BareSigner(XMLSigner):
        parser = huge

    def ours() -> None:
        signing.verify(signing.sign(data, signer), policy)

    def bare() -> None:
        root = etree.fromstring(data, huge)
        signed = BareSigner(
            signature_algorithm=SignatureMethod.RSA_SHA256,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        ).sign(root, key=identity.key, cert=[identity.cert])
        XMLVerifier().verify(
            etree.tostring(signed), x509_cert=identity.cert, parser=huge, validate_schema=False
        )

    key = identity.key
    assert isinstance(key, rsa.RSAPrivateKey)
    public = key.public_key()

    def raw() -> None:
        sig = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        public.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())

    contenders: dict[str, Callable[[], Any]] = {"ours": ours, "bare": bare, "raw": raw}
    with_xmlsec, xmlsec_note = xmlsec_contender(data, identity)
    if with_xmlsec is not None:
        contenders["xmlsec"] = with_xmlsec
    t = interleaved(contenders, rounds, seconds)
    print(f"{label} ({len(data) / 1024:,.1f} KiB before signing; interleaved, "
          f"median of {rounds} rounds):")
    print(f"  sign+verify/s: {1 / t['ours']:,.1f}")
    target = "; target <= 1.2x" if label.startswith("5 KB") else ""
    print(f"  ratio vs bare signxml: {t['ours'] / t['bare']:.2f}x slower "
          f"(signxml {1 / t['bare']:,.1f}/s{target})")
    if "xmlsec" in t:
        print(f"  ratio vs python-xmlsec (C): {t['ours'] / t['xmlsec']:.2f}x slower "
              f"({xmlsec_note} {1 / t['xmlsec']:,.1f}/s)")
    else:
        print(f"  ratio vs python-xmlsec (C): skipped ({xmlsec_note})")
    print(f"  ratio vs raw RSA-2048: {t['ours'] / t['raw']:.1f}x slower "
          f"(cryptography {1 / t['raw']:,.1f}/s, the floor)")


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def memory_child(path: str, ca_path: str, key_path: str, cert_path: str) -> None:
    """Run in a fresh process: print the peak RSS growth of one sign+verify (bytes).

    Linux keeps ru_maxrss across fork+exec, so a child of a large parent would inherit the
    parent's peak; /proc's VmHWM belongs to the new address space and is used when present.
    """
    data = Path(path).read_bytes()
    signer = signing.load_pem_signer(key_path, cert_path)
    policy = signing.TrustPolicy.from_path(ca_path)
    before = _status_kib("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    signed = signing.sign(data, signer)
    del data
    signing.verify(signed, policy)
    after = _status_kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) * 1024)  # both in KiB on Linux


def peak_memory(data: bytes, identity: TestIdentity) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        identity.write(tmp)
        path = Path(tmp) / "message.edxml"
        path.write_bytes(data)
        out = subprocess.run(
            [sys.executable, __file__, "--memory-child", str(path), str(Path(tmp) / "ca.pem"),
             str(Path(tmp) / "signer.key.pem"), str(Path(tmp) / "signer.pem")],
            check=True, capture_output=True, text=True,
        ).stdout
    return int(out.strip().splitlines()[-1]) / len(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (for CI)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (7)")
    parser.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return 0
    identity = new_test_identity(organ_id=SENDER, name="UBND xã Nam Khánh (bench)")
    small = message(1_500)  # a 5 KB message once base64-encoded and framed
    big = message(10 * 1024 * 1024)
    rounds = args.rounds or (3 if args.quick else 7)
    case("5 KB message", small, identity, rounds, 0.1 if args.quick else 0.4)
    case("10 MB attachment", big, identity, rounds if not args.quick else 1,
         0.0 if args.quick else 0.5)
    multiple = peak_memory(big, identity)
    print(f"10 MB attachment peak memory: {multiple:.1f}x the file size "
          f"({len(big) / 1e6:.1f} MB message)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
