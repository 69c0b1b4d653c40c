"""A U-Net prepared for inference: the same function as `unet.UNet`, computed faster.

What changes, and why it is exact:
- Batch norms in eval mode are affine maps, precomputed once as per-channel scale and shift
  (`y = x * scale + shift`) and applied in place; dropout is the identity and disappears.
- Tensors are channels-last (NHWC), the layout in which oneDNN runs these convolutions fastest on
  CPUs and cuDNN uses tensor cores on GPUs; activations run in place to save memory traffic.
- The last transposed convolution (32 -> 2 channels at full resolution, where oneDNN's transposed
  kernel is slow) runs as its sub-pixel equivalent: one 3x3 convolution producing the four output
  phases, then a pixel shuffle. Same products, summed in another order.
- Optionally the weights and activations are cast to bfloat16 or float16 (`precision`), which is
  not exact: its error against float32 is measured by benchmarks/bench_inference.py. On the golden
  fixtures bf16 reaches 27-30 dB SDR against fp32 and fp16 36-61 dB; neither stays above 40 dB on
  every fixture, so the service offers neither (the library keeps them for measurement).
"""
from __future__ import annotations

import torch
import torch.nn.functional as functional
from torch import nn

from . import subpixel
from .unet import UNet

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def subpixel_weight(weight: torch.Tensor) -> torch.Tensor:
    """`subpixel.subpixel_weight` on a tensor: (C_in, C_out, 5, 5) -> (4 * C_out, C_in, 3, 3)."""
    return torch.from_numpy(subpixel.subpixel_weight(weight.detach().cpu().numpy())).to(weight.device)


def batch_norm_affine(norm: nn.BatchNorm2d, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift), each reshaped to `shape`, such that norm(x) == x * scale + shift in eval mode."""
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    shift = norm.bias - norm.running_mean * scale
    return scale.reshape(shape).detach(), shift.reshape(shape).detach()


class InferenceUNet(nn.Module):
    """`UNet` for inference: folded batch norms, channels-last layout, optional reduced precision.

    Args:
        unet: the trained network (left unchanged).
        precision: "fp32" (exact), "bf16" or "fp16".
        channels_last: NHWC layout (faster with oneDNN and cuDNN); False keeps NCHW.
    """

    def __init__(self, unet: UNet, precision: str = "fp32", channels_last: bool = True) -> None:
        super().__init__()
        self.bins = unet.bins
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.dtype = PRECISIONS[precision]
        input_scale, input_shift = batch_norm_affine(unet.input_norm, (1, 1, -1, 1))
        self.register_buffer("input_scale", input_scale)
        self.register_buffer("input_shift", input_shift)
        for index in range(1, 7):
            encoder, decoder = getattr(unet, f"enc{index}"), getattr(unet, f"dec{index}")
            self._register_layer(f"enc{index}", encoder.conv.weight, encoder.conv.bias, encoder.bn)
            if index < 6:
                self._register_layer(f"dec{index}", decoder.conv_trans.weight, decoder.conv_trans.bias, decoder.bn)
        last = unet.dec6
        self._register_layer("dec6", subpixel_weight(last.conv_trans.weight), last.conv_trans.bias.repeat_interleave(4), last.bn)
        self.register_buffer("mask_weight", unet.mask_layer[0].weight.detach().clone())
        self.register_buffer("mask_bias", unet.mask_layer[0].bias.detach().clone())
        self.to(memory_format=self.memory_format)
        self.to(self.dtype)

    def _register_layer(self, name: str, weight: torch.Tensor, bias: torch.Tensor, norm: nn.BatchNorm2d) -> None:
        scale, shift = batch_norm_affine(norm, (1, -1, 1, 1))
        self.register_buffer(f"{name}_weight", weight.detach().clone())
        self.register_buffer(f"{name}_bias", bias.detach().clone())
        self.register_buffer(f"{name}_scale", scale)
        self.register_buffer(f"{name}_shift", shift)

    def _layer(self, name: str) -> tuple[torch.Tensor, ...]:
        return tuple(getattr(self, f"{name}_{part}") for part in ("weight", "bias", "scale", "shift"))

    def forward(self, magnitude: torch.Tensor) -> torch.Tensor:
        """Predict a soft mask, as `UNet.forward`.

        Args:
            magnitude: (segments, 2, bins_total >= F, T) folded mixture magnitude, float32.

        Returns:
            mask: (segments, 2, bins_total, T) float32 in [0, 1]; bins at and above F get 0.
        """
        total_bins = magnitude.shape[2]
        features = magnitude[:, :, : self.bins, :].to(self.dtype) * self.input_scale + self.input_shift
        features = features.contiguous(memory_format=self.memory_format)
        skips = []
        for index in range(1, 7):
            weight, bias, scale, shift = self._layer(f"enc{index}")
            convolved = functional.conv2d(features, weight, bias, stride=2, padding=2)
            skips.append(convolved)
            if index < 6:  # the sixth block's activated output is unused
                features = functional.leaky_relu_(torch.addcmul(shift, convolved, scale), 0.2)
        upsampled = skips[5]
        for index in range(1, 7):
            weight, bias, scale, shift = self._layer(f"dec{index}")
            if index > 1:
                upsampled = torch.cat([skips[6 - index], upsampled], dim=1)
            if index < 6:
                upsampled = functional.conv_transpose2d(upsampled, weight, bias, stride=2, padding=2, output_padding=1)
            else:
                upsampled = functional.pixel_shuffle(functional.conv2d(upsampled, weight, bias, padding=1), 2)
            upsampled = upsampled.relu_().mul_(scale).add_(shift)
        mask = torch.sigmoid(functional.conv2d(upsampled, self.mask_weight, self.mask_bias, padding=3, dilation=2))
        return functional.pad(mask.float(), (0, 0, 0, total_bins - self.bins)).contiguous()
