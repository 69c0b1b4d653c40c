"""A stride-2 5x5 transposed convolution as convolutions at the input's resolution and an interleave; numpy, no torch.

ConvTranspose2d(5, stride 2, padding 2, output padding 1) writes every output phase (a_h, a_w) of the
2x-upsampled grid from a 3x3 neighbourhood of the input. Two forms, the same products summed in another order:
- sub-pixel: one 3x3 convolution (padding 1) producing 4 * C_out channels, interleaved by a pixel shuffle
  (torch's `pixel_shuffle(…, 2)`, ONNX `DepthToSpace` in CRD mode). 36 taps per input pixel where the
  transposed convolution has 25: a phase 1 never reads offset -1, and those taps are zeros;
- exact phases (`phase_kernels`): one convolution per phase with only its own taps (3x3, 3x2, 2x3, 2x2: the 25),
  each C_out channels, interleaved the same way.
The torch inference U-Net uses the sub-pixel form (last layer); the ONNX graph both (`runtime/onnx_graph.py`).

The mask layer after the last transposed convolution, a 4x4 convolution with dilation 2 and padding 3, can run on
the phases before they are interleaved (`mask_phase_kernel`): its taps sit at odd offsets (-3, -1, +1, +3), so
each output phase reads only the opposite input phase, at four consecutive pixels of the half-resolution grid.
As one convolution over all phases most of its products are zeros (each output reads a quarter of the inputs);
`mask_depthwise_form` keeps only the products that count: one depthwise 5x5 filter per (output, input) channel
pair, summed by a 1x1 convolution.
"""
from __future__ import annotations

import numpy as np

#: Kernel tap of a 5x5, stride-2, padding-2 transposed convolution that output phase `a` (0 or 1) takes
#: from the input at offset `d` (-1, 0 or +1) along one axis; phase 1 never uses offset -1.
SUBPIXEL_TAPS = {(0, 1): 0, (0, 0): 2, (0, -1): 4, (1, 1): 1, (1, 0): 3}
#: (offset, tap) pairs along one axis of each phase, offsets ascending: phase 0 reads -1, 0, +1; phase 1 reads 0, +1
PHASE_TAPS = {phase: sorted((offset, tap) for (of_phase, offset), tap in SUBPIXEL_TAPS.items() if of_phase == phase)
              for phase in (0, 1)}


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


def phase_kernels(weight: np.ndarray) -> list[tuple[np.ndarray, list[int]]]:
    """Rewrite a ConvTranspose2d(5, stride 2, padding 2, output padding 1) weight as four convolutions, one per
    output phase, each with only the taps that phase uses.

    Args:
        weight: (C_in, C_out, 5, 5) transposed-convolution weight.

    Returns:
        [(kernel, pads)] for phases (a_h, a_w) = (0, 0), (0, 1), (1, 0), (1, 1): kernel (C_out, C_in, k_h, k_w)
        with k = 3 for phase 0 and 2 for phase 1 along that axis, same dtype; pads [top, left, bottom, right]
        (ONNX order) for an output of the input's size. Phase (a_h, a_w) of output channel c is that
        convolution's channel c (bias not included: the transposed convolution's, per channel).
    """
    kernels = []
    for phase_h in (0, 1):
        for phase_w in (0, 1):
            rows, columns = PHASE_TAPS[phase_h], PHASE_TAPS[phase_w]
            taps = weight[:, :, [tap for _, tap in rows]][:, :, :, [tap for _, tap in columns]]  # (C_in, C_out, k_h, k_w)
            pads = [-rows[0][0], -columns[0][0], rows[-1][0], columns[-1][0]]
            kernels.append((np.ascontiguousarray(taps.transpose(1, 0, 2, 3)), pads))
    return kernels


#: half-resolution offsets that `mask_phase_kernel`'s kernel spans either side (-2 .. +2), hence its padding
MASK_PHASE_REACH = 2


def mask_phase_kernel(weight: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Rewrite the mask layer (Conv2d, kernel 4, dilation 2, padding 3) on an image that arrives as its 2x2 phases
    (channel 4c + 2a_h + a_w holds pixels (2y + a_h, 2x + a_w) of channel c, the sub-pixel layout) as one
    convolution on those phases, same layout out.

    Along one axis, output phase a at half-resolution pixel m is full-resolution pixel 2m + a; tap k reads pixel
    2m + a + 2k - 3, which is phase 1 - a at pixel m + (k + a - 2): offsets -2..+1 for phase 0, -1..+2 for phase
    1. Both fit a 5x5 kernel (padding 2) whose other taps are zero, and the phases' zero padding is the full
    image's.

    Args:
        weight: (C_out, C_in, 4, 4) the mask layer's weight.

    Returns:
        (kernel (4 * C_out, 4 * C_in, 5, 5) same dtype, pads [top, left, bottom, right] in ONNX order).
    """
    out_channels, in_channels, taps, _ = weight.shape
    size = 2 * MASK_PHASE_REACH + 1
    kernel = np.zeros((out_channels, 2, 2, in_channels, 2, 2, size, size), dtype=weight.dtype)
    for phase_h in (0, 1):
        for phase_w in (0, 1):
            for tap_h in range(taps):
                for tap_w in range(taps):  # kernel index = offset + MASK_PHASE_REACH = tap + phase
                    kernel[:, phase_h, phase_w, :, 1 - phase_h, 1 - phase_w, tap_h + phase_h, tap_w + phase_w] = weight[:, :, tap_h, tap_w]
    return kernel.reshape(4 * out_channels, 4 * in_channels, size, size), [MASK_PHASE_REACH] * 4


def mask_depthwise_form(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`mask_phase_kernel`'s convolution as a depthwise one and a sum: each output channel 4o + p (phase p of
    mask channel o) adds, over the input channels i, input phase-channel 4i + (3 - p) filtered by its own 5x5
    kernel. One filter per such (output, input) pair, P = 4 * C_out * C_in of them, each on a copy of the one
    phase-channel it reads, then a 1x1 convolution of ones and zeros adds each output's C_in filtered copies.
    The same products as `mask_phase_kernel` without its zeros: for the official layer (2 -> 2 channels) 16
    depthwise channels, the width of one AVX-512 block of ORT's blocked layout.

    Args:
        weight: (C_out, C_in, 4, 4) the mask layer's weight.

    Returns:
        sources (P,) int: the phase-channel (of the 4 * C_in) that depthwise channel d reads;
        depthwise (P, 1, 5, 5) same dtype as weight: the filters, padding `MASK_PHASE_REACH` as `mask_phase_kernel`;
        summing (4 * C_out, P, 1, 1) same dtype: 1 where depthwise channel d adds into output channel 4o + p.
    """
    kernel, _ = mask_phase_kernel(weight)
    out_channels, in_channels = weight.shape[:2]
    pairs = [(4 * out_channel + phase, 4 * in_channel + 3 - phase)  # (output, the opposite phase it reads)
             for phase in range(4) for out_channel in range(out_channels) for in_channel in range(in_channels)]
    sources = np.array([source for _, source in pairs])
    depthwise = np.stack([kernel[output, source] for output, source in pairs])[:, None]
    summing = np.zeros((4 * out_channels, len(pairs), 1, 1), dtype=weight.dtype)
    for channel, (output, _) in enumerate(pairs):
        summing[output, channel] = 1
    return sources, depthwise, summing
