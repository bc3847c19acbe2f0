"""The house rules of ../shared/ARCHITECTURE.md, checked on the code's own imports.

Each package may import only the packages below it; a neutral module (``errors``,
``vntime``, ``atomicfile``, ``stopping``, ``b64stream``) may be imported by every layer and imports
nothing of the package; no package reaches into another's private modules (``_name``); SQL stays in
``store`` (and the audit log's own tables in ``audit``). An arrow that points backwards
fails here, naming the file, the line and the rule, so that it cannot creep in unnoticed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "edoc_exchange"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

NEUTRAL = frozenset({"errors", "vntime", "atomicfile", "stopping", "b64stream"})
#: What each part of the package may import (besides itself and the neutral modules).
ALLOWED: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "vntime": frozenset(),
    "atomicfile": frozenset(),
    "b64stream": frozenset(),
    "stopping": frozenset(),
    "edxml": frozenset(),
    "signing": frozenset({"edxml"}),
    "axis": frozenset(),
    "config": frozenset({"axis"}),
    "store": frozenset(),
    "audit": frozenset({"store", "signing", "edxml"}),
    "compose": frozenset({"edxml", "signing"}),
    "office": frozenset({"edxml", "signing", "axis", "store", "audit", "compose", "config"}),
    "reports": frozenset({"audit", "store", "edxml"}),
    "web": frozenset({"office", "config", "reports", "edxml"}),
    "daemon": frozenset({"office", "config", "web"}),
    "sandbox": frozenset(
        {"office", "edxml", "signing", "axis", "config", "audit", "store", "web"}
    ),
    "cli": frozenset(
        {
            "office",
            "daemon",
            "edxml",
            "signing",
            "axis",
            "compose",
            "config",
            "audit",
            "reports",
            "sandbox",
            "web",
        }
    ),
    "__init__": frozenset({"edxml", "signing", "axis"}),
    "__main__": frozenset({"cli"}),
}
#: Who may run SQL (import SQLAlchemy or the store's tables): the store, the audit log's own
#: tables, and the sandbox, whose local axis keeps its own database (never the office's).
SQL_OWNERS = frozenset({"store", "audit", "sandbox"})
#: Who may touch the office store's tables: the store and the audit log only.
TABLE_OWNERS = frozenset({"store", "audit"})


@dataclass(frozen=True)
class Import:
    source: Path
    line: int
    target: str  # dotted module name, absolute

    @property
    def where(self) -> str:
        return f"{self.source.relative_to(ROOT.parent)}:{self.line}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, module: str) -> list[Import]:
    """Every import of ``path`` (the module ``module``), relative ones resolved
    (TYPE_CHECKING ones included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(path, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base)
                target = f"{prefix}.{node.module}" if node.module else prefix
            else:
                target = node.module or ""
            if node.module:
                found.append(Import(path, node.lineno, target))
            # ``from .. import audit`` names modules, ``from .x import y`` perhaps one
            found += [Import(path, node.lineno, f"{target}.{a.name}") for a in node.names]
    return found


def _part(dotted: str) -> str | None:
    """The top part of the package a dotted name belongs to (None outside the package)."""
    parts = dotted.split(".")
    if parts[0] != PACKAGE:
        return None
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def _is_module(dotted: str) -> bool:
    parts = dotted.split(".")[1:]
    path = ROOT.joinpath(*parts)
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _violations(files: list[Path], module: str | None = None) -> list[str]:
    """What breaks the rules in ``files`` (read as the module ``module`` when given)."""
    problems: list[str] = []
    for path in files:
        name = module or _module_name(path)
        source_part = _part(name)
        assert source_part is not None
        allowed = ALLOWED.get(source_part)
        if allowed is None:
            problems.append(f"{path}: part '{source_part}' has no rule in ALLOWED")
            continue
        for imp in _imports(path, name):
            if imp.target.startswith(("sqlalchemy", "alembic")) and source_part not in SQL_OWNERS:
                if imp.target in ("sqlalchemy.exc",) or imp.target.startswith("sqlalchemy.exc."):
                    continue  # catching the driver's errors is not SQL
                problems.append(f"{imp.where}: {source_part} runs SQL ({imp.target})")
                continue
            target_part = _part(imp.target)
            if target_part is None or target_part == source_part:
                continue
            if not _is_module(imp.target) and imp.target.count(".") > 1:
                continue  # an attribute named in ``from X import name``
            if target_part in NEUTRAL:
                continue
            if source_part in NEUTRAL:
                problems.append(f"{imp.where}: neutral module imports {imp.target}")
                continue
            if target_part not in allowed:
                problems.append(
                    f"{imp.where}: {source_part} may not import {target_part} ({imp.target})"
                )
                continue
            private = [p for p in imp.target.split(".")[2:] if p.startswith("_")]
            if private and _is_module(imp.target):
                problems.append(f"{imp.where}: private module of {target_part}: {imp.target}")
            tables = imp.target.startswith(f"{PACKAGE}.store.tables")
            if tables and source_part not in TABLE_OWNERS:
                problems.append(f"{imp.where}: {source_part} uses the store's tables")
    return problems


def _package_files() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "migrations" not in p.parts)


def test_imports_follow_the_house_rules() -> None:
    problems = _violations(_package_files())
    assert problems == [], "\n".join(problems)


def test_every_part_has_a_rule() -> None:
    parts = {_part(_module_name(p)) for p in _package_files()}
    assert parts - set(ALLOWED) == set()


@pytest.mark.parametrize(
    ("source", "line", "rule"),
    [
        ("edxml/models.py", "from ..office import Office", "edxml may not import office"),
        ("axis/_client.py", "from ..config import Settings", "axis may not import config"),
        ("office/clerk.py", "from ..store.tables import inbox", "uses the store's tables"),
        ("office/clerk.py", "from sqlalchemy import select", "office runs SQL"),
        ("daemon/runner.py", "from ..store import inbox", "daemon may not import store"),
        ("sandbox/demo.py", "from ..store.tables import inbox", "uses the store's tables"),
        ("cli/axis.py", "from ..axis._protocol import calls", "private module of axis"),
        ("vntime.py", "from .edxml import NS", "neutral module imports"),
    ],
)
def test_a_backward_import_is_caught(tmp_path: Path, source: str, line: str, rule: str) -> None:
    """The checker catches what it is for: each planted arrow is reported, at its line."""
    original = ROOT / source
    planted = original.with_name(original.stem + "_planted.py")
    try:
        planted.write_text(original.read_text(encoding="utf-8") + f"\n{line}\n", "utf-8")
        problems = _violations([planted], _module_name(original))
    finally:
        planted.unlink(missing_ok=True)
    assert any(rule in p for p in problems), problems
