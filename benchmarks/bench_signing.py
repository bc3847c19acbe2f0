"""Throughput and memory of sign+verify, as ratios against bare signxml and raw RSA.

    python benchmarks/bench_signing.py [--quick]

For a 5 KB message and for a message with a 10 MB attachment, prints sign+verify per
second with edoc_exchange.signing, the ratio against bare signxml signing and verifying
the same bytes in the same run (target: at most 1.2x for 5 KB), the ratio against raw
RSA-2048 sign+verify of those bytes with cryptography (the floor: hashing plus one private
and one public key operation), and the 10 MB case's peak memory as a multiple of the file
size, measured in a fresh subprocess (peak RSS delta: VmHWM, else ru_maxrss).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
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


def rate(func: Callable[[], object], seconds: float, min_runs: int) -> float:
    """Operations per second, running for about ``seconds`` (at least ``min_runs`` times)."""
    func()  # warm up
    runs, start = 0, time.perf_counter()
    while runs < min_runs or time.perf_counter() - start < seconds:
        func()
        runs += 1
    return runs / (time.perf_counter() - start)


def case(label: str, data: bytes, identity: TestIdentity, seconds: float,
         min_runs: int) -> None:
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
        XMLVerifier().verify(etree.tostring(signed), x509_cert=identity.cert, parser=huge)

    key = identity.key
    assert isinstance(key, rsa.RSAPrivateKey)

    def raw() -> None:
        sig = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        key.public_key().verify(sig, data, padding.PKCS1v15(), hashes.SHA256())

    r_ours = rate(ours, seconds, min_runs)
    r_bare = rate(bare, seconds, min_runs)
    r_raw = rate(raw, seconds, min_runs)
    print(f"{label} ({len(data) / 1024:,.1f} KiB before signing):")
    print(f"  sign+verify/s: {r_ours:,.1f}")
    print(f"  ratio vs bare signxml: {r_bare / r_ours:.2f}x slower "
          f"(signxml {r_bare:,.1f}/s; target <= 1.2x)")
    print(f"  ratio vs raw RSA-2048: {r_raw / r_ours:.1f}x slower "
          f"(cryptography {r_raw:,.1f}/s, the floor)")


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
    parser.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return 0
    identity = new_test_identity(organ_id=SENDER, name="UBND xã Nam Khánh (bench)")
    small = message(1_500)  # a 5 KB message once base64-encoded and framed
    big = message(10 * 1024 * 1024)
    seconds = 0.5 if args.quick else 3.0
    case("5 KB message", small, identity, seconds, 20)
    case("10 MB attachment", big, identity, 0.0 if args.quick else 5.0, 1 if args.quick else 3)
    multiple = peak_memory(big, identity)
    print(f"10 MB attachment peak memory: {multiple:.1f}x the file size "
          f"({len(big) / 1e6:.1f} MB message)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
