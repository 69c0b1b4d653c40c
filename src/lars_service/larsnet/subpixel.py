"""A stride-2 5x5 transposed convolution as a 3x3 convolution and a pixel shuffle (sub-pixel form); numpy, no torch.

ConvTranspose2d(5, stride 2, padding 2, output padding 1) writes every output phase (a_h, a_w) of the
2x-upsampled grid from a 3x3 neighbourhood of the input, so it equals one 3x3 convolution (padding 1)
producing 4 * C_out channels, interleaved by a pixel shuffle (torch's `pixel_shuffle(…, 2)`, ONNX
`DepthToSpace` in CRD mode). Same products, summed in another order. Used by the torch inference U-Net
(last layer) and by the ONNX graph (every decoder layer).
"""
from __future__ import annotations

import numpy as np

#: Kernel tap of a 5x5, stride-2, padding-2 transposed convolution that output phase `a` (0 or 1) takes
#: from the input at offset `d` (-1, 0 or +1) along one axis; phase 1 never uses offset -1.
SUBPIXEL_TAPS = {(0, 1): 0, (0, 0): 2, (0, -1): 4, (1, 1): 1, (1, 0): 3}


def subpixel_weight(weight: np.ndarray) -> np.ndarray:
    """Rewrite a ConvTranspose2d(5, stride 2, padding 2, output padding 1) weight as a 3x3 convolution.

    Args:
        weight: (C_in, C_out, 5, 5) transposed-convolution weight.

    Returns:
        (4 * C_out, C_in, 3, 3), same dtype: output channel 4c + 2a_h + a_w computes phase (a_h, a_w) of
        channel c, the layout a pixel shuffle by 2 interleaves into (C_out, 2H, 2W).
    """
    in_channels, out_channels = weight.shape[:2]
    phases = np.zeros((out_channels, 2, 2, in_channels, 3, 3), dtype=weight.dtype)
    for (phase_h, offset_h), tap_h in SUBPIXEL_TAPS.items():
        for (phase_w, offset_w), tap_w in SUBPIXEL_TAPS.items():
            phases[:, phase_h, phase_w, :, offset_h + 1, offset_w + 1] = weight[:, :, tap_h, tap_w].T
    return phases.reshape(4 * out_channels, in_channels, 3, 3)


def subpixel_bias(bias: np.ndarray) -> np.ndarray:
    """(C_out,) -> (4 * C_out,): each channel's bias for its four phases."""
    return np.repeat(bias, 4)
