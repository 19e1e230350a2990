"""Shared test set-up: quiet TensorFlow, and the exported-model fixtures every suite can reuse."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

pytest_plugins = [
    "tests.fixtures.pictures",
    "tests.fixtures.efficientnet",
    "tests.fixtures.detr",
    "tests.fixtures.stylegan",
    "tests.fixtures.repository",
    "tests.fixtures.object_storage",
    "tests.fixtures.venvs",
    "tests.fixtures.docker",
]
