"""JSON Schemas of the YAML input, for editors (``# yaml-language-server: $schema=…``).

``python -m edoc_exchange.compose.schema [DIR]`` writes ``plan.schema.json`` and
``report.schema.json`` (default: ``schemas/`` of the working directory); ``--check`` only
compares and exits 1 when a file is out of date, for CI. The schema describes the shape;
rules across fields (the notation's type, heading depth) are checked by the models only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .models import Plan, Report

__all__ = ["SCHEMA_FILES", "json_schema", "main", "schema_texts"]

#: File name of each kind's schema.
SCHEMA_FILES = {"plan": "plan.schema.json", "report": "report.schema.json"}

_TITLES = {
    "plan": "Kế hoạch (plan) of a commune People's Committee: edoc-exchange compose input",
    "report": "Báo cáo (report) of a commune People's Committee: edoc-exchange compose input",
}


def json_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``plan`` or ``report`` input."""
    models: dict[str, type[BaseModel]] = {"plan": Plan, "report": Report}
    body = models[kind].model_json_schema(mode="validation")
    body["title"] = _TITLES[kind]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **body}


def schema_texts() -> dict[str, str]:
    """Each schema file's name and exact text (UTF-8 JSON, two-space indent, final newline)."""
    return {
        name: json.dumps(json_schema(kind), ensure_ascii=False, indent=2) + "\n"
        for kind, name in SCHEMA_FILES.items()
    }


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check``, compare) the schema files; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    out = Path(args[0]) if args else Path("schemas")
    stale = []
    for name, text in schema_texts().items():
        target = out / name
        current = target.read_text(encoding="utf-8") if target.is_file() else None
        if current == text:
            continue
        if check:
            stale.append(str(target))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target}")
    if stale:
        print(
            "out of date (run python -m edoc_exchange.compose.schema): " + ", ".join(stale),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
