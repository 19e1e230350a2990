"""Compound scaling: custom bases change only their dimension; impossible coefficients are clear errors."""

import pytest

from export.efficientnet.networks.scaling import custom_scaling
from export.errors import ExportError


def test_custom_bases_change_only_their_dimension():
    scaling = custom_scaling(1, alpha=1.0, beta=1.0, gamma=1.5)
    assert (scaling.width, scaling.depth, scaling.resolution) == (1.0, 1.0, 336)


def test_custom_scaling_rejects_nonsense():
    with pytest.raises(ExportError, match="--phi"):
        custom_scaling(-1)
    with pytest.raises(ExportError, match="--beta"):
        custom_scaling(1, beta=0.5)
