#!/usr/bin/env bash
# Make sure the project's virtualenv exists and matches requirements.txt; sets $VENV.
# Reused between runs: only a change to requirements.txt reinstalls (first install: 4-5 min).
# torch goes first, from the machine's local CPU wheel: any other torch pulls GBs of CUDA wheels.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${CELLWISE_VENV:-$HOME/.cache/cellwise/venv}
PYTHON=${CELLWISE_PYTHON:-python3.11}
want=$(sha256sum "$ROOT/requirements.txt" | cut -d' ' -f1)
if [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
  command -v "$PYTHON" >/dev/null || { echo "cellwise needs Python 3.11 ($PYTHON not found)" >&2; exit 1; }
  echo "Installing Python packages into $VENV (first time: 4-5 minutes)..."
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check torch==2.13.0
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/requirements.txt"
  echo "$want" > "$VENV/.requirements.sha256"
fi
export VENV
