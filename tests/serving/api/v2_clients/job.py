"""What the third-party client scripts beside this file are asked to do, and where their answers go.

The scripts run in the third-party venv (tritonclient, kserve; not this project): each reads a job (JSON),
makes its calls with its client as a user's own code would, and writes every output to an .npz file and
what it saw of health and metadata to stdout as JSON. Only numpy and the standard library here.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Call:
    model: str
    inputs: dict[str, np.ndarray]
    version: str = ""
    outputs: list[str] = field(default_factory=list)  # empty: every output
    signature: str = ""  # the signature_name parameter; empty: serving_default
    binary: bool = True  # tensors as binary data (REST); gRPC is always raw


def read_job() -> tuple[dict, list[Call]]:
    """(settings, calls) of the job file named on the command line."""
    with open(sys.argv[1]) as f:
        job = json.load(f)
    arrays = np.load(job["inputs_file"], allow_pickle=True)
    calls = [
        Call(
            model=c["model"],
            inputs={name: arrays[key] for name, key in c["inputs"].items()},
            version=c.get("version", ""),
            outputs=c.get("outputs", []),
            signature=c.get("signature", ""),
            binary=c.get("binary", True),
        )
        for c in job["calls"]
    ]
    return job, calls


def write_answers(job: dict, answers: list[dict[str, np.ndarray]], seen: dict) -> None:
    np.savez(
        job["out"], **{f"{i}/{name}": value for i, outputs in enumerate(answers) for name, value in outputs.items()}
    )
    print(json.dumps(seen))
