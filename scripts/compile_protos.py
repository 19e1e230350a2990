"""Compile protocol/protos/**/*.proto into protocol/generated/ (committed; rerun after editing a .proto).

    pip install "grpcio-tools==1.85.1"      # in the [test] extra
    python scripts/compile_protos.py         # rewrite protocol/generated/
    python scripts/compile_protos.py --check # exit 1 if the committed code differs from a fresh compile

protoc writes Python that registers every message in protobuf's default descriptor pool under its
official name (`tensorflow.TensorProto`, `tensorflow.serving.PredictRequest`) and imports its
dependencies from `tensorflow.*` / `tensorflow_serving.*`. In a process that also imports
TensorFlow (the server, the tests) that collides with TensorFlow's own registrations. Two rewrites
make the generated modules self-contained:

- every module adds its file to `protocol.generated.POOL`, a descriptor pool of its own;
- `from tensorflow... import x_pb2` becomes `from protocol.generated.tensorflow... import x_pb2`.

Message names, field numbers and types are untouched, so the bytes on the wire are the official ones.
"""

from __future__ import annotations

import argparse
import filecmp
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTOS = ROOT / "protocol" / "protos"
GENERATED = ROOT / "protocol" / "generated"
PACKAGE = "protocol.generated"
OWN_ROOTS = ("tensorflow", "tensorflow_serving", "inference")
GRPCIO_TOOLS = "1.85.1"  # generated code requires grpcio >= this and protobuf >= its protoc's runtime

_ROOTS = "|".join(OWN_ROOTS)
_IMPORT = re.compile(rf"^from ((?:{_ROOTS})(?:\.\w+)*) import (\w+_pb2)", re.MULTILINE)
_MODULE_NAME = re.compile(rf"(BuildTopDescriptorsAndMessages\(DESCRIPTOR, )'((?:{_ROOTS})\.[\w.]+)'")
_DEFAULT_POOL = "_descriptor_pool.Default()"


def _rewrite(text: str) -> str:
    text = _IMPORT.sub(lambda m: f"from {PACKAGE}.{m.group(1)} import {m.group(2)}", text)
    text = _MODULE_NAME.sub(lambda m: f"{m.group(1)}'{PACKAGE}.{m.group(2)}'", text)
    if _DEFAULT_POOL in text:
        text = text.replace(_DEFAULT_POOL, "_protocol_pool")
        text = text.replace(
            "from google.protobuf.internal import builder as _builder\n",
            f"from google.protobuf.internal import builder as _builder\nfrom {PACKAGE} import POOL as _protocol_pool\n",
            1,
        )
    return text


def compile_into(out: Path) -> None:
    from grpc_tools import protoc  # imported here: only this script needs grpcio-tools

    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"  # google/protobuf/*.proto shipped with grpcio-tools
    args = ["protoc", f"-I{PROTOS}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}", *sources]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for path in sorted(out.rglob("*.py")):
        path.write_text(_rewrite(path.read_text()))
    for folder in sorted({p.parent for p in out.rglob("*.py")}):
        while folder != out:  # every folder a package
            (folder / "__init__.py").touch()
            folder = folder.parent
    # Services without messages still get a *_pb2_grpc.py; files with neither get an empty one.
    for path in sorted(out.rglob("*_pb2_grpc.py")):
        if "class " not in path.read_text():
            path.unlink()


def _tree(path: Path) -> dict[str, Path]:
    return {str(p.relative_to(path)): p for p in path.rglob("*.py") if "__pycache__" not in p.parts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed code; change nothing")
    args = parser.parse_args(argv)
    import grpc_tools

    version = getattr(grpc_tools, "__version__", None) or _installed_version("grpcio-tools")
    if version != GRPCIO_TOOLS:
        print(
            f"warning: grpcio-tools {version} installed; the committed code comes from {GRPCIO_TOOLS}", file=sys.stderr
        )
    with tempfile.TemporaryDirectory(prefix="protocol-") as tmp:
        fresh = Path(tmp) / "generated"
        fresh.mkdir()
        (fresh / "__init__.py").write_text((GENERATED / "__init__.py").read_text())
        compile_into(fresh)
        new, old = _tree(fresh), _tree(GENERATED)
        changed = sorted(k for k in new.keys() & old.keys() if not filecmp.cmp(new[k], old[k], shallow=False))
        added, removed = sorted(new.keys() - old.keys()), sorted(old.keys() - new.keys())
        if args.check:
            for kind, names in (("differs", changed), ("missing", added), ("stale", removed)):
                for name in names:
                    print(f"protocol/generated/{name}: {kind}")
            return 1 if changed or added or removed else 0
        for name in removed:
            old[name].unlink()
        for name in changed + added:
            target = GENERATED / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(new[name], target)
        print(f"protocol/generated: {len(changed)} changed, {len(added)} added, {len(removed)} removed")
    return 0


def _installed_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    sys.exit(main())
