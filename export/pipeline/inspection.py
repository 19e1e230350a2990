"""Reading back what an export wrote: signature defs (as ``saved_model_cli show --all``) and export_info."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2

from export.errors import ExportError
from protocol.layout import ASSETS_EXTRA

INFO_FILE = "export_info.json"


def read_saved_model_proto(saved_model_dir: Path) -> saved_model_pb2.SavedModel:
    path = Path(saved_model_dir) / "saved_model.pb"
    if not path.is_file():
        raise ExportError(f"{saved_model_dir} is not a SavedModel directory (no saved_model.pb)")
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString(path.read_bytes())
    return proto


def _tensor_entry(info: Any) -> dict[str, Any]:
    shape = None if info.tensor_shape.unknown_rank else [d.size for d in info.tensor_shape.dim]
    return {"dtype": types_pb2.DataType.Name(info.dtype), "shape": shape, "name": info.name}


def signature_defs(saved_model_dir: Path, tag: str = "serve") -> dict[str, dict[str, Any]]:
    """Signatures of the ``serve`` meta graph: method name, inputs and outputs with dtype and shape."""
    for meta_graph in read_saved_model_proto(saved_model_dir).meta_graphs:
        if tag in meta_graph.meta_info_def.tags:
            return {
                key: {
                    "method_name": sig.method_name,
                    "inputs": {k: _tensor_entry(v) for k, v in sorted(sig.inputs.items())},
                    "outputs": {k: _tensor_entry(v) for k, v in sorted(sig.outputs.items())},
                }
                for key, sig in sorted(meta_graph.signature_def.items())
                if not key.startswith("__")
            }
    raise ExportError(f"{saved_model_dir} has no meta graph tagged {tag!r}")


def read_export_info(saved_model_dir: Path) -> dict[str, Any] | None:
    path = Path(saved_model_dir) / ASSETS_EXTRA / INFO_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def _shape_text(shape: list[int] | None) -> str:
    return "unknown rank" if shape is None else "(" + ", ".join(str(d) for d in shape) + ")"


def describe(saved_model_dir: Path) -> str:
    """Human-readable report of a version directory's signatures and export_info."""
    lines = [f"SavedModel {saved_model_dir}", ""]
    for key, sig in signature_defs(saved_model_dir).items():
        lines.append(f"signature {key!r}  (method {sig['method_name']})")
        for kind in ("inputs", "outputs"):
            lines.append(f"  {kind}:")
            for name, entry in sig[kind].items():
                lines.append(f"    {name:<18} {entry['dtype']:<10} {_shape_text(entry['shape'])}")
        lines.append("")
    info = read_export_info(saved_model_dir)
    lines.append("export_info.json:" if info is not None else "export_info.json: (none)")
    if info is not None:
        lines.append(json.dumps(info, indent=2, sort_keys=True))
    return "\n".join(lines)
