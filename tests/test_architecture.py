"""The package boundaries: the pipeline layout → reading → rules → report / merge → write, held by imports.

Every import of every module under src/sheetplan is read from its source (imports inside functions too;
those under ``if TYPE_CHECKING:`` are only annotations and do not count) and checked against the table of
who may import whom. docs/decisions.md ("Architecture") says the same in words.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "sheetplan"
SHARED = {"errors", "problems", "files", "workers", "__init__", "__version__"}  # used by every step
# Which packages each package may import, besides itself and the shared modules.
ALLOWED = {
    "layout": {"rules"},  # the rule registry's declarations (rules/ imports no layout module at run time)
    "reading": {"layout", "rules"},  # the registry says which fields the rules read
    "rules": {"layout", "reading"},
    "report": {"layout", "reading", "rules"},
    "merge": {"layout", "reading", "rules", "write"},  # merge/run writes its outputs
    "write": {"layout", "reading", "rules"},
    "api": {"layout", "reading", "rules", "report", "merge", "write"},
    "cli": {"layout", "reading", "rules", "report", "merge", "write"},
}
# Single modules held to more than their package's rule.
FORBIDDEN = {
    "write/district.py": {"merge"},  # gets its figures as plain data
    "merge/fileread.py": {"report"},
    "rules/registry.py": {"reading"},
}


def _package(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path) -> set[str]:
    """Top-level sheetplan packages/modules that ``path`` imports at run time."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only.update(id(n) for child in node.body for n in ast.walk(child))
    rel = path.relative_to(SRC.parent)
    package = list(rel.with_suffix("").parts)
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        names: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = [*base, *(node.module.split(".") if node.module else [])]
                names = [".".join(target)] if node.module else [".".join([*target, a.name]) for a in node.names]
            elif node.module and node.module.startswith("sheetplan"):
                names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("sheetplan")]
        for n in names:
            parts = n.split(".")
            if len(parts) > 1:
                found.add(parts[1])
    return found


MODULES = sorted(p for p in SRC.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_follow_the_pipeline(path):
    own = _package(path)
    allowed = ALLOWED.get(own, set()) | SHARED | {own}
    used = _imports(path)
    wrong = used - allowed
    assert not wrong, f"{path.relative_to(SRC)} imports {sorted(wrong)}"
    rel = str(path.relative_to(SRC))
    assert not used & FORBIDDEN.get(rel, set()), f"{rel} imports {sorted(used & FORBIDDEN[rel])}"


def test_every_package_is_in_the_table():
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in SRC.glob("*.py")}
    assert packages | modules <= set(ALLOWED) | SHARED


def test_the_table_holds_no_cycle_between_steps():
    """The steps form a pipeline: apart from the declarations of rule kinds, no step imports a later one."""
    order = ["layout", "reading", "rules", "report", "merge", "write"]
    for i, pkg in enumerate(order):
        later = set(order[i + 1:]) & ALLOWED[pkg]
        assert later <= {"rules", "write"} and (pkg != "write" or not later), (pkg, later)


def test_one_module_imports_each_heavy_library():
    """xlsxwriter only under write/, pandas only in api, openpyxl nowhere (tests use it; the program does not)."""
    for path in MODULES:
        text = path.read_text(encoding="utf-8")
        rel = str(path.relative_to(SRC))
        if "import pandas" in text:
            assert rel == "api.py", rel
        if "import xlsxwriter" in text or "from xlsxwriter" in text:
            assert rel.startswith("write/"), rel
        assert "import openpyxl" not in text, rel
