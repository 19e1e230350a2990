"""Task-level helpers for the exported models, on either client.

Each sends encoded image bytes (JPEG/PNG as read from disk), never float pixel lists: the exported
signatures decode and resize in-graph, so a request stays as small as the file.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
from PIL import Image

from clients.draw import draw_segments
from clients.results import Detection, ImageSource, Segment, Segmentation, read_image_bytes
from protocol.outputs import (
    CLASS_NAMES,
    IMAGES_BYTES,
    NUM_DETECTIONS,
    PANOPTIC_PNG_BYTES,
    SCORES,
    SEGMENT_OUTPUTS,
)
from protocol.panoptic import rgb_to_id

# The panoptic export's outputs segment() reads. The PNG comes from PANOPTIC_PNG_BYTES: the same bytes as
# PANOPTIC_PNG, under the name TF Serving's REST API writes as base64 (binary text does not survive JSON).
SEGMENTATION_OUTPUTS = (PANOPTIC_PNG_BYTES, *SEGMENT_OUTPUTS)
PNG_OUTPUT = PANOPTIC_PNG_BYTES

__all__ = ["Detection", "ImageSource", "Segment", "Segmentation", "read_image_bytes"]


class Client(Protocol):
    def predict(
        self,
        model: str,
        inputs,
        *,
        signature: str = ...,
        version: int | None = ...,
        label: str | None = ...,
        output_filter: Sequence[str] | None = ...,
    ) -> dict[str, np.ndarray]: ...

    def metadata(self, model: str, *, version: int | None = ..., label: str | None = ...): ...


def _setting(
    client: Client,
    model: str,
    signature: str,
    name: str,
    value,
    rows: int,
    dtype,
    version: int | None,
    label: str | None,
) -> np.ndarray:
    """A request-wide setting (threshold, limit, ψ) as one value per example where the signature takes any
    rank or a vector (what TF Serving's batcher can merge with other requests; v2 metadata shows any rank
    as [-1]), else as the scalar older exports take."""
    info = client.metadata(model, version=version, label=label).signature(signature).inputs.get(name)
    if info is not None and (info.shape is None or len(info.shape) == 1):
        return np.full(rows, value, dtype)
    return np.asarray(value, dtype)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def classify_images(
    client: Client,
    images: Sequence[ImageSource],
    model: str = "efficientnet",
    *,
    version: int | None = None,
    label: str | None = None,
) -> list[list[tuple[str, float]]]:
    """Top-k (class name, score) per image, best first (k is fixed at export, 5 by default)."""
    encoded = np.array([read_image_bytes(i) for i in images], dtype=object)
    out = client.predict(model, {"images": encoded}, version=version, label=label)
    return [
        [(_text(n), float(s)) for n, s in zip(names, scores)] for names, scores in zip(out[CLASS_NAMES], out[SCORES])
    ]


def classify_image(
    client: Client,
    image: ImageSource,
    model: str = "efficientnet",
    *,
    version: int | None = None,
    label: str | None = None,
) -> list[tuple[str, float]]:
    """Top-k (class name, score) for one image."""
    return classify_images(client, [image], model, version=version, label=label)[0]


def detect_many(
    client: Client,
    images: Sequence[ImageSource],
    model: str = "detr",
    *,
    score_threshold: float | None = None,
    max_detections: int | None = None,
    version: int | None = None,
    label: str | None = None,
) -> list[list[Detection]]:
    """Detections per image. With a threshold or limit, the `detect_with_threshold` signature is used (the
    setting sent once per image where the export takes that, so batching servers can merge requests)."""
    encoded = np.array([read_image_bytes(i) for i in images], dtype=object)
    if score_threshold is None and max_detections is None:
        out = client.predict(model, {"images": encoded}, version=version, label=label)
    else:
        signature, rows = "detect_with_threshold", len(encoded)
        inputs = {
            "images": encoded,
            "score_threshold": _setting(
                client,
                model,
                signature,
                "score_threshold",
                0.0 if score_threshold is None else score_threshold,
                rows,
                np.float32,
                version,
                label,
            ),
            "max_detections": _setting(
                client,
                model,
                signature,
                "max_detections",
                100 if max_detections is None else max_detections,
                rows,
                np.int32,
                version,
                label,
            ),
        }
        out = client.predict(model, inputs, signature=signature, version=version, label=label)
    results = []
    for i, count in enumerate(out[NUM_DETECTIONS]):
        results.append(
            [
                Detection(
                    box=tuple(float(v) for v in out["boxes"][i, j]),
                    score=float(out["scores"][i, j]),
                    label=_text(out["label_names"][i, j]),
                )
                for j in range(int(count))
            ]
        )
    return results


def detect(
    client: Client,
    image: ImageSource,
    model: str = "detr",
    *,
    score_threshold: float | None = None,
    max_detections: int | None = None,
    version: int | None = None,
    label: str | None = None,
) -> list[Detection]:
    """Detections for one image, highest score first."""
    return detect_many(
        client,
        [image],
        model,
        score_threshold=score_threshold,
        max_detections=max_detections,
        version=version,
        label=label,
    )[0]


def generate(
    client: Client,
    seeds: Sequence[int],
    psi: float = 0.7,
    model: str = "stylegan",
    *,
    version: int | None = None,
    label: str | None = None,
) -> list[Image.Image]:
    """One generated picture per seed (same seed, same picture), truncation psi applied."""
    seeds = np.asarray(seeds, dtype=np.int64)
    inputs = {
        "seeds": seeds,
        "truncation_psi": _setting(
            client, model, "generate_png", "truncation_psi", psi, len(seeds), np.float32, version, label
        ),
    }
    out = client.predict(model, inputs, signature="generate_png", version=version, label=label)
    images = []
    for png in out[IMAGES_BYTES]:
        image = Image.open(io.BytesIO(png))
        image.load()
        images.append(image)
    return images


def segment_many(
    client: Client,
    images: Sequence[ImageSource],
    model: str = "detr-panoptic",
    *,
    colors: Mapping[int, Sequence[int]] | None = None,
    version: int | None = None,
    label: str | None = None,
) -> list[Segmentation]:
    """Panoptic segmentation of each image (the DETR panoptic export's `serving_default`).

    Segments are coloured by category: `colors` maps category ids to RGB (default: the COCO panoptic
    colours of `protocol.panoptic`; ids it lacks get a colour derived from the id).
    """
    encoded = [read_image_bytes(i) for i in images]
    out = client.predict(
        model,
        {"images": np.array(encoded, dtype=object)},
        version=version,
        label=label,
        output_filter=SEGMENTATION_OUTPUTS,
    )
    results = []
    for i, (data, png) in enumerate(zip(encoded, out[PNG_OUTPUT])):
        count = int(out["num_segments"][i])
        segments = [
            Segment(
                id=int(out["segment_ids"][i, j]),
                category_id=int(out["category_ids"][i, j]),
                category_name=_text(out["category_names"][i, j]),
                isthing=bool(out["isthing"][i, j]),
                area=int(out["areas"][i, j]),
                score=float(out["scores"][i, j]),
            )
            for j in range(count)
        ]
        with Image.open(io.BytesIO(png)) as decoded:
            segment_map = rgb_to_id(np.asarray(decoded.convert("RGB")))
        if count == 0:
            segment_map = np.full_like(segment_map, -1)
        picture = draw_segments(data, segment_map, segments, colors)
        results.append(Segmentation(segments, segment_map, bytes(png), picture))
    return results


def segment(
    client: Client,
    image: ImageSource,
    model: str = "detr-panoptic",
    *,
    colors: Mapping[int, Sequence[int]] | None = None,
    version: int | None = None,
    label: str | None = None,
) -> Segmentation:
    """Panoptic segmentation of one image: its segments, segment map and a picture of them."""
    return segment_many(client, [image], model, colors=colors, version=version, label=label)[0]
