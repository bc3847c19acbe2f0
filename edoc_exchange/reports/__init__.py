"""The office's e-governance figures and the report documents drawn from them.

Read-only: figures come from the audit log (what happened, when) and from store queries
(what stands now); nothing here writes or runs SQL of its own.
"""

from .egov import EgovReport, Period, ReportError, egov_report, render

__all__ = ["EgovReport", "Period", "ReportError", "egov_report", "render"]
