"""Regenerate tests/data/golden_school_2025.xlsx after a reviewed change to the template.

Look at the new file (in a spreadsheet application and rendered with
../shared/tools/xlsx-render) before committing it.
"""

from pathlib import Path

from sheetplan.layout import load_layout
from sheetplan.write import Org, write_template

if __name__ == "__main__":
    out = Path(__file__).parent / "data" / "golden_school_2025.xlsx"
    write_template(load_layout("school"), Org("新桥区第一实验小学", "XQ001", 2025), out)
    print(out)
