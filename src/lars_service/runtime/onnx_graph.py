"""The ONNX graph of the official LarsNet U-Net, built from a state dict of numpy arrays (no torch).

Arrays in, ONNX bytes out. The graph computes `larsnet.unet.UNet.forward` for inference, rewritten for
ONNX Runtime's CPU kernels, each change exact up to the order of summation:
- batch norms (eval mode) as per-channel scale and shift (`x * scale + shift`): in the encoder a depthwise
  1x1 Conv (scale as weight, shift as bias) that ORT keeps in its blocked NCHWc layout with the LeakyReLU
  fused in, where Mul and Add sent every block out to NCHW and back;
- the stride-2 5x5 transposed convolutions, ORT's slowest kernel here, as convolutions at the input's resolution
  (`larsnet/subpixel.py`) interleaved by a grouped 2x2 stride-2 ConvTranspose with one-hot weights
  (`interleave_weight`): the same bits as DepthToSpace (CRD), three times faster in ORT; the decoder's batch norm
  rides in that interleave (one-hot weights times the scale, the shift as bias). Decoder layers 1-5 run one
  convolution per output phase with only that phase's taps (3x3, 3x2, 2x3, 2x2: the transposed convolution's 25
  products per input pixel), stacked into the interleave's channel order (Unsqueeze, Concat, Reshape). The last
  layer, whose phases have 2 channels each (ORT's blocked layout computes 16 per convolution), runs one 3x3
  sub-pixel convolution, and the mask layer after it runs on those phases too, as depthwise filters and a sum,
  interleaved once at the very end (`_mask_from_phases`). Graph version 4 (exact phases) ran a U-Net segment in
  155 ms where version 3 (3x3 sub-pixel everywhere) took 180; version 5 (the last layer and the mask on the
  phases) 132 where version 4 took 141; version 6 (the mask as depthwise filters) 123 where version 5 took 130
  (docs/performance.md);
- the sigmoid as 1 / (1 + exp(-x)), from the mask convolution with negated weights: ORT's CPU Sigmoid is an
  approximation that returns exactly 0 for x <= -18, and the alpha-Wiener filter divides by the sum of the masks.
Weights are the graph's initializers (never `SessionOptions.add_initializer`, which gave wrong outputs
at ORT_ENABLE_ALL).

Input `magnitude` float32 (batch, 2, F, T), F the U-Net's bins (2048), T any multiple of 64
(`checkpoints.UNET_FRAME_MULTIPLE`);
output `mask` float32 (batch, 2, F, T) in [0, 1].

A segment ending in silence (zero frames from frame V on, as the file's last segment is padded) gives the
same masks at frames < T - EDGE_REACH_FRAMES whatever T is (T >= 256, a multiple of 64): the zeros are
translation-invariant, and only the convolutions' zero padding at the right edge, which first differs from
the silent frames' constant activations in the second encoder layer, changes anything. Layer by layer its
first affected column is T/4 - 1 at the second encoder layer, T/64 - 1 at the sixth, and back up the decoder
(convolutions reaching one pixel either side, each 2x interleave doubling, the mask layer's dilated taps
reaching 3 frames) frame T - 193 of the mask. So the file's last segment runs T = V + 193 rounded up to a
multiple of 64 frames when that is shorter than 512, with masks bit-identical to the published 512-frame
computation (`tests/test_onnx_runtime.py`).
"""
from __future__ import annotations

import numpy as np

from lars_service.larsnet.checkpoints import ENCODER_CHANNELS
from lars_service.larsnet.subpixel import (
    MASK_PHASE_REACH, mask_depthwise_form, phase_kernels, subpixel_bias, subpixel_weight,
)

OPSET = 17
IR_VERSION = 8
BATCH_NORM_EPS = 1e-5
INPUT_NAME = "magnitude"
OUTPUT_NAME = "mask"
FAMILY = "larsnet-unet"
#: the graph's form; model files record it and are rebuilt when it changes
GRAPH_VERSION = "6"
#: how the decoder's transposed convolutions are computed (`unet_onnx_bytes`); the first is the default
DECODER_FORMS = ("phases", "subpixel", "convtranspose")
#: frames at a segment's end whose masks depend on where the segment ends (module docstring)
EDGE_REACH_FRAMES = 193


def batch_norm_affine(state: dict[str, np.ndarray], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift), float32 (features,), such that batch_norm(x) == x * scale + shift in eval mode."""
    scale = state[f"{prefix}.weight"].astype(np.float64) / np.sqrt(state[f"{prefix}.running_var"].astype(np.float64) + BATCH_NORM_EPS)
    shift = state[f"{prefix}.bias"] - state[f"{prefix}.running_mean"] * scale
    return scale.astype(np.float32), shift.astype(np.float32)


def interleave_weight(scale: np.ndarray) -> np.ndarray:
    """ConvTranspose weights, (4 * channels, 1, 2, 2) float32, that with group=channels, kernel 2 and stride 2 put
    channel 4c + 2dy + dx, times scale[c], at pixel (2y + dy, 2x + dx) of output channel c: DepthToSpace
    (blocksize 2, CRD) as a kernel ORT runs multi-threaded (its DepthToSpace took 16% of a U-Net's time,
    single-threaded), with a per-channel scale (ones for a plain interleave).

    Args:
        scale: (channels,) float32.
    """
    weight = np.zeros((4 * scale.size, 1, 2, 2), dtype=np.float32)
    for phase in range(4):
        weight[phase::4, 0, phase // 2, phase % 2] = scale
    return weight


class _GraphBuilder:
    """Builds the model's graph in place (`model.graph`); every tensor gets a fresh name.

    Nodes and initializers go straight into the one ModelProto that is serialised: building a graph and then
    a model from it (`helper.make_graph`, `helper.make_model`) copies every weight twice more: building one
    U-Net (49 MB of initializers) peaked 250 MB above its state dict that way, 183 MB this way.
    """

    def __init__(self) -> None:
        from onnx import ModelProto, helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.model = ModelProto()
        self.count = 0

    def constant(self, name: str, array: np.ndarray | list[int], dtype: type = np.float32) -> str:
        """An initializer holding `array` as `dtype` (float32 weights; int64 for axes and shapes)."""
        stored = np.dtype(dtype).newbyteorder("<")
        tensor = self.model.graph.initializer.add()
        tensor.name = name
        tensor.data_type = self.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
        tensor.dims.extend(np.shape(array))
        tensor.raw_data = np.ascontiguousarray(array, dtype=stored).tobytes()
        return name

    def node(self, op: str, inputs: list[str], output: str | None = None, **attributes: object) -> str:
        self.count += 1
        output = output or f"{op.lower()}_{self.count}"
        self.model.graph.node.append(self.helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    def affine(self, features: str, scale: np.ndarray, shift: np.ndarray, name: str) -> str:
        """features * scale + shift, per channel (axis 1), as Mul and Add."""
        scaled = self.node("Mul", [features, self.constant(f"{name}.scale", scale.reshape(-1, 1, 1))])
        return self.node("Add", [scaled, self.constant(f"{name}.shift", shift.reshape(-1, 1, 1))])

    def sigmoid_of_negated(self, negated: str, output: str | None = None) -> str:
        """sigmoid(x) = 1 / (1 + exp(-x)) from -x (the mask convolution's weights are negated): exact in float32,
        where ORT's Sigmoid flushes to 0 for x <= -18 (and the alpha-Wiener filter divides by the masks' sum)."""
        return self.node("Reciprocal", [self.node("Add", [self.node("Exp", [negated]), self.constant("one", np.ones(1))])], output)

    def depthwise_affine(self, features: str, scale: np.ndarray, shift: np.ndarray, name: str) -> str:
        """features * scale + shift, per channel (axis 1), as a depthwise 1x1 Conv (ORT fuses a following activation)."""
        return self.node("Conv", [features, self.constant(f"{name}.scale", scale.reshape(-1, 1, 1, 1)),
                                  self.constant(f"{name}.shift", shift)], kernel_shape=[1, 1], group=scale.size)


def _mask_from_phases(graph: _GraphBuilder, state: dict[str, np.ndarray], skip: str, upsampled: str) -> str:
    """The last decoder layer, its norm and the mask layer, all on the 2x2 phases of the full-resolution image at
    half resolution, interleaved once at the end.

    The interleaved image had 2 channels: ORT's blocked layout computed the mask layer there for 16, from an input
    it had to interleave first. On the phases (`subpixel.mask_phase_kernel`) it was one 8-channel 5x5
    convolution, three quarters of whose products are zeros (graph version 5). Now it runs as 16 depthwise
    filters and a 1x1 sum (`subpixel.mask_depthwise_form`), and the last layer's sub-pixel convolution computes
    each phase-channel once for every depthwise channel that reads it: 16 output channels where it had 8, which
    ORT's blocked layout computed as 16 anyway, so the copies cost nothing and the norm and filters stay in that
    layout. A segment 123 ms where version 5 took 130 (paired runs, docs/performance.md). The last layer's
    convolution runs as two, one on the skip and one on the upsampled input, summed: no Concat at half
    resolution, and the skip stays in ORT's blocked layout.

    Args:
        skip: c_1, the first encoder layer's convolution output (batch, 16, F/2, T/2).
        upsampled: the fifth decoder layer's output (batch, 16, F/2, T/2).

    Returns:
        the name of the graph's output, `mask` (batch, 2, F, T).
    """
    sources, depthwise, summing = mask_depthwise_form(state["mask_layer.0.weight"])
    weight = subpixel_weight(state["dec6.conv_trans.weight"])[sources]  # (16, 32, 3, 3): input channels skip first
    skip_channels = state["enc1.conv.weight"].shape[0]
    from_skip = graph.node("Conv", [skip, graph.constant("dec6.weight_skip", weight[:, :skip_channels])],
                           kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    from_upsampled = graph.node("Conv", [upsampled, graph.constant("dec6.weight_upsampled", weight[:, skip_channels:]),
                                         graph.constant("dec6.bias", subpixel_bias(state["dec6.conv_trans.bias"])[sources])],
                                kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    phases = graph.node("Relu", [graph.node("Add", [from_upsampled, from_skip])])
    scale, shift = batch_norm_affine(state, "dec6.bn")
    normed = graph.depthwise_affine(phases, np.repeat(scale, 4)[sources], np.repeat(shift, 4)[sources], "dec6")
    filtered = graph.node("Conv", [normed, graph.constant("mask.weight", -depthwise)], kernel_shape=[5, 5],
                          pads=[MASK_PHASE_REACH] * 4, group=len(sources))
    negated_logits = graph.node("Conv", [filtered, graph.constant("mask.sum", summing),
                                         graph.constant("mask.bias", -np.repeat(state["mask_layer.0.bias"], 4))],
                                kernel_shape=[1, 1])
    masks = graph.sigmoid_of_negated(negated_logits)
    channels = state["mask_layer.0.weight"].shape[0]
    return graph.node("ConvTranspose", [masks, graph.constant("mask.interleave", interleave_weight(np.ones(channels, np.float32)))],
                      OUTPUT_NAME, kernel_shape=[2, 2], strides=[2, 2], group=channels)


def unet_onnx_bytes(state: dict[str, np.ndarray], bins: int = 2048, decoder: str = DECODER_FORMS[0], stem: str = "",
                    metadata: dict[str, str] | None = None) -> bytes:
    """Serialised ONNX model of one U-Net.

    Args:
        state: the official `model_state_dict` as numpy arrays (names and shapes checked by the caller).
        bins: F, the frequency bins the U-Net sees.
        decoder: how the transposed convolutions run (`DECODER_FORMS`): "phases" (exact-tap phase convolutions,
            the last layer sub-pixel with the mask layer on its phases; the fastest in ORT), "subpixel" (3x3
            sub-pixel convolutions everywhere) or "convtranspose" (ORT's ConvTranspose); the other two for measuring
            the difference.
        stem: recorded in the model's metadata.
        metadata: more metadata_props (e.g. which weights file it was made from).

    Returns:
        the model, `magnitude` (batch, 2, F, T) -> `mask` (batch, 2, F, T).
    """
    from onnx import TensorProto, helper

    if decoder not in DECODER_FORMS:
        raise ValueError(f"decoder must be one of {DECODER_FORMS}, not {decoder!r}")
    graph = _GraphBuilder()
    input_scale, input_shift = batch_norm_affine(state, "input_norm")  # over the F bins: axis 2
    features = graph.node("Mul", [INPUT_NAME, graph.constant("input_norm.scale", input_scale.reshape(1, -1, 1))])
    features = graph.node("Add", [features, graph.constant("input_norm.shift", input_shift.reshape(1, -1, 1))])
    skips = []
    for index in range(1, 7):
        prefix = f"enc{index}"
        convolved = graph.node("Conv", [features, graph.constant(f"{prefix}.weight", state[f"{prefix}.conv.weight"]),
                                        graph.constant(f"{prefix}.bias", state[f"{prefix}.conv.bias"])],
                               kernel_shape=[5, 5], strides=[2, 2], pads=[2, 2, 2, 2])
        skips.append(convolved)
        if index < 6:  # the sixth block's activated output is unused
            normed = graph.depthwise_affine(convolved, *batch_norm_affine(state, f"{prefix}.bn"), prefix)
            features = graph.node("LeakyRelu", [normed], alpha=0.2)
    upsampled = skips[5]
    layers_on_the_image = 5 if decoder == "phases" else 6  # the phases form runs the last on its phases
    for index in range(1, layers_on_the_image + 1):
        prefix = f"dec{index}"
        if index > 1:
            upsampled = graph.node("Concat", [skips[6 - index], upsampled], axis=1)
        weight, bias = state[f"{prefix}.conv_trans.weight"], state[f"{prefix}.conv_trans.bias"]
        scale, shift = batch_norm_affine(state, f"{prefix}.bn")
        if decoder == "convtranspose":
            upsampled = graph.node("ConvTranspose", [upsampled, graph.constant(f"{prefix}.weight", weight),
                                                     graph.constant(f"{prefix}.bias", bias)],
                                   kernel_shape=[5, 5], strides=[2, 2], pads=[2, 2, 2, 2], output_padding=[1, 1])
            upsampled = graph.affine(graph.node("Relu", [upsampled]), scale, shift, prefix)
            continue
        # the ReLU acts per channel, so it runs on the phases before they are interleaved (ORT fuses it into the
        # convolution), and the norm's scale and shift are the interleave's weights and bias
        if decoder == "phases":
            height = bins >> (7 - index)  # the input's bins at this layer: the frequency axis is fixed, frames vary
            axis = graph.constant(f"{prefix}.axis", [2], np.int64)
            phases = [graph.node("Unsqueeze", [
                graph.node("Relu", [graph.node("Conv", [upsampled, graph.constant(f"{prefix}.weight{phase}", kernel),
                                                        graph.constant(f"{prefix}.bias{phase}", bias)],
                                               kernel_shape=list(kernel.shape[2:]), pads=pads)]),
                axis]) for phase, (kernel, pads) in enumerate(phase_kernels(weight))]
            # (batch, C, 4, H, W) -> (batch, 4C, H, W): channel 4c + phase, the interleave's order
            phases = graph.node("Reshape", [graph.node("Concat", phases, axis=2),
                                            graph.constant(f"{prefix}.shape", [0, 4 * scale.size, height, -1], np.int64)])
        else:
            phases = graph.node("Relu", [graph.node("Conv", [upsampled, graph.constant(f"{prefix}.weight", subpixel_weight(weight)),
                                                             graph.constant(f"{prefix}.bias", subpixel_bias(bias))],
                                                    kernel_shape=[3, 3], pads=[1, 1, 1, 1])])
        upsampled = graph.node("ConvTranspose", [phases, graph.constant(f"{prefix}.interleave", interleave_weight(scale)),
                                                 graph.constant(f"{prefix}.shift", shift)],
                               kernel_shape=[2, 2], strides=[2, 2], group=scale.size)
    if decoder == "phases":
        _mask_from_phases(graph, state, skips[0], upsampled)
    else:
        negated_logits = graph.node("Conv", [upsampled, graph.constant("mask.weight", -state["mask_layer.0.weight"]),
                                             graph.constant("mask.bias", -state["mask_layer.0.bias"])],
                                    kernel_shape=[4, 4], dilations=[2, 2], pads=[3, 3, 3, 3])
        graph.sigmoid_of_negated(negated_logits, OUTPUT_NAME)
    model = graph.model
    model.graph.name = f"larsnet_unet_{stem or 'stem'}"
    model.graph.input.append(helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", ENCODER_CHANNELS[0], bins, "frames"]))
    model.graph.output.append(helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", ENCODER_CHANNELS[0], bins, "frames"]))
    model.opset_import.append(helper.make_opsetid("", OPSET))
    model.producer_name = "lars-service"
    model.ir_version = IR_VERSION
    helper.set_model_props(model, {"family": FAMILY, "stems": stem, "bins": str(bins), **(metadata or {})})
    return model.SerializeToString()
