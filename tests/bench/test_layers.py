"""bench/layers.py reads a k-layer encoder's head input out of features pooled over all layers."""

from __future__ import annotations

import numpy as np
import pytest

from bench.layers import HIDDEN_POOLED, layer_columns


def _pooled_over_twelve_layers():
    """Two texts; every value is the number of the layer it was pooled from."""
    return np.repeat(np.arange(1, 13), HIDDEN_POOLED)[None, :].repeat(2, axis=0)


@pytest.mark.parametrize("depth", [4, 6, 8, 12])
def test_a_k_layer_head_reads_the_four_layers_ending_at_layer_k(depth):
    columns = layer_columns(_pooled_over_twelve_layers(), depth)
    assert columns.shape == (2, 4 * HIDDEN_POOLED)
    assert sorted(set(columns[0].tolist())) == [depth - 3, depth - 2, depth - 1, depth]
    assert columns[0, 0] == depth - 3 and columns[0, -1] == depth


@pytest.mark.parametrize("depth", [3, 13])
def test_a_depth_without_four_layers_to_pool_is_refused(depth):
    with pytest.raises(ValueError, match="pooled layers"):
        layer_columns(_pooled_over_twelve_layers(), depth)
