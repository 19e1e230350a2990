#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install the whole project (clients, export, server, docker) with
# its test, torch and bench extras. A client-only install is `pip install .` (see README).
# Idempotent: a second run only checks that everything is installed.
#   PYTHON=python3.11 scripts/setup.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup: $PYTHON is $("$PYTHON" --version 2>&1); Python >= 3.11 is required (set PYTHON=...)" >&2
    exit 1
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch only reads DETR .pth checkpoints (and is the DETR tests' independent reference); 2.13.0 is
# the CPU build this machine kind keeps on disk.
.venv/bin/python -m pip install --quiet -e ".[all,test,torch,bench]" "torch==2.13.0"
.venv/bin/python -c 'import tensorflow, keras, tensorflow_serving, torch, boto3, google.cloud.storage, moto.server, gcp_storage_emulator, opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http; print("setup: tensorflow", tensorflow.__version__, "keras", keras.__version__, "torch", torch.__version__)'
