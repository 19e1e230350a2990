"""`python -m clients …`: call a TensorFlow Serving server from the shell.

python -m clients --rest http://127.0.0.1:8501 status efficientnet
python -m clients status efficientnet --rest http://127.0.0.1:8501     # transport flags go either side
python -m clients --grpc 127.0.0.1:8500 metadata detr
python -m clients --grpc 10.0.0.5:8500,10.0.0.6:8500 status detr         # replicas: round robin, failover
python -m clients --rest http://a:8501 --rest http://b:8501 status detr  # or repeat the flag
python -m clients --rest URL predict MODEL --inputs '{"x": [1.0, 2.0]}'
python -m clients --grpc HOST:PORT classify-image photo1.jpg photo2.png
python -m clients --rest URL detect photo.jpg --score-threshold 0.5 --out out/
python -m clients --grpc HOST:PORT generate --seeds 0-15 --psi 0.7 --out grid.png
python -m clients --grpc HOST:PORT segment photo.jpg --out out/
python -m clients --protocol v2 --rest URL classify-image photo.jpg      # the Open Inference Protocol (KServe v2)
python -m clients --protocol v2 --grpc HOST:PORT status detr             # ... over inference.GRPCInferenceService
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from clients.errors import ServingError
from protocol import b64

T = TypeVar("T")
R = TypeVar("R")


PROTOCOLS = ("v1", "v2")  # TF Serving's API (REST /v1, tensorflow.serving gRPC); the Open Inference Protocol


def make_client(args: argparse.Namespace):
    if args.protocol == "v2":
        if args.grpc:
            from clients.v2_grpc import V2GrpcClient

            return V2GrpcClient(args.grpc, timeout=args.timeout, tls=args.tls)
        from clients.v2_rest import V2RestClient

        return V2RestClient(args.rest, timeout=args.timeout)
    if args.grpc:
        from clients.tfs_grpc import GrpcClient

        return GrpcClient(args.grpc, timeout=args.timeout, tls=args.tls)
    from clients.tfs_rest import RestClient

    return RestClient(args.rest, timeout=args.timeout)


def split_addresses(values: Sequence[str]) -> list[str]:
    """The addresses of repeated --rest/--grpc flags, each a comma-separated list; a gRPC `ipv4:` or
    `ipv6:` target keeps its commas (it is one target listing several addresses)."""
    found: list[str] = []
    for value in values:
        if value.startswith(("ipv4:", "ipv6:")):
            found.append(value)
        else:
            found.extend(part.strip() for part in value.split(",") if part.strip())
    return found


def _transport_flags(after: bool) -> argparse.ArgumentParser:
    """--rest/--grpc/--protocol/--tls/--timeout, accepted before or after the subcommand. After it they land in
    `<name>_after` (a subcommand's namespace would replace the lists given before it); main merges."""
    suffix = "_after" if after else ""
    flags = argparse.ArgumentParser(add_help=False)
    where = flags.add_mutually_exclusive_group()
    where.add_argument(
        "--rest",
        metavar="URL[,URL...]",
        action="append",
        dest="rest" + suffix,
        default=argparse.SUPPRESS,
        help="REST endpoint, e.g. http://127.0.0.1:8501; several replicas: comma-separated or the flag repeated",
    )
    where.add_argument(
        "--grpc",
        metavar="HOST:PORT[,HOST:PORT...]",
        action="append",
        dest="grpc" + suffix,
        default=argparse.SUPPRESS,
        help="gRPC endpoint, e.g. 127.0.0.1:8500 or dns:///name:8500 (every address the name "
        "resolves to); several replicas: comma-separated or the flag repeated",
    )
    flags.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default=argparse.SUPPRESS,
        help="v1: TF Serving's API (default); v2: the Open Inference Protocol (KServe v2, Triton)",
    )
    flags.add_argument(
        "--tls",
        action="store_true",
        default=argparse.SUPPRESS,
        help="gRPC over TLS with the system's root certificates",
    )
    flags.add_argument("--timeout", type=float, default=argparse.SUPPRESS, help="seconds per call (default 120)")
    return flags


def in_batches(items: Sequence[T], size: int, work: Callable[[Sequence[T]], list[R]], what: str) -> list[R]:
    """Run `work` batch by batch, reporting progress on stderr when there is more than one batch."""
    results: list[R] = []
    total = len(items)
    for start in range(0, total, size):
        results.extend(work(items[start : start + size]))
        if total > size:
            print(f"\r{what}: {min(start + size, total)}/{total}", end="", file=sys.stderr, flush=True)
    if total > size:
        print(file=sys.stderr)
    return results


def parse_seeds(text: str) -> list[int]:
    """`0-7`, `1,5,9` or a mix: `0-3,10`."""
    seeds: list[int] = []
    for part in text.split(","):
        if "-" in part.strip()[1:]:
            first, last = part.rsplit("-", 1)
            seeds.extend(range(int(first), int(last) + 1))
        elif part.strip():
            seeds.append(int(part))
    if not seeds:
        raise argparse.ArgumentTypeError(f"no seeds in {text!r}")
    return seeds


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return b64.encode(value)
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value


def _address(args: argparse.Namespace) -> dict[str, Any]:
    return {"version": args.version, "label": args.label}


def cmd_status(client, args) -> None:
    for s in client.status(args.model, **_address(args)):
        print(
            f"{args.model} version {s.version}: {s.state} "
            f"({s.error_code}{': ' + s.error_message if s.error_message else ''})"
        )


def cmd_metadata(client, args) -> None:
    meta = client.metadata(args.model, **_address(args))
    print(f"{meta.model} version {meta.version}")
    for sig in meta.signatures.values():
        if sig.name.startswith("__"):
            continue
        print(f"  signature {sig.name} ({sig.method_name})")
        for kind, tensors in (("in ", sig.inputs), ("out", sig.outputs)):
            for t in tensors.values():
                shape = "unknown rank" if t.shape is None else list(t.shape)
                print(f"    {kind} {t.name}: {t.dtype} {shape}")


def cmd_predict(client, args) -> None:
    text = Path(args.inputs[1:]).read_text() if args.inputs.startswith("@") else args.inputs
    inputs = json.loads(text)
    outputs = client.predict(args.model, inputs, signature=args.signature, **_address(args))
    print(json.dumps({k: _jsonable(v) for k, v in outputs.items()}, indent=None))


def cmd_classify_image(client, args) -> None:
    from clients.tasks import classify_images

    def work(batch):
        return classify_images(client, batch, args.model, **_address(args))

    for path, top in zip(args.images, in_batches(args.images, args.batch_size, work, "classified")):
        print(f"{path}:")
        for name, score in top:
            print(f"  {score:.4f}  {name}")


def cmd_detect(client, args) -> None:
    from clients.draw import draw_detections
    from clients.tasks import detect_many

    def work(batch):
        return detect_many(
            client,
            batch,
            args.model,
            score_threshold=args.score_threshold,
            max_detections=args.max_detections,
            **_address(args),
        )

    args.out.mkdir(parents=True, exist_ok=True)
    for path, detections in zip(args.images, in_batches(args.images, args.batch_size, work, "detected")):
        target = args.out / f"{Path(path).stem}_detections.png"
        draw_detections(path, detections).save(target)
        print(f"{path}: {len(detections)} detections -> {target}")
        for d in detections:
            print(f"  {d.score:.3f}  {d.label:<16} box {[round(v, 1) for v in d.box]}")


def cmd_generate(client, args) -> None:
    from clients.draw import image_grid
    from clients.tasks import generate

    def work(batch):
        return generate(client, batch, args.psi, args.model, **_address(args))

    images = in_batches(args.seeds, args.batch_size, work, "generated")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image_grid(images, args.columns).save(args.out)
    print(f"{len(images)} samples ({images[0].size[0]}x{images[0].size[1]}) -> {args.out}")


def cmd_segment(client, args) -> None:
    from clients.tasks import segment_many

    colors = None
    if args.categories is not None:
        from protocol.panoptic import read_categories

        colors = {c["id"]: c["color"] for c in read_categories(args.categories) if c.get("color")}

    def work(batch):
        return segment_many(client, batch, args.model, colors=colors, **_address(args))

    args.out.mkdir(parents=True, exist_ok=True)
    for path, result in zip(args.images, in_batches(args.images, args.batch_size, work, "segmented")):
        picture, segments_png = (
            args.out / f"{Path(path).stem}_panoptic.png",
            args.out / f"{Path(path).stem}_segments.png",
        )
        result.picture.save(picture)
        segments_png.write_bytes(result.png)
        print(f"{path}: {len(result.segments)} segments -> {picture} (segment map: {segments_png})")
        for s in result.segments:
            kind = "thing" if s.isthing else "stuff"
            print(f"  id {s.id:<3} {s.category_name:<24} {kind}  score {s.score:.3f}  area {s.area} px")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m clients",
        description="Call a TensorFlow Serving server (or, with --protocol v2, any Open Inference Protocol "
        "server): give --rest URL or --grpc HOST:PORT, before or after the command.",
        parents=[_transport_flags(after=False)],
    )
    transport = _transport_flags(after=True)
    sub = p.add_subparsers(dest="command", required=True)

    def command(name: str, fn, help_text: str, model_default: str | None = None) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help_text, parents=[transport])
        if model_default is None:
            c.add_argument("model")
        else:
            c.add_argument("--model", default=model_default, help=f"served model name (default {model_default})")
        which = c.add_mutually_exclusive_group()
        which.add_argument("--version", type=int, default=None, help="a specific version")
        which.add_argument("--label", default=None, help="a version label, e.g. stable")
        c.set_defaults(fn=fn)
        return c

    command("status", cmd_status, "version states of a model")
    command("metadata", cmd_metadata, "signatures of a model")
    c = command("predict", cmd_predict, "run a signature on JSON inputs")
    c.add_argument("--inputs", required=True, help="JSON object by input name (or a bare tensor), or @file.json")
    c.add_argument("--signature", default="serving_default")
    c = command("classify-image", cmd_classify_image, "top-k ImageNet classes per image", "efficientnet")
    c.add_argument("images", nargs="+")
    c.add_argument("--batch-size", type=int, default=8)
    c = command("detect", cmd_detect, "objects per image; writes pictures with boxes", "detr")
    c.add_argument("images", nargs="+")
    c.add_argument("--out", type=Path, default=Path("out"), help="folder for the pictures (default out/)")
    c.add_argument(
        "--score-threshold",
        "--threshold",
        dest="score_threshold",
        type=float,
        default=None,
        help="minimum score, as detect(score_threshold=...) (default: the export's)",
    )
    c.add_argument("--max-detections", type=int, default=None)
    c.add_argument("--batch-size", type=int, default=4)
    c = command(
        "segment",
        cmd_segment,
        "panoptic segments per image; writes coloured pictures and segment maps",
        "detr-panoptic",
    )
    c.add_argument("images", nargs="+")
    c.add_argument(
        "--out",
        type=Path,
        default=Path("out"),
        help="folder for <image>_panoptic.png (picture) and <image>_segments.png (COCO panoptic PNG)",
    )
    c.add_argument(
        "--categories",
        default=None,
        help='category table with colours ({"categories": [{"id", "name", "isthing", '
        '"color"}]}); default the COCO panoptic colours',
    )
    c.add_argument("--batch-size", type=int, default=2)
    c = command("generate", cmd_generate, "StyleGAN samples as a PNG grid", "stylegan")
    c.add_argument("--seeds", type=parse_seeds, default=parse_seeds("0-7"), help="e.g. 0-7 or 1,5,9 (default 0-7)")
    c.add_argument("--psi", type=float, default=0.7, help="truncation psi (default 0.7)")
    c.add_argument("--out", type=Path, default=Path("out/stylegan_grid.png"))
    c.add_argument("--columns", type=int, default=None)
    c.add_argument("--batch-size", type=int, default=4)
    return p


def main(argv: Iterable[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(None if argv is None else list(argv))
    for name in ("rest", "grpc"):
        setattr(args, name, split_addresses(getattr(args, name, []) + getattr(args, f"{name}_after", [])))
    if bool(args.rest) == bool(args.grpc):
        parser.error("give one of --rest URL or --grpc HOST:PORT (before or after the command)")
    for name, default in (("tls", False), ("timeout", 120.0), ("protocol", "v1")):
        if not hasattr(args, name):
            setattr(args, name, default)
    client = make_client(args)
    try:
        args.fn(client, args)
    except ServingError as e:
        print(f"error: {e.code}: {e.message}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        client.close()
    return 0
