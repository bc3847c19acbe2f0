"""``edoc send-document``: any document (a letter, a decision, a scan) with its attachments.

A thin door on :func:`edoc_exchange.office.outgoing.send_document`, the call the web pages'
drafts share their checks with: the same fields, the same file checks, the same register.
Every refusal names the option to correct (``--subject: ...``) and exits 1 with nothing
stored. The audit log names the actor ``cli:<operating-system account>``: the command line
has no web account, and whoever runs it already holds the office's key and store.
"""

from __future__ import annotations

import datetime as dt
import getpass
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ..atomicfile import write_atomically
from ..config import load_settings
from ..office import build_office, open_store
from ..office.outgoing import CLI_ACTOR, DraftError, DraftForm, Upload, send_document
from ._app import ConfigOption, app, exits_on_error, out

#: The form's field -> the option a person corrects.
_OPTIONS: Final[dict[str, str]] = {
    "doc_type": "--type",
    "notation": "--notation",
    "subject": "--subject",
    "recipients": "--to",
    "priority": "--priority",
    "due_date": "--due",
    "place": "--place",
    "signer_competence": "--signer-competence",
    "signer_position": "--signer-position",
    "signer_name": "--signer-name",
    "main_file": "MAIN_FILE",
    "attachments": "--attach",
    "number": "--number",
    "signer": "[signing]",
}
#: A key of the --fields YAML -> the form's field (the options' names, - or _).
_YAML_KEYS: Final[dict[str, str]] = {
    "type": "doc_type",
    "notation": "notation",
    "subject": "subject",
    "to": "recipients",
    "priority": "priority",
    "due": "due_date",
    "place": "place",
    "signer_competence": "signer_competence",
    "signer_position": "signer_position",
    "signer_name": "signer_name",
}
_FIELDS_MAX_BYTES: Final = 64 * 1024


def _refused(option: str, vi: str, en: str) -> DraftError:
    return DraftError(vi, en, step=option)


def _read_fields(path: Path) -> dict[str, Any]:
    """The header fields a small YAML gives (``to`` a list or one OrganId)."""
    try:
        data = path.read_bytes()[: _FIELDS_MAX_BYTES + 1]
    except OSError as exc:
        raise _refused("--fields", f"Không đọc được tệp {path}: {exc.strerror}",
                       f"cannot read {path}: {exc.strerror}") from None
    if len(data) > _FIELDS_MAX_BYTES:
        raise _refused("--fields", f"Tệp {path} lớn quá 64 KiB",
                       f"{path} is larger than 64 KiB")
    try:
        loaded = YAML(typ="safe").load(data.decode("utf-8-sig"))
    except (YAMLError, UnicodeDecodeError) as exc:
        raise _refused("--fields", f"Tệp {path} không phải YAML hợp lệ: {exc}",
                       f"{path} is not valid YAML: {exc}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise _refused("--fields", f"Tệp {path} phải là các cặp khóa: giá trị",
                       f"{path} must hold key: value pairs")
    fields: dict[str, Any] = {}
    for key, value in loaded.items():
        name = _YAML_KEYS.get(str(key).replace("-", "_"))
        if name is None:
            known = ", ".join(_YAML_KEYS)
            raise _refused(f"--fields {key}", f"Khóa '{key}' không dùng được (dùng: {known})",
                           f"key '{key}' is not known (use: {known})")
        if name == "recipients":
            items = value if isinstance(value, list) else [value]
            fields[name] = [str(v) for v in items if v is not None]
        elif isinstance(value, dt.date | int | str):
            fields[name] = str(value)
        elif value is not None:
            raise _refused(f"--fields {key}", f"Giá trị của '{key}' phải là một dòng chữ",
                           f"the value of '{key}' must be one line of text")
    return fields


def _upload(path: Path, option: str, max_bytes: int) -> Upload:
    """A file from disk as an upload, read up to one byte past the bound."""
    if not path.is_file():
        raise _refused(option, f"Không có tệp {path}", f"file {path} does not exist")
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise _refused(option, f"Không đọc được tệp {path}: {exc.strerror}",
                       f"cannot read {path}: {exc.strerror}") from None
    return Upload(path.name, data[:max_bytes], truncated=len(data) > max_bytes)


def _files(main: Path, main_option: str, attach: list[Path] | None,
           max_bytes: int) -> list[Upload]:
    """The main file then the attachments, read from disk; a refusal names the option."""
    return [_upload(main, main_option, max_bytes),
            *(_upload(p, f"--attach {p}", max_bytes) for p in attach or [])]


def _actor() -> str:
    try:
        return f"{CLI_ACTOR}:{getpass.getuser()}"
    except (KeyError, OSError):  # no account name in the environment or the password file
        return CLI_ACTOR


def _named(exc: DraftError, attachments: list[Path]) -> DraftError:
    """The refusal with the option to correct in place of the form's field."""
    field = (exc.step or "").removeprefix("draft.")
    if field.startswith("attachments[") and field.endswith("]"):
        index = int(field[len("attachments["):-1]) - 1
        option = f"--attach {attachments[index]}" if 0 <= index < len(attachments) else None
    else:
        option = _OPTIONS.get(field)
    return DraftError(exc.vi, exc.en, step=option or exc.step)


@app.command("send-document")
@exits_on_error
def send_document_cmd(
    main: Annotated[Path, typer.Argument(metavar="MAIN_FILE",
                                         help="Văn bản chính / main file (PDF or DOCX).")],
    attach: Annotated[list[Path] | None, typer.Option(
        "--attach", help="Tệp đính kèm (lặp lại được) / an attachment (repeatable).")] = None,
    fields_file: Annotated[Path | None, typer.Option(
        "--fields", dir_okay=False,
        help="YAML: type, notation, subject, to, priority, due, place, signer_position, "
             "signer_name, signer_competence (options override it).")] = None,
    doc_type: Annotated[str | None, typer.Option(
        "--type", help="Loại văn bản: cong-van, quyet-dinh, thong-bao, ke-hoach, ...")] = None,
    notation: Annotated[str | None, typer.Option(
        "--notation", help="Ký hiệu / notation (e.g. UBND).")] = None,
    subject: Annotated[str | None, typer.Option("--subject", help="Trích yếu / subject.")] = None,
    to: Annotated[list[str] | None, typer.Option(
        "--to", help="Nơi nhận: OrganId (lặp lại được) / recipient (repeatable).")] = None,
    priority: Annotated[str | None, typer.Option(
        "--priority", help="Độ khẩn / urgency 0-4 (default 0).")] = None,
    due: Annotated[str | None, typer.Option("--due", help="Hạn xử lý / due yyyy-mm-dd.")] = None,
    place: Annotated[str | None, typer.Option("--place", help="Địa danh / place.")] = None,
    signer_competence: Annotated[str | None, typer.Option(
        "--signer-competence", help="Thẩm quyền ký (TM. ỦY BAN NHÂN DÂN).")] = None,
    signer_position: Annotated[str | None, typer.Option(
        "--signer-position", help="Chức vụ người ký / signer's position.")] = None,
    signer_name: Annotated[str | None, typer.Option(
        "--signer-name", help="Họ tên người ký / signer's full name.")] = None,
    number: Annotated[int | None, typer.Option(
        "--number", help="Số đã đăng ký / a number (default: the register's next).")] = None,
    preview: Annotated[bool, typer.Option(
        "--preview", help="Chỉ xem trước: không số, không ký, không lưu / write the unsigned, "
                          "unnumbered envelope to -o; nothing is stored.")] = False,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", dir_okay=False, help="Ghi gói tin edXML / write the envelope here.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Gửi văn bản bất kỳ. Send any document: number, sign, queue (or --preview)."""
    if preview and output is None:
        raise _refused("-o", "--preview cần -o TỆP để ghi bản xem trước",
                       "--preview needs -o FILE to write the preview to")
    given: dict[str, Any] = _read_fields(fields_file) if fields_file is not None else {}
    for name, value in (("doc_type", doc_type), ("notation", notation), ("subject", subject),
                        ("recipients", to), ("priority", priority), ("due_date", due),
                        ("place", place), ("signer_competence", signer_competence),
                        ("signer_position", signer_position), ("signer_name", signer_name)):
        if value is not None:
            given[name] = value
    form = DraftForm(
        doc_type=given.get("doc_type", ""),
        notation=given.get("notation", ""),
        subject=given.get("subject", ""),
        recipients=given.get("recipients", []),
        priority=given.get("priority", "0"),
        due_date=given.get("due_date", ""),
        place=given.get("place", ""),
        signer_competence=given.get("signer_competence", ""),
        signer_position=given.get("signer_position", ""),
        signer_name=given.get("signer_name", ""),
    )
    settings = load_settings(config)
    max_bytes = settings.web.upload_max_bytes
    attachments = list(attach or [])
    main_file, *uploads = _files(main, "MAIN_FILE", attachments, max_bytes)
    db = open_store(settings)
    try:
        office = build_office(settings, db=db, receiving=False,
                              signer=None if preview else "settings")
        try:
            made = send_document(office, form, main_file, uploads, actor=_actor(),
                                 preview=preview, number=number, max_file_bytes=max_bytes)
        except DraftError as exc:
            raise _named(exc, attachments) from None
    finally:
        db.dispose()
    if output is not None:
        write_atomically(output, made.data)
        out.print(f"{output}: {made.document.document_id} ({len(made.data)} bytes)")
    if made.preview:
        out.print("Bản xem trước: chưa có số, chưa ký, không lưu gì / preview: not numbered, "
                  "not signed, nothing stored")
        return
    state = "đã xếp hàng / queued" if made.new else "đã có trong hàng đợi / already queued"
    out.print(f"{made.document.document_id}: số / number {made.number}; "
              f"hộp thư đi / outbox #{made.outbox_id}: {state}")
