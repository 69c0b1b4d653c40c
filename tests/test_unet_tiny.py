"""The U-Net and transforms on tiny configurations: shapes, names, serialize-and-reload."""
from __future__ import annotations

import io

import pytest
import torch

from lars_service.larsnet.filtering import alpha_wiener_gains
from lars_service.larsnet.transforms import HOP, N_FFT, fold, hann_window, istft, pad_length, stft, unfold
from lars_service.larsnet.unet import UNet


def random_unet(bins: int, seed: int = 0) -> UNet:
    torch.manual_seed(seed)
    unet = UNet(bins=bins)
    with torch.no_grad():
        for name, buffer in unet.named_buffers():
            if name.endswith("running_var"):
                buffer.uniform_(0.5, 2.0)
            elif name.endswith("running_mean"):
                buffer.normal_(0, 0.1)
    return unet.eval()


def test_state_dict_has_the_official_names_and_parameter_count() -> None:
    unet = UNet(bins=2048)
    state = unet.state_dict()
    assert len(state) == 91
    assert {"input_norm.running_var", "enc6.bn.num_batches_tracked", "dec1.conv_trans.weight", "mask_layer.0.bias"} <= set(state)
    assert tuple(state["enc1.conv.weight"].shape) == (16, 2, 5, 5)
    assert tuple(state["dec1.conv_trans.weight"].shape) == (512, 256, 5, 5)
    assert tuple(state["mask_layer.0.weight"].shape) == (2, 2, 4, 4)
    assert sum(parameter.numel() for parameter in unet.parameters()) == 9_828_680


@pytest.mark.parametrize("bins", [64, 128])
def test_mask_shape_range_and_zero_above_f(bins: int) -> None:
    unet = random_unet(bins)
    magnitude = torch.rand(3, 2, bins + 1, 64)
    with torch.inference_mode():
        mask = unet(magnitude)
    assert mask.shape == magnitude.shape
    assert float(mask.min()) >= 0 and float(mask.max()) <= 1
    assert torch.all(mask[:, :, bins:, :] == 0)
    assert float(mask[:, :, :bins].std()) > 0


def test_serialize_and_reload_gives_identical_masks() -> None:
    unet = random_unet(64, seed=3)
    buffer = io.BytesIO()
    torch.save({"model_state_dict": unet.state_dict()}, buffer)
    buffer.seek(0)
    reloaded = UNet(bins=64)
    reloaded.load_state_dict(torch.load(buffer, weights_only=True)["model_state_dict"])
    reloaded.eval()
    magnitude = torch.rand(2, 2, 65, 64)
    with torch.inference_mode():
        assert torch.equal(unet(magnitude), reloaded(magnitude))


def test_segments_are_independent() -> None:
    unet = random_unet(64, seed=1)
    segments = torch.rand(4, 2, 65, 64)
    with torch.inference_mode():
        batched = unet(segments)
        single = torch.cat([unet(segments[index : index + 1]) for index in range(4)])
    torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("samples, padding", [(4096, 0), (4097, 1023), (5120, 0), (1, 1023), (44100, 956)])
def test_pad_length_follows_larsnet(samples: int, padding: int) -> None:
    assert pad_length(samples) == padding
    assert (samples + padding) % HOP == 0 or samples + padding < N_FFT


def test_fold_unfold_round_trip_pads_with_zeros() -> None:
    magnitude = torch.rand(2, 9, 1100)
    segments = fold(magnitude, 512)
    assert segments.shape == (3, 2, 9, 512)
    assert torch.equal(segments[1], magnitude[:, :, 512:1024])
    assert torch.all(segments[2, :, :, 1100 - 1024 :] == 0)
    assert torch.equal(unfold(segments, 1100), magnitude)
    assert fold(torch.rand(2, 9, 7), 512).shape == (1, 2, 9, 512)


def test_stft_istft_round_trip() -> None:
    waveform = torch.randn(2, 3 * 4096)
    window = hann_window()
    spectrum = stft(waveform, window)
    assert spectrum.shape == (2, 2049, 3 * 4096 // HOP + 1)
    torch.testing.assert_close(istft(spectrum, window, waveform.shape[-1]), waveform, rtol=1e-4, atol=1e-5)


def test_alpha_wiener_gains_share_the_mixture() -> None:
    estimates = torch.rand(5, 2, 7, 11) + 0.01
    for alpha in (0.5, 1.0, 2.0):
        gains = alpha_wiener_gains(estimates, alpha)
        torch.testing.assert_close(gains.sum(dim=0), torch.ones(2, 7, 11), rtol=1e-5, atol=1e-5)
    sharper = alpha_wiener_gains(estimates, 4.0)
    assert float(sharper.max()) > float(alpha_wiener_gains(estimates, 1.0).max())
    with pytest.raises(ValueError):
        alpha_wiener_gains(estimates, 0.0)


def test_subpixel_form_equals_the_transposed_convolution() -> None:
    from lars_service.larsnet.inference import subpixel_weight

    torch.manual_seed(5)
    weight, bias = torch.randn(6, 3, 5, 5), torch.randn(3)
    features = torch.randn(2, 6, 9, 7)
    transposed = torch.nn.functional.conv_transpose2d(features, weight, bias, stride=2, padding=2, output_padding=1)
    subpixel = torch.nn.functional.pixel_shuffle(
        torch.nn.functional.conv2d(features, subpixel_weight(weight), bias.repeat_interleave(4), padding=1), 2
    )
    torch.testing.assert_close(subpixel, transposed, rtol=1e-5, atol=1e-5)


def test_exact_phase_convolutions_equal_the_transposed_convolution() -> None:
    """Four convolutions with 9 + 6 + 6 + 4 = 25 taps, phase (a_h, a_w) at pixel (2y + a_h, 2x + a_w), are the
    transposed convolution (odd and even sizes, so every pad shows)."""
    from lars_service.larsnet.subpixel import phase_kernels

    torch.manual_seed(6)
    weight, bias = torch.randn(6, 3, 5, 5), torch.randn(3)
    features = torch.randn(2, 6, 9, 8)
    transposed = torch.nn.functional.conv_transpose2d(features, weight, bias, stride=2, padding=2, output_padding=1)
    kernels = phase_kernels(weight.numpy())
    assert sum(kernel[0, 0].size for kernel, _ in kernels) == 25
    interleaved = torch.empty_like(transposed)
    for phase, (kernel, (top, left, bottom, right)) in enumerate(kernels):
        padded = torch.nn.functional.pad(features, (left, right, top, bottom))
        interleaved[:, :, phase // 2 :: 2, phase % 2 :: 2] = torch.nn.functional.conv2d(padded, torch.from_numpy(kernel), bias)
    torch.testing.assert_close(interleaved, transposed, rtol=1e-5, atol=1e-5)


def test_inference_unet_computes_the_reference_function() -> None:
    from lars_service.larsnet.inference import InferenceUNet

    unet = random_unet(64, seed=2)
    magnitude = torch.rand(3, 2, 65, 64)
    with torch.inference_mode():
        torch.testing.assert_close(InferenceUNet(unet)(magnitude), unet(magnitude), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(InferenceUNet(unet, channels_last=False)(magnitude), unet(magnitude), rtol=1e-4, atol=1e-5)


def test_overlap_add_is_the_synthesis_step_of_torch_istft() -> None:
    from lars_service.larsnet.transforms import overlap_add

    window = hann_window()
    spectrum = stft(torch.randn(2, 6 * HOP), window)
    frames = torch.fft.irfft(spectrum.transpose(-1, -2), n=N_FFT, dim=-1)
    summed = overlap_add(frames, window)
    envelope = overlap_add(window.expand(spectrum.shape[-1], N_FFT), window)
    trimmed = (summed / envelope)[..., N_FFT // 2 : N_FFT // 2 + 6 * HOP]
    torch.testing.assert_close(trimmed, istft(spectrum, window, 6 * HOP), rtol=1e-4, atol=1e-5)


def test_mask_layer_on_the_phases_equals_it_on_the_interleaved_image() -> None:
    """The mask layer (4x4, dilation 2, padding 3) run on the 2x2 phases of its input (`mask_phase_kernel`) and
    interleaved afterwards gives the layer's output on the interleaved image (odd and even sizes, every edge)."""
    from lars_service.larsnet.subpixel import mask_phase_kernel

    torch.manual_seed(7)
    weight, bias = torch.randn(2, 3, 4, 4), torch.randn(2)
    phases = torch.randn(2, 4 * 3, 9, 8)  # channel 4c + 2a_h + a_w, the sub-pixel layout
    on_image = torch.nn.functional.conv2d(torch.nn.functional.pixel_shuffle(phases, 2), weight, bias, padding=3, dilation=2)
    kernel, pads = mask_phase_kernel(weight.numpy())
    assert kernel.shape == (8, 12, 5, 5) and int((kernel != 0).sum()) == weight.numel() * 4
    on_phases = torch.nn.functional.conv2d(phases, torch.from_numpy(kernel), bias.repeat_interleave(4), padding=pads[0])
    torch.testing.assert_close(torch.nn.functional.pixel_shuffle(on_phases, 2), on_image, rtol=1e-5, atol=1e-5)


def test_mask_layer_as_depthwise_filters_and_a_sum_equals_it_on_the_phases() -> None:
    """`mask_depthwise_form`: each phase-channel copied to the depthwise channels that read it, filtered, and
    summed by the 1x1 convolution, gives the phase form's output (`mask_phase_kernel`), every edge included."""
    from lars_service.larsnet.subpixel import MASK_PHASE_REACH, mask_depthwise_form, mask_phase_kernel

    torch.manual_seed(8)
    weight, bias = torch.randn(2, 3, 4, 4), torch.randn(2)
    phases = torch.randn(1, 4 * 3, 9, 8)
    kernel, pads = mask_phase_kernel(weight.numpy())
    on_phases = torch.nn.functional.conv2d(phases, torch.from_numpy(kernel), bias.repeat_interleave(4), padding=pads[0])
    sources, depthwise, summing = mask_depthwise_form(weight.numpy())
    assert depthwise.shape == (24, 1, 5, 5) and summing.shape == (8, 24, 1, 1)
    assert int((depthwise != 0).sum()) == weight.numel() * 4 and (summing.sum(axis=1) == 3).all()
    filtered = torch.nn.functional.conv2d(phases[:, torch.from_numpy(sources)], torch.from_numpy(depthwise),
                                          padding=MASK_PHASE_REACH, groups=len(sources))
    summed = torch.nn.functional.conv2d(filtered, torch.from_numpy(summing), bias.repeat_interleave(4))
    torch.testing.assert_close(summed, on_phases, rtol=1e-5, atol=1e-5)
