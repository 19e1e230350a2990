"""The training commands' architecture flags: the defaults are DETR-R50, and a config written out as flags
(`architecture_flags`) builds the same config again."""

import argparse
import dataclasses

import pytest

from export.detr.networks.detr import DETRConfig
from export.detr.training.arguments import add_architecture_arguments, architecture_config, architecture_flags
from tests.fixtures.detr import tiny_detr_config


def _parse(flags: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_architecture_arguments(parser)
    return parser.parse_args(flags)


def test_no_flags_are_detr_r50_with_the_datasets_classes():
    assert architecture_config(_parse([]), 91) == DETRConfig.official("resnet50")
    assert architecture_config(_parse([]), 4) == dataclasses.replace(DETRConfig.official("resnet50"), num_classes=4)


@pytest.mark.parametrize(
    "config",
    [
        tiny_detr_config(num_classes=4, dropout=0.0),
        tiny_detr_config(blocks=(1, 1, 2, 2), dilation=True, num_queries=10),
        dataclasses.replace(DETRConfig.official("resnet101", dilation=True), num_classes=251),
    ],
    ids=["tiny", "tiny-dc5", "r101-dc5"],
)
def test_a_config_written_as_flags_is_read_back_whole(config):
    assert architecture_config(_parse(architecture_flags(config)), num_classes=1) == config
