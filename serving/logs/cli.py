"""Reads request logs: TFRecord files of PredictionLog, by file or by the `filename_prefix` that wrote them.

    python -m serving.logs list /var/log/serving/efficientnet        files, records, time span, models
    python -m serving.logs print PATH... [--limit N] [--text]          one line per record, or its full text
    python -m serving.logs convert PATH... --warmup DIR_OR_FILE        a version's warmup file (requests only)
    python -m serving.logs convert PATH... --jsonl FILE                one JSON object per record

A PATH is a log file or a prefix (every `{prefix}.*.tfrecord`, oldest first). A file still being written may
end inside a record: that record is left out with a note. No TensorFlow is imported.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from google.protobuf import json_format, text_format

from protocol.generated.tensorflow_serving.apis import prediction_log_pb2
from protocol.layout import MAX_WARMUP_RECORDS, WARMUP_FILE
from serving.logs import tfrecord
from serving.logs.collector import log_files

LOG_KINDS = ("predict_log", "classify_log", "regress_log", "multi_inference_log")


def files_of(paths: Sequence[str]) -> list[str]:
    """The log files `paths` name: files as given, prefixes expanded (oldest file first)."""
    found = []
    for path in paths:
        if os.path.isfile(path):
            found.append(path)
            continue
        matched = log_files(path)
        if not matched:
            raise SystemExit(f"serving.logs: {path}: no such file, and no request log files with that prefix")
        found.extend(matched)
    return found


def records(path: str, notes: list[str]) -> Iterator[prediction_log_pb2.PredictionLog]:
    """The PredictionLog records of one file; problems (a truncated end, a corrupt record) go to `notes`."""
    with open(path, "rb") as stream:
        try:
            for index, data in enumerate(tfrecord.read_records(stream)):
                record = prediction_log_pb2.PredictionLog()
                try:
                    record.ParseFromString(data)
                except Exception:  # noqa: BLE001 - protobuf raises DecodeError subclasses
                    notes.append(f"{path}: record {index} is not a PredictionLog; skipped")
                    continue
                yield record
        except tfrecord.TruncatedRecord:
            notes.append(f"{path}: ends inside a record (still being written?); the partial record is left out")
        except tfrecord.CorruptRecord as e:
            notes.append(f"{path}: {e}; the rest of the file is not read")


def _time(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if seconds else "-"


def summary(record: prediction_log_pb2.PredictionLog) -> str:
    """One line: time, kind, model, version, signature and what the request held."""
    metadata = record.log_metadata
    kind = record.WhichOneof("log_type") or "none"
    spec = metadata.model_spec
    line = f"{_time(metadata.timestamp_secs)} {kind} {spec.name} v{spec.version.value} {spec.signature_name or '-'}"
    if kind == "predict_log":
        request = record.predict_log.request
        shapes = ", ".join(
            f"{name}:{'x'.join(str(d.size) for d in tensor.tensor_shape.dim) or 'scalar'}"
            for name, tensor in sorted(request.inputs.items())
        )
        line += f" inputs[{shapes}] outputs[{', '.join(sorted(record.predict_log.response.outputs))}]"
    elif kind in LOG_KINDS:
        request = getattr(record, kind).request
        examples = request.input.example_list.examples or request.input.example_list_with_context.examples
        line += f" examples={len(examples)}"
    return line + f" bytes={record.ByteSize()}"


def _list(args: argparse.Namespace) -> int:
    notes: list[str] = []
    for path in files_of(args.paths):
        count, first, last, models = 0, 0, 0, set()
        for record in records(path, notes):
            count += 1
            stamp = record.log_metadata.timestamp_secs
            first, last = (stamp if not first else min(first, stamp)), max(last, stamp)
            spec = record.log_metadata.model_spec
            models.add(f"{spec.name}:{record.WhichOneof('log_type')}")
        print(
            f"{path}\t{os.path.getsize(path)} bytes\t{count} records\t{_time(first)} .. {_time(last)}\t"
            f"{' '.join(sorted(models))}"
        )
    _notes(notes)
    return 0


def _print(args: argparse.Namespace) -> int:
    notes: list[str] = []
    shown = 0
    for path in files_of(args.paths):
        for record in records(path, notes):
            if args.limit and shown >= args.limit:
                _notes(notes)
                return 0
            print(text_format.MessageToString(record) + "---" if args.text else summary(record))
            shown += 1
    _notes(notes)
    return 0


def _convert(args: argparse.Namespace) -> int:
    notes: list[str] = []
    count = 0
    if args.warmup:
        target = args.warmup
        if os.path.isdir(target):  # a version directory: its assets.extra/tf_serving_warmup_requests
            target = os.path.join(target, WARMUP_FILE)
            os.makedirs(os.path.dirname(target), exist_ok=True)
        limit = min(args.limit or MAX_WARMUP_RECORDS, MAX_WARMUP_RECORDS)
        partial = target + ".partial"
        with open(partial, "wb") as out:
            for path in files_of(args.paths):
                for record in records(path, notes):
                    kind = record.WhichOneof("log_type")
                    if kind not in LOG_KINDS or count >= limit:
                        continue
                    if not args.keep_responses:  # warmup replays requests; their answers are not read
                        getattr(record, kind).ClearField("response")
                    out.write(tfrecord.frame(record.SerializeToString()))
                    count += 1
        os.replace(partial, target)  # a server never sees half a warmup file
        print(f"{count} records written to {target}")
    else:
        with open(args.jsonl, "w", encoding="utf-8") as out:
            for path in files_of(args.paths):
                for record in records(path, notes):
                    out.write(json_format.MessageToJson(record, indent=None) + "\n")
                    count += 1
                    if args.limit and count >= args.limit:
                        break
        print(f"{count} records written to {args.jsonl}")
    _notes(notes)
    return 0


def _notes(notes: list[str]) -> None:
    for note in notes:
        print(f"serving.logs: {note}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m serving.logs", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="files with their record counts, time span and models")
    listing.add_argument("paths", nargs="+", help="log files or filename prefixes")
    listing.set_defaults(run=_list)
    printing = commands.add_parser("print", help="one line per record (--text: the whole record)")
    printing.add_argument("paths", nargs="+")
    printing.add_argument("--limit", type=int, default=0, help="at most this many records (0: all)")
    printing.add_argument("--text", action="store_true", help="each record in protobuf text format")
    printing.set_defaults(run=_print)
    converting = commands.add_parser("convert", help="a warmup file, or JSON lines")
    converting.add_argument("paths", nargs="+")
    target = converting.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--warmup",
        help=f"a version directory (written to its {WARMUP_FILE}) or a file; at most {MAX_WARMUP_RECORDS} records",
    )
    target.add_argument("--jsonl", help="a file of one JSON object (protobuf JSON) per record")
    converting.add_argument("--limit", type=int, default=0, help="at most this many records (0: all)")
    converting.add_argument(
        "--keep-responses", action="store_true", help="keep the logged answers in the warmup file (left out by default)"
    )
    converting.set_defaults(run=_convert)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:  # e.g. piped into head
        return 0
    except OSError as e:
        print(f"serving.logs: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 1
