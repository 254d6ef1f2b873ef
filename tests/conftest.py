from __future__ import annotations

import os

import pytest

from lo import LibreOffice, missing_reason, tools_dir


@pytest.fixture(scope="session")
def lo() -> LibreOffice:
    reason = missing_reason()
    if reason:
        if os.environ.get("SHEETPLAN_REQUIRE_LO") == "1":
            pytest.fail(f"SHEETPLAN_REQUIRE_LO=1 but {reason}")
        pytest.skip(reason)
    return LibreOffice(tools_dir())


@pytest.fixture(scope="session")
def layout():
    from sheetplan.layout import load_layout

    return load_layout("school")
