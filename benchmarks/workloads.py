"""The three benchmarked models: how to export them, what each client path sends, how many requests.

One `Workload` per model holds every model-specific fact the suite needs:
  - the `python -m export` arguments of its default-size export (random weights);
  - the *bytes* signature a thin client calls (JPEG in for the image models, seeds in and PNG out for
    StyleGAN) and the *tensor* signature that takes float tensors (what JSON-float clients and the
    naive tutorial server send);
  - how many requests a cell makes at each concurrency, in the full and the quick mode.
The inputs are built once per run from a real photograph (scikit-learn's `china.jpg`, re-encoded at
640x480 so that DETR's resize gives exactly its 800x1066 evaluation size).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
PHOTO_SIZE = (640, 480)  # width, height: DETR resizes it to 800x1066, B0 crops and resizes it to 224
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


@lru_cache(maxsize=1)
def photo_jpeg() -> bytes:
    """A real 640x480 photograph as the JPEG bytes a client would upload (quality 90)."""
    from PIL import Image

    raw = resources.files("sklearn.datasets").joinpath("images", "china.jpg").read_bytes()
    image = Image.open(io.BytesIO(raw)).convert("RGB").resize(PHOTO_SIZE, Image.BICUBIC)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def photo_pixels(width: int, height: int) -> np.ndarray:
    """The photograph resized to width x height, float32 RGB 0-255, shape [1, height, width, 3]."""
    from PIL import Image

    image = Image.open(io.BytesIO(photo_jpeg())).convert("RGB").resize((width, height), Image.BICUBIC)
    return np.asarray(image, np.float32)[None]


@dataclass(frozen=True)
class Counts:
    """Requests per cell at each concurrency; every cell also stops issuing after `cell_seconds`."""

    per_concurrency: Mapping[int, int]
    cell_seconds: float

    def requests(self, concurrency: int) -> int:
        return self.per_concurrency.get(concurrency, concurrency)


@dataclass(frozen=True)
class Workload:
    name: str  # model name in the repository and on the servers
    title: str
    export_args: tuple[str, ...]
    bytes_signature: str
    tensor_signature: str
    batch_cap: int  # largest in-process batch measured (memory and time on 2 cores)
    full: Counts
    quick: Counts
    # Float-tensor paths (in-process tensor, REST JSON, naive) above this many clients are skipped: a
    # DETR image is 2.6 M floats, ~160 MB of Python lists and ~50 MB of JSON on each side per request.
    tensor_max_concurrency: int | None
    json_full: Counts  # request counts for the JSON paths (REST JSON, naive), full mode
    make_bytes_inputs: Callable[[Path], dict] = field(repr=False)
    make_tensor_inputs: Callable[[Path], dict] = field(repr=False)
    tensor_spec_for_flops: Callable[[Path], dict] = field(repr=False)

    def version_dir(self, models_dir: Path) -> Path:
        base = models_dir / self.name
        return max((p for p in base.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))

    def export_info(self, models_dir: Path) -> dict:
        return json.loads((self.version_dir(models_dir) / "assets.extra" / "export_info.json").read_text())

    def metered_server(self, models_dir: Path, work: Path, env: dict[str, str] | None = None):
        """A `python -m serving` of this model (not started: enter it) with its Prometheus page on, where the
        benchmarks read the server's own account (runtime_latency, request_latency)."""
        from serving.testing.server_process import MONITORING_CONFIG, ServerProcess

        monitoring = work / "monitoring.config"
        monitoring.write_text(MONITORING_CONFIG)
        return ServerProcess(
            model_name=self.name,
            model_base_path=models_dir / self.name,
            args=["--file_system_poll_wait_seconds=0", f"--monitoring_config_file={monitoring}"],
            startup_timeout=600,
            env=env,
        )

    def ensure_export(self, models_dir: Path) -> Path:
        """Exports the model with `python -m export` unless `models_dir/<name>` already holds a version."""
        base = models_dir / self.name
        if not (base.is_dir() and any(p.name.isdigit() for p in base.iterdir())):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "export",
                    *self.export_args,
                    "--weights",
                    "none",
                    "--models-dir",
                    str(models_dir),
                    "--name",
                    self.name,
                ],
                check=True,
                cwd=REPO_ROOT,
                stdout=subprocess.DEVNULL,
            )
        return self.version_dir(models_dir)

    def bytes_inputs(self, models_dir: Path) -> dict:
        return self.make_bytes_inputs(self.version_dir(models_dir))

    def tensor_inputs(self, models_dir: Path) -> dict:
        return self.make_tensor_inputs(self.version_dir(models_dir))


def _info(version_dir: Path) -> dict:
    return json.loads((version_dir / "assets.extra" / "export_info.json").read_text())


def _efficientnet_pixels(version_dir: Path) -> dict:
    size = _info(version_dir)["input_size"][0]
    return {"pixels": photo_pixels(size, size)}


def _detr_size(version_dir: Path) -> tuple[int, int]:
    """(height, width) DETR's in-graph resize gives the photograph: short side min_size, long ≤ max_size."""
    sizes = _info(version_dir)["input_size"]
    width, height = PHOTO_SIZE
    scale = sizes["min_size"] / min(width, height)
    if max(width, height) * scale > sizes["max_size"]:
        scale = sizes["max_size"] / max(width, height)
    return int(round(height * scale)), int(width * scale)


def _detr_pixels(version_dir: Path) -> dict:
    height, width = _detr_size(version_dir)
    pixels = (photo_pixels(width, height) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return {"pixels": pixels.astype(np.float32)}


def _stylegan_psi(version_dir: Path) -> np.ndarray:
    """One ψ per image: the form TF Serving's batcher can merge (a scalar makes every request run alone)."""
    return np.full(1, _info(version_dir)["default_truncation_psi"], np.float32)


def _stylegan_seeds(version_dir: Path) -> dict:
    return {"seeds": np.array([7], np.int64), "truncation_psi": _stylegan_psi(version_dir)}


def _stylegan_z(version_dir: Path) -> dict:
    latent = _info(version_dir)["latent_size"]
    z = np.random.default_rng(7).standard_normal((1, latent)).astype(np.float32)
    return {"z": z, "truncation_psi": _stylegan_psi(version_dir)}


def _image_spec(inputs: Callable[[Path], dict]) -> Callable[[Path], dict]:
    return lambda version_dir: {k: (v.shape, v.dtype) for k, v in inputs(version_dir).items()}


# Full mode: B0 is cheap (~35 ms a call), so its cells are long enough to be steady; DETR and StyleGAN
# take ~1 s a call on two cores, so each client sends one request at 8 and 32 (a burst of C requests),
# and their float-tensor paths stop at 8 clients (memory; see tensor_max_concurrency).
SECONDS_PER_CALL_COUNTS = dict(
    full=Counts({1: 4, 8: 8, 32: 32}, cell_seconds=90.0),
    quick=Counts({1: 2, 2: 2}, cell_seconds=30.0),
    tensor_max_concurrency=8,
    json_full=Counts({1: 2, 8: 8}, cell_seconds=90.0),
)
WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in [
        Workload(
            name="efficientnet",
            title="EfficientNet-B0 (224x224)",
            export_args=("efficientnet", "--variant", "b0"),
            bytes_signature="serving_default",
            tensor_signature="predict_pixels",
            batch_cap=32,
            full=Counts({1: 60, 8: 96, 32: 128}, cell_seconds=40.0),
            quick=Counts({1: 3, 2: 4}, cell_seconds=10.0),
            tensor_max_concurrency=None,
            json_full=Counts({1: 20, 8: 48, 32: 64}, cell_seconds=60.0),
            make_bytes_inputs=lambda _: {"images": np.array([photo_jpeg()], dtype=object)},
            make_tensor_inputs=_efficientnet_pixels,
            tensor_spec_for_flops=_image_spec(_efficientnet_pixels),
        ),
        Workload(
            name="detr",
            title="DETR-R50 (800x1066)",
            export_args=("detr",),
            bytes_signature="serving_default",
            tensor_signature="raw",
            batch_cap=4,
            **SECONDS_PER_CALL_COUNTS,
            make_bytes_inputs=lambda _: {"images": np.array([photo_jpeg()], dtype=object)},
            make_tensor_inputs=_detr_pixels,
            tensor_spec_for_flops=_image_spec(_detr_pixels),
        ),
        Workload(
            name="stylegan",
            title="StyleGAN (1024x1024)",
            export_args=("stylegan",),
            bytes_signature="generate_png",
            tensor_signature="serving_default",
            batch_cap=4,
            **SECONDS_PER_CALL_COUNTS,
            make_bytes_inputs=_stylegan_seeds,
            make_tensor_inputs=_stylegan_z,
            tensor_spec_for_flops=_image_spec(_stylegan_z),
        ),
    ]
}
