"""``edoc keys new``, ``edoc sign`` and ``edoc verify``: the signature commands.

Passwords and PINs never come from arguments (they would land in shell history and in
``ps``): they are read from EDOC_KEY_PASSWORD / EDOC_PKCS11_PIN, else asked for.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from ..atomicfile import write_atomically
from ..edxml import DEFAULT_LIMITS, EdxmlReadError, OrganId, read_file
from ..errors import EdocError
from ..sandbox.pki import new_test_identity
from ..signing import (
    KEY_PASSWORD_ENV,
    InvalidSignature,
    KeySource,
    LegacySignature,
    Pkcs11Signer,
    Rule,
    SecretKind,
    Signer,
    SignerError,
    TrustPolicy,
    TrustStoreError,
    Unsigned,
    UntrustedSigner,
    VerifiedMessage,
    load_organ_map,
    load_roots,
    open_signer,
    sign,
    spki_sha256,
    verify,
)
from ._app import app, err_console, exits_on_error, out

__all__ = ["keys_app"]


keys_app = typer.Typer(
    help="Khóa và chứng thư số thử nghiệm. Test keys and certificates (for testing only).",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")

InputFile = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="An .edxml file.")
]


def _secret(env: str, prompt: str, *, confirm: bool = False) -> str:
    """A password from the environment, else from a hidden prompt (never an argument)."""
    value = os.environ.get(env)
    if value is not None:
        return value
    return str(
        typer.prompt(f"{prompt} (or set {env})", hide_input=True, confirmation_prompt=confirm)
    )


def _usage(message: str) -> NoReturn:
    """A usage error: the message on stderr and exit code 2, as for a missing option."""
    err_console.print(f"Lỗi cách dùng / usage error: {message}", markup=False)
    raise typer.Exit(2)


def _organ_id(value: str) -> str:
    try:
        OrganId.parse(value)
    except EdocError as exc:
        raise typer.BadParameter(exc.diagnostics()) from None
    return value


@keys_app.command("new")
@exits_on_error
def keys_new(
    organ_id: Annotated[
        str,
        typer.Option(
            "--organ-id", callback=_organ_id, help="OrganId of the organisation, e.g. 000.00.12.H41"
        ),
    ],
    name: Annotated[str, typer.Option("--name", help="Organisation name for the certificate.")],
    out_dir: Annotated[
        Path, typer.Option("--out", file_okay=False, help="Folder to write the files into.")
    ],
    p12: Annotated[
        bool,
        typer.Option(
            "--p12",
            help="Write the key as a PKCS#12 file (password from EDOC_KEY_PASSWORD or a prompt).",
        ),
    ] = False,
    ec: Annotated[bool, typer.Option("--ec", help="ECDSA P-256 instead of RSA-2048.")] = False,
) -> None:
    """Tạo CA và chứng thư thử (chỉ dùng để thử). Make a test CA and certificate: TESTING ONLY.

    Never use these keys for real documents: real keys come from a licensed CA.
    """
    identity = new_test_identity(organ_id=organ_id, name=name, key_type="ec" if ec else "rsa")
    if p12:
        password = _secret(KEY_PASSWORD_ENV, "Mật khẩu PKCS#12 / PKCS#12 password", confirm=True)
        kwargs: dict[str, Any] = {"p12_password": password.encode()}
    else:
        env_password = os.environ.get(KEY_PASSWORD_ENV)
        kwargs = {"key_password": env_password.encode() if env_password else None}
    try:
        written = identity.write(out_dir, **kwargs)
    except FileExistsError as exc:
        _usage(f"--out: {exc} đã có / already exists")
    except OSError as exc:
        err_console.print(f"Lỗi / Error: {exc}")
        raise typer.Exit(1) from None
    out.print("[bold yellow]CHỈ DÙNG ĐỂ THỬ / FOR TESTING ONLY[/]", markup=True)
    for path in written:
        out.print(f"  {path}", markup=False)
    out.print(f"OrganId: {organ_id}", markup=False)
    out.print(
        f"SPKI SHA-256 (TrustPolicy.organ_ids / --signers): {spki_sha256(identity.cert)}",
        markup=False,
    )
    if not p12 and not kwargs["key_password"]:
        out.print(
            f"Khóa không mã hóa / key not encrypted (set {KEY_PASSWORD_ENV} to encrypt)",
            markup=False,
        )


def _clerk_secret(kind: SecretKind) -> str:
    """A clerk's secret: from the environment, else a hidden prompt (never an argument)."""
    return _secret(kind.env, kind.prompt)


def load_signer_from_options(source: KeySource) -> Signer:
    """The signer the command-line options name (a usage error unless exactly one source)."""
    problem = source.problem()
    if problem is not None:
        _usage(
            f"{problem[0]} / {problem[1]}: --key K --cert C, or --p12 F, or "
            "--pkcs11-module M --token-label L --key-label K"
        )
    return open_signer(source, secret=_clerk_secret)


def _write_atomic(target: Path, data: bytes, *, force: bool) -> None:
    if target.exists() and not force:
        _usage(f"{target} đã có, dùng --force / already exists, use --force")
    write_atomically(target, data)


@app.command("sign")
@exits_on_error
def sign_cmd(
    file: InputFile,
    output: Annotated[
        Path,
        typer.Option("-o", "--output", dir_okay=False, help="Where to write the signed message."),
    ],
    key: Annotated[
        Path | None,
        typer.Option("--key", exists=True, dir_okay=False, help="PEM private key (with --cert)."),
    ] = None,
    cert: Annotated[
        Path | None,
        typer.Option("--cert", exists=True, dir_okay=False, help="PEM certificate of the key."),
    ] = None,
    chain: Annotated[
        Path | None,
        typer.Option("--chain", exists=True, dir_okay=False, help="PEM intermediates to add."),
    ] = None,
    p12: Annotated[
        Path | None,
        typer.Option("--p12", exists=True, dir_okay=False, help="PKCS#12 file (.p12/.pfx)."),
    ] = None,
    pkcs11_module: Annotated[
        Path | None,
        typer.Option(
            "--pkcs11-module",
            exists=True,
            dir_okay=False,
            help="PKCS#11 module (.so/.dll) of the token.",
        ),
    ] = None,
    token_label: Annotated[str | None, typer.Option("--token-label")] = None,
    key_label: Annotated[str | None, typer.Option("--key-label")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUT.")] = False,
) -> None:
    """Ký số gói tin. Sign an edXML message (PIN/password from EDOC_* variables or a prompt)."""
    if output.exists() and not force:
        _usage(f"{output} đã có, dùng --force / already exists, use --force")
    signer = load_signer_from_options(
        KeySource(
            key=key,
            cert=cert,
            chain=chain,
            p12=p12,
            pkcs11_module=pkcs11_module,
            token_label=token_label,
            key_label=key_label,
        )
    )
    try:
        # Refuse to sign what a receiver could not read.
        read_file(file)
        data = file.read_bytes()
        signed = sign(data, signer)
    except OSError as exc:
        raise SignerError(Rule.KEY_UNREADABLE, detail=f"{file}: {exc.strerror}") from None
    finally:
        if isinstance(signer, Pkcs11Signer):
            signer.close()
    try:
        _write_atomic(output, signed, force=force)
    except OSError as exc:
        err_console.print(f"Lỗi / Error: {output}: {exc.strerror}")
        raise typer.Exit(1) from None
    subject = signer.certificates[0].subject.rfc4514_string()
    out.print(f"Đã ký / signed: {output} ({subject})", markup=False)


_OUTCOMES: dict[type[EdocError], str] = {
    InvalidSignature: "invalid",
    UntrustedSigner: "untrusted",
    Unsigned: "unsigned",
    LegacySignature: "legacy",
}


def _valid_report(path: Path, vm: VerifiedMessage) -> dict[str, Any]:
    message = vm.message
    return {
        "file": str(path),
        "valid": True,
        "outcome": "valid",
        "kind": message.kind,
        "sender": message.sender.organ_id,
        "document_id": getattr(message, "document_id", None),
        "signer": {
            "subject": vm.subject,
            "issuer": vm.issuer,
            "serial": vm.serial,
            "not_before": vm.not_before.isoformat(),
            "not_after": vm.not_after.isoformat(),
            "fingerprint_sha256": vm.fingerprint,
            "spki_sha256": vm.spki_sha256,
        },
        "signature_algorithm": vm.signature_algorithm,
        "digest_algorithm": vm.digest_algorithm,
        "signing_time": vm.signing_time.isoformat() if vm.signing_time else None,
        # The RFC 3161 timestamp as judged (its time is proven only when "valid").
        "timestamp": vm.timestamp_verdict.as_json() if vm.timestamp_verdict else None,
        "checked_at": vm.checked_at.isoformat(),
        # Hops appended after signing (the axis's): shown, never vouched for.
        "unsigned_trace": [
            {
                "organ_id": hop.organ_id,
                "timestamp": hop.timestamp.isoformat() if hop.timestamp else None,
            }
            for hop in vm.unsigned_trace
        ],
        "warnings": [w.to_json() for w in vm.warnings],
    }


def _error_report(path: Path, exc: EdocError) -> dict[str, Any]:
    outcome = next((name for cls, name in _OUTCOMES.items() if isinstance(exc, cls)), "error")
    rule = getattr(exc, "rule", None)
    return {
        "file": str(path),
        "valid": False,
        "outcome": outcome,
        "rule": rule.value if rule is not None else None,
        "message_vi": exc.vi,
        "message_en": exc.en,
        "step": exc.step,
    }


def _load_organ_map(path: Path) -> dict[str, frozenset[str]]:
    try:
        return load_organ_map(path)
    except TrustStoreError as exc:
        _usage(f"--signers: {exc.en}")


@app.command("verify")
@exits_on_error
def verify_cmd(
    file: InputFile,
    trust: Annotated[
        Path,
        typer.Option(
            "--trust", exists=True, help="Trusted CA certificates: a PEM bundle or folder."
        ),
    ],
    allow_legacy: Annotated[
        bool, typer.Option("--allow-legacy", help="Accept SHA-1 signatures (old archives only).")
    ] = False,
    signers: Annotated[
        Path | None,
        typer.Option(
            "--signers",
            exists=True,
            dir_okay=False,
            help="JSON {spki-sha256: [OrganId, ...]}: which key may sign for which sender.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
    tsa_roots: Annotated[
        Path | None,
        typer.Option(
            "--tsa-roots",
            exists=True,
            help="Trusted TSA CA certificates (PEM bundle or folder): whose RFC 3161 "
            "timestamps prove the signing time.",
        ),
    ] = None,
) -> None:
    """Kiểm tra chữ ký số. Verify a signature: exit 0 valid, 1 anything else, 2 usage."""
    organ_ids = _load_organ_map(signers) if signers is not None else None
    report: dict[str, Any]
    error: EdocError | None = None
    try:
        policy = TrustPolicy.from_path(trust, allow_legacy_sha1=allow_legacy, organ_ids=organ_ids)
        if tsa_roots is not None:
            policy = dataclasses.replace(policy, tsa_roots=load_roots(tsa_roots))
        if file.stat().st_size > DEFAULT_LIMITS.max_bytes:
            raise InvalidSignature(Rule.MALFORMED, detail="file too large")
        vm = verify(file.read_bytes(), policy)
        report = _valid_report(file, vm)
    except (EdocError, OSError) as exc:
        error = (
            exc
            if isinstance(exc, EdocError)
            else EdocError(
                f"Không đọc được tệp: {exc}", f"cannot read the file: {exc}", step=str(file)
            )
        )
        report = _error_report(file, error)
    if as_json:
        out.print_json(json.dumps(report, ensure_ascii=False))
    elif report["valid"]:
        s = report["signer"]
        out.print(f"{file}: Chữ ký hợp lệ / signature VALID", markup=False)
        out.print(f"  Người ký / signer: {s['subject']}", markup=False)
        out.print(f"  Cấp bởi / issuer: {s['issuer']}  (serial {s['serial']})", markup=False)
        out.print(f"  Hiệu lực / valid: {s['not_before']} → {s['not_after']}", markup=False)
        out.print(f"  Nơi gửi / sender: {report['sender']}", markup=False)
        out.print(f"  Thời điểm ký / signing time: {report['signing_time'] or '-'}", markup=False)
        if report["timestamp"] is not None:
            stamp = report["timestamp"]
            proven = (
                "đã chứng thực / proven"
                if stamp["status"] == "valid"
                else f"KHÔNG tin cậy / NOT trusted: {stamp['reason']}"
            )
            out.print(
                f"  Dấu thời gian / timestamp: {stamp['time'] or '-'} "
                f"({proven}; TSA {stamp['tsa']})",
                markup=False,
            )
        for hop in report["unsigned_trace"]:
            out.print(
                f"  Vết thêm sau khi ký (không được ký) / hop added after signing (unsigned): "
                f"{hop['organ_id'] or '-'}  {hop['timestamp'] or '-'}",
                markup=False,
            )
        out.print(
            f"  Thuật toán / algorithms: {report['signature_algorithm']}, "
            f"{report['digest_algorithm']}",
            markup=False,
        )
    else:
        rule = f" [{report['rule']}]" if report["rule"] else ""
        out.print(f"{file}: KHÔNG hợp lệ / NOT valid ({report['outcome']}){rule}", markup=False)
        out.print(f"  {report['message_vi']}", markup=False)
        out.print(f"  ({report['message_en']})", markup=False)
        if isinstance(error, EdxmlReadError):
            for finding in error.errors[:10]:
                out.print(f"  {finding.path}: {finding.vi} ({finding.en})", markup=False)
    raise typer.Exit(0 if report["valid"] else 1)
