#!/usr/bin/env bash
# Set up a fresh machine: LibreOffice (for the real-spreadsheet tests and
# rendering; Debian/Ubuntu, as root) and a virtual environment with sheetplan.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v soffice >/dev/null 2>&1 || ! /usr/bin/python3 -c 'import uno' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends \
      libreoffice-calc-nogui python3-uno fonts-noto-cjk fonts-crosextra-carlito poppler-utils >/dev/null
  else
    echo "LibreOffice is not installed and cannot be installed here (needs root and apt-get);" >&2
    echo "the tests that need it will be skipped." >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test,parquet]"
