#!/usr/bin/env bash
# Set up, then run the main job on the bundled sample data (samples/):
# one template, one template per roster school, and the district roll-up.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
SP=.venv/bin/sheetplan
rm -rf out && mkdir -p out
$SP new --org-name "第一实验小学" --org-code S001 --year 2025 -o out/模板_第一实验小学_2025.xlsx
$SP new --roster samples/roster.csv --year 2025 -o out/templates
# Exit code 1 is expected here: one sample school made typical mistakes and one file is not a workbook.
$SP merge samples/submitted --roster samples/roster.csv -o out/区汇总_2025.xlsx --export out/export || [ $? -eq 1 ]
$SP check samples/submitted/城南片/XQ004_新桥区城南中学_2025.xlsx --annotate out/XQ004_问题标注.xlsx || [ $? -eq 1 ]
echo
echo "完成。请看 out/：区汇总_2025.xlsx（区级汇总）、templates/（每校一份模板）、"
echo "XQ004_问题标注.xlsx（标出问题的学校工作簿）、export/（CSV 导出）。"
echo "Done. Look in out/: 区汇总_2025.xlsx (the district roll-up), templates/ (one per school),"
echo "XQ004_问题标注.xlsx (a school's file with its problems marked), export/ (CSV):"
ls -1 out
