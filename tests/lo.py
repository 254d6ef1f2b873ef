"""Run the LibreOffice tools of ``../shared/tools`` (beside the repository) from tests.

Tests that need LibreOffice take the ``lo`` fixture: it skips with a clear
reason when ``soffice`` is missing, and fails instead when
``SHEETPLAN_REQUIRE_LO=1`` (as CI sets it), so real-spreadsheet tests can
never silently not run in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tools_dir() -> Path:
    """Folder of xlsx-recalc / xlsx-fill / xlsx-render (env SHEETPLAN_TOOLS overrides)."""
    env = os.environ.get("SHEETPLAN_TOOLS")
    return Path(env) if env else REPO.parent / "shared" / "tools"


def missing_reason() -> str | None:
    """Why LibreOffice tests cannot run here, or None when they can."""
    if shutil.which("soffice") is None:
        return "LibreOffice (soffice) is not installed: see ../shared/tools/README.md"
    if not (tools_dir() / "xlsx-recalc").exists():
        return f"the LibreOffice test tools are not at {tools_dir()}"
    return None


@dataclass
class LibreOffice:
    """Thin wrappers that run one tool and return its completed process."""

    tools: Path

    def run(self, tool: str, *args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(self.tools / tool), *args], capture_output=True, text=True, timeout=300)
        assert proc.returncode in ok, f"{tool} exited {proc.returncode}: {proc.stderr}\n{proc.stdout[-2000:]}"
        return proc

    def fill(self, src: Path, dst: Path, cells: dict, *extra: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        spec = dst.with_suffix(".cells.json")
        spec.write_text(json.dumps(cells, ensure_ascii=False), encoding="utf-8")
        return self.run("xlsx-fill", *extra, str(src), str(dst), str(spec), ok=ok)

    def recalc(self, src: Path, dst: Path, check_errors: bool = True) -> subprocess.CompletedProcess[str]:
        args = ["--check-errors"] if check_errors else []
        return self.run("xlsx-recalc", *args, str(src), str(dst))

    def render(self, src: Path, outdir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        outdir.mkdir(parents=True, exist_ok=True)
        return self.run("xlsx-render", *extra, str(src), str(outdir))
