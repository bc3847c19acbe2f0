"""The office's e-governance figures and the report documents drawn from them.

Read-only: figures come from the audit log (what happened, when) and from store queries
(what stands now); nothing here writes or runs SQL of its own.
"""

from .bao_cao import (
    FIGURES,
    BaoCaoFacts,
    Built,
    Change,
    FigureSpec,
    bao_cao,
    build,
    comparison,
    default_facts,
    egov_fill,
    figure_values,
    place_of,
    to_yaml,
    vn_number,
    why_missing,
)
from .egov import (
    EgovReport,
    Period,
    ReportError,
    chart_svg,
    document_type_name,
    egov_report,
    organisation_names,
    render,
)
from .spreadsheet import SUMMARY_ROWS, XLSX_TYPE, xlsx

__all__ = [
    "FIGURES",
    "SUMMARY_ROWS",
    "XLSX_TYPE",
    "BaoCaoFacts",
    "Built",
    "Change",
    "EgovReport",
    "FigureSpec",
    "Period",
    "ReportError",
    "bao_cao",
    "build",
    "chart_svg",
    "comparison",
    "default_facts",
    "document_type_name",
    "egov_fill",
    "egov_report",
    "figure_values",
    "organisation_names",
    "place_of",
    "render",
    "to_yaml",
    "vn_number",
    "why_missing",
    "xlsx",
]
