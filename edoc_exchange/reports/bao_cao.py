"""The e-governance figures as an official báo cáo: the content of a compose report.

The báo cáo is built as the YAML mapping a clerk would write (``kind: report``), so that
the office renders and signs it like any report it composes (the decree's layout, PAdES),
and the clerk may instead take the YAML, edit the words around the figures and compose
and send it as usual. This module knows the figures and their words; it imports neither
compose nor office (the office validates and renders the mapping).

Every figure the báo cáo cites is in :data:`FIGURES` under a stable key: the same keys fill
the e-governance section of a report written in YAML (``egov: share_sent_electronic`` in
its figures; see :func:`fill_figures`), so the example report cites only what the tool
computes.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ruamel.yaml import YAML

from ..edxml import StatusCode
from ..store import Database
from ..store import directory as directory_store
from .egov import EgovReport, Period, ReportError, egov_report, organisation_names

__all__ = [
    "FIGURES",
    "SOURCE",
    "BaoCaoFacts",
    "Built",
    "Change",
    "FigureSpec",
    "bao_cao",
    "build",
    "comparison",
    "default_facts",
    "egov_fill",
    "figure_values",
    "fill_figures",
    "place_of",
    "to_yaml",
    "vn_number",
    "why_missing",
]

#: Where the figures come from, as the báo cáo's figure table says.
SOURCE = "phần mềm edoc-exchange: cơ sở dữ liệu và nhật ký kiểm toán"


@dataclass(frozen=True)
class FigureSpec:
    """One figure the báo cáo cites: its key, its label and its unit."""

    key: str
    label: str
    unit: str


_DOCS = "văn bản"
_PERCENT = "%"
#: The figures in the báo cáo's order; the keys are stable (YAML reports cite them).
FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("sent_electronic", "Văn bản đi gửi điện tử qua trục liên thông", _DOCS),
    FigureSpec("paper_sent", "Văn bản đi gửi bằng giấy (văn thư nhập)", _DOCS),
    FigureSpec("share_sent_electronic", "Tỷ lệ văn bản đi gửi điện tử", _PERCENT),
    FigureSpec("received_electronic", "Văn bản đến nhận điện tử qua trục liên thông", _DOCS),
    FigureSpec("paper_received", "Văn bản đến nhận bằng giấy (văn thư nhập)", _DOCS),
    FigureSpec("share_received_electronic", "Tỷ lệ văn bản đến nhận điện tử", _PERCENT),
    FigureSpec(
        "received_rejected", "Văn bản đến bị từ chối (chữ ký số trên gói tin không hợp lệ)",
        _DOCS,
    ),
    FigureSpec(
        "share_xml_valid", "Tỷ lệ văn bản đến có chữ ký số hợp lệ trên gói tin (XML)", _PERCENT
    ),
    FigureSpec(
        "received_pdf_valid", "Văn bản đến có chữ ký số hợp lệ trên mọi tệp PDF", _DOCS
    ),
    FigureSpec(
        "share_pdf_valid", "Tỷ lệ văn bản đến có chữ ký số hợp lệ trên tệp PDF", _PERCENT
    ),
    FigureSpec("handled_on_time", "Văn bản đến có hạn xử lý, hoàn thành đúng hạn", _DOCS),
    FigureSpec("handled_late", "Văn bản đến có hạn xử lý, quá hạn", _DOCS),
    FigureSpec("share_on_time", "Tỷ lệ văn bản đến xử lý đúng hạn", _PERCENT),
    FigureSpec(
        "median_hours_to_acceptance", "Thời gian trung vị từ khi đến tới khi tiếp nhận", "giờ"
    ),
)
_BY_KEY = {spec.key: spec for spec in FIGURES}


def _share(value: float | None) -> Decimal | None:
    if value is None:
        return None
    return (Decimal(str(value)) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def figure_values(report: EgovReport) -> dict[str, Decimal | None]:
    """Each figure of :data:`FIGURES` as the báo cáo prints it: counts whole, shares in
    per cent to one decimal (half up), hours to one decimal; None when it cannot be
    computed (no paper count entered, nothing to divide)."""
    median = report.median_hours_to_acceptance
    return {
        "sent_electronic": Decimal(report.sent_total),
        "paper_sent": None if report.paper_sent is None else Decimal(report.paper_sent),
        "share_sent_electronic": _share(report.share_sent_electronic),
        "received_electronic": Decimal(report.received_total),
        "paper_received": (
            None if report.paper_received is None else Decimal(report.paper_received)
        ),
        "share_received_electronic": _share(report.share_received_electronic),
        "received_rejected": Decimal(report.received_rejected),
        "share_xml_valid": _share(report.share_xml_valid),
        "received_pdf_valid": Decimal(report.received_pdf_valid),
        "share_pdf_valid": _share(report.share_pdf_valid),
        "handled_on_time": Decimal(report.handled_on_time),
        "handled_late": Decimal(report.handled_late),
        "share_on_time": _share(report.share_on_time),
        "median_hours_to_acceptance": (
            None if median is None
            else Decimal(str(median)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        ),
    }


def vn_number(value: Decimal) -> str:
    """``1.234,5``: a number as Vietnamese write it (as the báo cáo's PDF prints it)."""
    text = format(value.normalize() if value == value.to_integral() else value, "f")
    sign = "-" if text.startswith("-") else ""
    whole, _, fraction = text.lstrip("-").partition(".")
    groups: list[str] = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    result = sign + ".".join(groups)
    return f"{result},{fraction}" if fraction else result


@dataclass(frozen=True)
class Change:
    """One figure in this period and the previous one, with the change between them."""

    key: str
    label: str
    unit: str
    current: Decimal | None
    previous: Decimal | None

    @property
    def change(self) -> Decimal | None:
        if self.current is None or self.previous is None:
            return None
        return self.current - self.previous

    def words(self, previous_words: str) -> str:
        """``Văn bản đi …: 5 văn bản (Quý III năm 2026: 3 văn bản; tăng 2 văn bản)``."""
        unit = "điểm %" if self.unit == _PERCENT else self.unit

        def shown(value: Decimal | None) -> str:
            if value is None:
                return "không tính được"
            return f"{vn_number(value)}{'%' if self.unit == _PERCENT else ' ' + self.unit}"

        change = self.change
        if change is None:
            moved = "không so sánh được"
        elif change > 0:
            moved = f"tăng {vn_number(change)} {unit}"
        elif change < 0:
            moved = f"giảm {vn_number(-change)} {unit}"
        else:
            moved = "không đổi"
        return (
            f"{self.label}: {shown(self.current)} ({previous_words}: {shown(self.previous)}; "
            f"{moved})"
        )


def comparison(current: EgovReport, previous: EgovReport) -> list[Change]:
    """Every figure of the period beside the previous period's."""
    now, before = figure_values(current), figure_values(previous)
    return [Change(s.key, s.label, s.unit, now[s.key], before[s.key]) for s in FIGURES]


@dataclass(frozen=True)
class BaoCaoFacts:
    """What the figures cannot say: who issues the báo cáo, its number, date and signer."""

    organ_id: str
    office_name: str
    parent_name: str | None
    place: str
    date: dt.date
    signer_name: str
    signer_position: str = "CHỦ TỊCH"
    competence: str | None = "TM. ỦY BAN NHÂN DÂN"
    number: str | None = None
    notation: str = "BC-UBND"
    #: (name, OrganId or None) of each recipient line (Nơi nhận), "Lưu: VT" apart.
    recipients: tuple[tuple[str, str | None], ...] = ()


_PLACE = re.compile(
    r"(?:^|\s)(?:xã|phường|thị trấn|thị xã|huyện|quận|thành phố|tỉnh)\s+(.+)$", re.IGNORECASE
)


def place_of(office_name: str) -> str:
    """The place name of the place-date line, from the office's name (``UBND xã Nậm
    Khánh`` -> ``Nậm Khánh``); the whole name when it names no place."""
    found = _PLACE.search(office_name)
    return found.group(1).strip() if found else office_name


def _named(code: str | None, names: Mapping[str, str]) -> str:
    text = code or ""
    return names.get(text, text)


def _state_words(code: str | None) -> str:
    known = StatusCode.known(code)
    return known.vi if known is not None else (code or "")


def _plain(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral() else float(value)


def _period_range(period: Period) -> str:
    return f"từ ngày {period.start:%d/%m/%Y} đến ngày {period.last_day:%d/%m/%Y}"


def _missing_words(report: EgovReport, period: Period) -> list[str]:
    """Why a share is not given: said in words, never a 100% without a paper count."""
    out: list[str] = []
    if report.empty:
        out.append(
            f"Trong {period.words} không có văn bản điện tử nào được gửi, nhận; các tỷ lệ "
            "không tính được (không có văn bản để chia)."
        )
    if report.paper_sent is None or report.paper_received is None:
        which = ", ".join(report.paper_missing) or period.label
        out.append(
            "Tỷ lệ văn bản gửi, nhận điện tử: chưa nhập số văn bản giấy "
            f"({which}); văn thư nhập bằng lệnh edoc report paper hoặc trên trang Chỉ số "
            "chính quyền số."
        )
    if report.handled_due == 0:
        out.append(
            "Tỷ lệ văn bản xử lý đúng hạn: trong kỳ không có văn bản đến nào có hạn xử lý đã "
            "đến hoặc đã hoàn thành."
        )
    return out


def bao_cao(
    report: EgovReport,
    previous: EgovReport,
    period: Period,
    facts: BaoCaoFacts,
    *,
    names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The báo cáo of ``period`` as a compose report mapping (what ``kind: report`` YAML
    holds): header, number and date, the period in words, one result (PAPI dimension 8)
    with every figure that can be computed and its unit, the figures by document type,
    the comparison with ``previous``, documents past due by name and state in words, how
    the figures are counted, the recipients and the signer."""
    named = dict(names or {})
    values = figure_values(report)
    previous_period = period.previous()
    issuer: dict[str, Any] = {
        "name": facts.office_name,
        "organ_id": facts.organ_id,
        "place": facts.place,
    }
    if facts.parent_name:
        issuer["parent"] = facts.parent_name
    figures = [
        {"label": spec.label, "value": _plain(value), "unit": spec.unit, "source": SOURCE}
        for spec in FIGURES
        if (value := values[spec.key]) is not None
    ]
    summary = [
        f"Trong {period.words} ({_period_range(period)}), {facts.office_name} gửi "
        f"{report.sent_total} văn bản điện tử và nhận {report.received_total} văn bản điện "
        "tử qua trục liên thông văn bản quốc gia.",
        *_missing_words(report, period),
    ]
    by_type: list[str] = []
    for kind in sorted(set(report.sent_by_type) | set(report.received_by_type)):
        by_type.append(
            f"{kind}: {report.sent_by_type.get(kind, 0)} văn bản đi, "
            f"{report.received_by_type.get(kind, 0)} văn bản đến"
        )
    sections: list[dict[str, Any]] = [
        {
            "heading": "SỐ VĂN BẢN ĐIỆN TỬ THEO LOẠI VĂN BẢN",
            "content": [{"bullets": by_type}] if by_type else [
                f"Trong {period.words} không có văn bản điện tử nào."
            ],
        },
        {
            "heading": f"SO SÁNH VỚI {previous_period.words.upper()}",
            "content": [
                # a figure computable in neither period says nothing: left out
                {"bullets": [c.words(previous_period.words)
                             for c in comparison(report, previous)
                             if c.current is not None or c.previous is not None]}
            ],
        },
    ]
    if report.past_due:
        sections.append({
            "heading": "VĂN BẢN ĐẾN QUÁ HẠN XỬ LÝ",
            "content": [{"bullets": [
                f"{item.get('subject') or item['document_id']} của "
                f"{_named(item.get('from'), named)}, hạn {_day(item.get('due_date'))}, "
                f"trạng thái: {_state_words(item.get('state'))}"
                for item in report.past_due
            ]}],
        })
    sections.append({
        "heading": "CÁCH TÍNH SỐ LIỆU",
        "content": [{"bullets": [
            "Văn bản đi: số lần gửi thành công lên trục ghi trong nhật ký kiểm toán; văn bản "
            "đến: văn bản nhận trong kỳ có chữ ký số trên gói tin (XML) hợp lệ.",
            "Tỷ lệ gửi, nhận điện tử = văn bản điện tử / (văn bản điện tử + văn bản giấy do "
            "văn thư nhập theo quý).",
            "Chữ ký số trên gói tin: chữ ký XML của gói edXML, kiểm tra khi nhận (văn bản "
            "không hợp lệ bị từ chối). Chữ ký số trên tệp PDF: mọi tệp PDF đính kèm đều có "
            "chữ ký hợp lệ (kết quả kiểm tra khi nhận); tỷ lệ tính trên tổng văn bản đến.",
            "Đúng hạn: văn bản đến trong kỳ có hạn xử lý (hạn khi phân công, nếu không có "
            "thì hạn của nơi gửi) và được hoàn thành vào hoặc trước ngày hạn; quá hạn: "
            "hoàn thành sau ngày hạn hoặc chưa hoàn thành khi đã qua hạn; văn bản chưa đến "
            "hạn không tính.",
        ]}],
    })
    recipients = [
        {"name": name, **({"organ_id": organ} if organ else {})}
        for name, organ in facts.recipients
    ] or [{"name": "Như trên"}]
    data: dict[str, Any] = {
        "kind": "report",
        "issuer": issuer,
        "number": facts.number,
        "notation": facts.notation,
        "date": facts.date,
        "subject": f"Kết quả gửi, nhận văn bản điện tử (quản trị điện tử) {period.words}",
        "period": {"label": period.words[0].upper() + period.words[1:],
                   "start": period.start.date(), "end": period.last_day},
        "preamble": [
            f"{facts.office_name} báo cáo kết quả gửi, nhận văn bản điện tử {period.words} "
            "như sau (số liệu do phần mềm tổng hợp từ cơ sở dữ liệu và nhật ký kiểm toán):"
        ],
        "results_heading": "KẾT QUẢ GỬI, NHẬN VĂN BẢN ĐIỆN TỬ",
        "results": [{
            "dimension": "quan-tri-dien-tu",
            "summary": summary,
            "figures": figures,
        }],
        "sections": sections,
        "closing": [
            f"Trên đây là báo cáo kết quả gửi, nhận văn bản điện tử {period.words} của "
            f"{facts.office_name}./."
        ],
        "recipients": recipients,
        "filed": "VT",
        "signer": {
            **({"competence": facts.competence} if facts.competence else {}),
            "position": facts.signer_position,
            "name": facts.signer_name,
        },
    }
    if data["number"] is None:
        del data["number"]
    return data


def _day(text: Any) -> str:
    try:
        return dt.date.fromisoformat(str(text)).strftime("%d/%m/%Y")
    except ValueError:
        return str(text)


def to_yaml(data: Mapping[str, Any]) -> str:
    """The báo cáo as YAML the clerk edits and then composes (``edoc compose``)."""
    # The round-trip dumper keeps the keys in the order of the decree's form (the safe
    # one sorts them).
    yaml = YAML(typ="rt", pure=True)
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    yaml.width = 88
    out = io.StringIO()
    out.write(
        "# Báo cáo kết quả gửi, nhận văn bản điện tử do edoc-exchange lập từ cơ sở dữ liệu và\n"
        "# nhật ký kiểm toán. Sửa lời văn nếu cần, giữ nguyên số liệu; rồi edoc compose.\n"
    )
    yaml.dump(dict(data), out)
    return out.getvalue()


def fill_figures(
    figures: Sequence[Any], values: Mapping[str, Decimal | None], *, period_words: str
) -> tuple[list[Any], list[str]]:
    """The figures of a YAML report with each ``{egov: KEY}`` marker replaced by the
    computed figure (value, unit, source; the label as written, else the tool's), other
    figures as they are; and a sentence for each marked figure that cannot be computed (no
    paper count entered, nothing to divide), which is left out rather than printed as a
    guess or as the value it had. An unknown key raises
    ReportError naming it."""
    out: list[Any] = []
    notes: list[str] = []
    for index, figure in enumerate(figures):
        if not (isinstance(figure, Mapping) and "egov" in figure):
            out.append(figure)
            continue
        key = str(figure["egov"]).strip()
        spec = _BY_KEY.get(key)
        if spec is None:
            raise ReportError(
                f"Số liệu '{key}' (figures[{index}]) không phải số liệu phần mềm tính; dùng: "
                + ", ".join(_BY_KEY),
                f"'{key}' (figures[{index}]) is not a figure the tool computes; use one of: "
                + ", ".join(_BY_KEY),
                step=f"figures[{index}].egov",
            )
        value = values.get(key)
        label = str(figure.get("label") or spec.label)
        if value is None:
            notes.append(
                f"{label}: không tính được cho {period_words} (chưa nhập số văn bản giấy "
                "hoặc không có văn bản để tính)."
            )
            continue
        extra = {k: v for k, v in figure.items() if k == "target"}
        out.append({"label": label, "value": _plain(value), "unit": spec.unit,
                    "source": SOURCE, "egov": key, **extra})
    return out, notes


def egov_fill(
    report: EgovReport, period: Period
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """What ``edoc compose report.yaml --egov 2026-Q4`` applies to the report's YAML before
    it is validated: the report's period must be ``period`` (a quarter's figures are not
    cited in another quarter's report), and every ``egov: KEY`` figure is filled."""
    values = figure_values(report)

    def fill(tree: dict[str, Any]) -> dict[str, Any]:
        declared = tree.get("period")
        if isinstance(declared, Mapping):
            start, end = declared.get("start"), declared.get("end")
            if (str(start), str(end)) != (str(period.start.date()), str(period.last_day)):
                raise ReportError(
                    f"Kỳ của báo cáo ({start} – {end}) không phải {period.words} "
                    f"({period.start.date()} – {period.last_day}) mà --egov chỉ định",
                    f"the report's period ({start} – {end}) is not {period.label} "
                    f"({period.start.date()} – {period.last_day}) given with --egov",
                    step="period",
                )
        results = tree.get("results")
        if not isinstance(results, list):
            return tree
        filled: list[Any] = []
        for result in results:
            if isinstance(result, Mapping) and isinstance(result.get("figures"), list):
                figures, notes = fill_figures(
                    result["figures"], values, period_words=period.words
                )
                summary = list(result.get("summary") or [])
                filled.append({**result, "figures": figures, "summary": summary + notes})
            else:
                filled.append(result)
        return {**tree, "results": filled}

    return fill


def default_facts(
    db: Database,
    office_id: str,
    office_name: str,
    *,
    date: dt.date,
    signer_name: str,
    number: str | None = None,
    signer_position: str = "CHỦ TỊCH",
    recipients: Sequence[str] = (),
) -> BaoCaoFacts:
    """The báo cáo's facts from what the office knows: its parent body from the directory
    (named in the header and the first recipient), the place from its name, and the
    recipients given (OrganIds, by name from the directory) after the parent."""
    with db.engine.connect() as conn:
        parent = directory_store.parent_of(conn, office_id)
        names = directory_store.names(conn)
    lines: list[tuple[str, str | None]] = []
    if parent is not None:
        lines.append((parent[1], parent[0]))
    for organ in recipients:
        if parent is None or organ != parent[0]:
            lines.append((names.get(organ, organ), organ))
    competence = (
        "TM. ỦY BAN NHÂN DÂN"
        if re.match(r"(UBND|Ủy ban nhân dân|Uỷ ban nhân dân)\b", office_name, re.IGNORECASE)
        else None
    )
    return BaoCaoFacts(
        organ_id=office_id,
        office_name=office_name,
        parent_name=parent[1] if parent is not None else None,
        place=place_of(office_name),
        date=date,
        signer_name=signer_name,
        signer_position=signer_position,
        competence=competence,
        number=number,
        recipients=tuple(lines),
    )


@dataclass(frozen=True)
class Built:
    """A period's figures, the previous period's, and the báo cáo made of them."""

    report: EgovReport
    previous: EgovReport
    period: Period
    names: dict[str, str]
    content: dict[str, Any]


def build(
    db: Database,
    period: Period,
    facts: BaoCaoFacts,
    *,
    today: dt.date | None = None,
) -> Built:
    """Compute the figures of ``period`` and of the period before it and build the báo
    cáo (names from the directory; the office by the name in ``facts``)."""
    report = egov_report(db, facts.organ_id, period, today=today)
    previous = egov_report(db, facts.organ_id, period.previous(), today=today)
    names = organisation_names(db)
    names[facts.organ_id] = facts.office_name
    content = bao_cao(report, previous, period, facts, names=names)
    return Built(report, previous, period, names, content)


def why_missing(report: EgovReport, key: str) -> str | None:
    """Why a figure of ``report.to_json()`` is empty, in both languages (None when it is
    not): a share never reads 100% for want of a paper count."""
    if report.to_json()[key] is not None:
        return None
    if key in ("paper_sent", "paper_received") or (
        key in ("share_sent_electronic", "share_received_electronic")
        and (report.paper_sent is None or report.paper_received is None)
    ):
        return "Chưa nhập số văn bản giấy / paper count not entered"
    return "Không có văn bản để tính / nothing to count"
