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
if [ -d samples/submitted ] && $SP --help | grep -q merge; then
  $SP merge samples/submitted --roster samples/roster.csv -o out/区汇总_2025.xlsx --export out/export || true
fi
echo
echo "Done. Look in out/:"
ls -1 out
