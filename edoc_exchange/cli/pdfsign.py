"""``edoc sign-pdf --as NAME``: step 1 of the two-step flow at the signer's own machine.

The chairman signs a PDF with his own key (his USB token, or his soft certificate), as
``[signers.NAME]`` configures it: into the signature block's field with his signature
image when the PDF was rendered with one, else in a new invisible field. Given a plan or
report written in YAML, it renders it with the signature block (room for his image and
the seal, the number left for the văn thư) and signs that. The văn thư then issues it
(``edoc send-document``), which fills in the number and adds the organisation's
signature. Only his key is opened: neither the office's key nor its store is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..atomicfile import write_atomically
from ..compose import load
from ..config import load_settings
from ..office import VisibleSignatures, load_person, load_visible, sign_as
from ..office.visible import render_for_signing
from ..signing import Pkcs11Signer, SecretKind
from ._app import ConfigOption, app, exits_on_error, out
from .signing import _clerk_secret, _usage

__all__ = ["sign_pdf_cmd"]


@app.command("sign-pdf")
@exits_on_error
def sign_pdf_cmd(
    pdf: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                        help="The PDF (or plan/report YAML) to sign.")],
    output: Annotated[Path, typer.Option("-o", "--output", dir_okay=False,
                                         help="Where to write the signed PDF.")],
    name: Annotated[str, typer.Option(
        "--as", help="Người ký / the signer: NAME of a signers.NAME section.")],
    reason: Annotated[str | None, typer.Option("--reason", help="Lý do ký / reason.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUT.")] = False,
    config: ConfigOption = None,
) -> None:
    """Người có thẩm quyền ký PDF. Sign a PDF with a signer's own key (step 1)."""
    if output.exists() and not force:
        _usage(f"{output} đã có, dùng --force / already exists, use --force")
    settings = load_settings(config)

    def secret(kind: SecretKind) -> str | None:
        return _clerk_secret(kind)

    yaml = pdf.suffix.lower() in {".yaml", ".yml"}
    visible = load_visible(settings) if yaml else None
    person = load_person(settings, name, secret)
    data = (render_for_signing(visible or VisibleSignatures(), person, load(pdf)) if yaml
            else pdf.read_bytes())
    signer = person.signer  # opened once, here: a token asks for its PIN now
    try:
        signed = sign_as(person, data, reason=reason)
    finally:
        if isinstance(signer, Pkcs11Signer):
            signer.close()
    write_atomically(output, signed)
    out.print(f"Đã ký / signed: {output} ({person.common_name}); "
              "văn thư phát hành bằng / the văn thư issues it with: edoc send-document",
              markup=False)
