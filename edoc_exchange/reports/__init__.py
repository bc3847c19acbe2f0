"""The office's e-governance figures and the report documents drawn from them.

Read-only: figures come from the audit log (what happened, when) and from store queries
(what stands now); nothing here writes or runs SQL of its own.
"""

from .egov import (
    EgovReport,
    Period,
    ReportError,
    chart_svg,
    egov_report,
    organisation_names,
    render,
)
from .spreadsheet import SUMMARY_ROWS, XLSX_TYPE, xlsx

__all__ = [
    "SUMMARY_ROWS",
    "XLSX_TYPE",
    "EgovReport",
    "Period",
    "ReportError",
    "chart_svg",
    "egov_report",
    "organisation_names",
    "render",
    "xlsx",
]
