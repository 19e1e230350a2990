"""The server's layering: serving/ builds on protocol/ and TensorFlow, never on export/ or clients/."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_serving_imports_neither_export_nor_clients():
    code = (
        "import pkgutil, importlib, sys, serving\n"
        "for m in pkgutil.walk_packages(serving.__path__, 'serving.'):\n"
        "    if m.name != 'serving.__main__': importlib.import_module(m.name)\n"
        "forbidden = {'export', 'clients', 'tensorflow_serving', 'keras_to_serving'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & forbidden))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300, check=True
    )
    assert run.stdout.strip().splitlines()[-1] == "[]"
