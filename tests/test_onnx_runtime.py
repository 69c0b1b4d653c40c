"""The torch-free runtime's parts: the .pth reader, the U-Net graph, its model files, and five-head mask models."""
from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from lars_service.larsnet import CorruptCheckpointError, UnsafeCheckpointError, load_config
from lars_service.larsnet.config import LarsNetConfig
from lars_service.larsnet.inference import InferenceUNet
from lars_service.larsnet.transforms_numpy import N_FFT, frames_first, hann_window, masked_inverse_stft, stft
from lars_service.larsnet.weights import load_unet, read_state_dict
from lars_service.runtime.onnx_masks import MaskModel, create_session, five_head_model, official_unet, official_unets
from lars_service.runtime.model_files import machine_optimized_path, onnx_path, source_stamp, write_unet_model
from lars_service.runtime.onnx_graph import DECODER_FORMS, GRAPH_VERSION, interleave_weight, unet_onnx_bytes
from lars_service.runtime.onnx_separator import OnnxSeparator
from lars_service.runtime.pth_reader import read_numpy_state_dict
from support import GOLDEN, GOLDEN_MODELS, KITS, STEMS
from test_reliability_weights import code_in_legacy_checkpoint, code_in_plain_pickle, code_in_zip_checkpoint

KICK = GOLDEN_MODELS / "kick" / "pretrained_kick_unet.pth"
LOOP = KITS / "loops" / "loop_amen.flac"


def test_pth_reader_reads_exactly_what_torch_reads() -> None:
    ours, torchs = read_numpy_state_dict(KICK), read_state_dict(KICK)
    assert list(ours) == list(torchs) and len(ours) == 91
    for name, tensor in torchs.items():
        assert ours[name].dtype == tensor.numpy().dtype and ours[name].shape == tuple(tensor.shape), name
        assert np.array_equal(ours[name], tensor.numpy()), name


def test_pth_reader_reads_strided_views_and_safetensors(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    state = {"transposed": base.t(), "sliced": base[1:, ::2], "half": base.half(), "bf16": base.bfloat16()}
    torch.save({"model_state_dict": state}, tmp_path / "views.pth")
    read = read_numpy_state_dict(tmp_path / "views.pth")
    assert np.array_equal(read["transposed"], base.numpy().T) and np.array_equal(read["sliced"], base.numpy()[1:, ::2])
    assert read["half"].dtype == np.float16 and np.array_equal(read["half"], base.numpy())
    assert read["bf16"].dtype == np.float32 and np.array_equal(read["bf16"], base.numpy())  # small integers are exact
    save_file({"weight": base.numpy()}, tmp_path / "weights.safetensors")
    assert np.array_equal(read_numpy_state_dict(tmp_path / "weights.safetensors")["weight"], base.numpy())


@pytest.mark.parametrize("write", [code_in_zip_checkpoint, code_in_legacy_checkpoint, code_in_plain_pickle])
def test_pth_reader_refuses_code_executing_pickles_without_running_them(write, tmp_path: Path) -> None:
    marker, path = tmp_path / "code-ran", tmp_path / "hostile.pth"
    write(path, marker)
    with pytest.raises(UnsafeCheckpointError, match="refused to load .*It could run code, so it was not executed"):
        read_numpy_state_dict(path)
    assert not marker.exists()


def test_pth_reader_reports_truncated_and_foreign_files(tmp_path: Path) -> None:
    truncated, text = tmp_path / "truncated.pth", tmp_path / "text.pth"
    truncated.write_bytes(KICK.read_bytes()[: KICK.stat().st_size // 2])
    text.write_text("<html>404</html>")
    with pytest.raises(CorruptCheckpointError, match="truncated or not a torch checkpoint"):
        read_numpy_state_dict(truncated)
    with pytest.raises(CorruptCheckpointError, match="it is not a torch checkpoint"):
        read_numpy_state_dict(text)
    torch.save({"model_state_dict": {"weight": torch.zeros(2)}}, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    with pytest.raises(CorruptCheckpointError, match="legacy torch file"):
        read_numpy_state_dict(tmp_path / "legacy.pth")


@pytest.mark.parametrize("decoder", DECODER_FORMS)
def test_unet_graph_computes_the_torch_unet(decoder: str) -> None:
    """Every decoder form of the graph give the reference U-Net's mask on folded segments (T = 128 here) as closely
    as torch's own inference form does (the random fixture weights make masks sensitive to summation order)."""
    magnitude = np.random.default_rng(0).gamma(0.5, 2.0, (2, 2, 2048, 128)).astype(np.float32)
    session = create_session(unet_onnx_bytes(read_numpy_state_dict(KICK), decoder=decoder))
    (mask,) = session.run(None, {"magnitude": magnitude})
    unet = load_unet(KICK)
    with torch.inference_mode():
        reference = unet(torch.from_numpy(magnitude)).numpy()
        torch_inference = InferenceUNet(unet)(torch.from_numpy(magnitude)).numpy()
    assert mask.shape == reference.shape
    assert float(np.abs(mask - reference).max()) <= 2 * float(np.abs(torch_inference - reference).max())


def test_interleave_is_depth_to_space_then_the_norm() -> None:
    """The decoder's interleave in ORT (grouped 2x2 stride-2 ConvTranspose, the norm's scale in its one-hot weights
    and its shift as bias) puts phase 2dy + dx of channel c at pixel (2y + dy, 2x + dx), times scale[c], plus shift[c]:
    the exact values of DepthToSpace (CRD) followed by the norm."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    channels = 3
    phases = rng.standard_normal((1, 4 * channels, 5, 7)).astype(np.float32)
    scale, shift = rng.standard_normal(channels).astype(np.float32), rng.standard_normal(channels).astype(np.float32)
    node = helper.make_node("ConvTranspose", ["phases", "weight", "shift"], ["out"], kernel_shape=[2, 2], strides=[2, 2],
                            group=channels)
    graph = helper.make_graph([node], "interleave", [helper.make_tensor_value_info("phases", TensorProto.FLOAT, phases.shape)],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(interleave_weight(scale), "weight"), numpy_helper.from_array(shift, "shift")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    (interleaved,) = create_session(model.SerializeToString()).run(None, {"phases": phases})
    depth_to_space = phases.reshape(channels, 2, 2, 5, 7).transpose(0, 3, 1, 4, 2).reshape(1, channels, 10, 14)
    assert np.array_equal(interleaved, depth_to_space * scale[:, None, None] + shift[:, None, None])


@pytest.mark.parametrize("valid_frames", [1, 24, 63, 64, 200, 255])
def test_a_segment_silent_after_its_valid_frames_runs_short_with_the_same_masks(valid_frames: int) -> None:
    """The file's last segment is zero after its V valid frames: cut to `frames_needed(V)` frames (V + 193 rounded
    up to 64) the U-Net gives bit for bit the masks of the published 512-frame segment on those V frames. One more
    valid frame than the edge reach allows, and the last one changes: the reach is exact, not a guess."""
    unet = official_unet(GOLDEN_MODELS, "kick", load_config())
    rng = np.random.default_rng(valid_frames)
    segment = np.zeros((1, 2, 2049, 512), dtype=np.float32)
    segment[..., :valid_frames] = rng.gamma(0.5, 2.0, (1, 2, 2049, valid_frames))
    needed = unet.frames_needed(valid_frames, 512)
    assert needed % 64 == 0 and valid_frames + 193 <= needed < valid_frames + 193 + 64
    whole = unet.masks(segment)["kick"]
    short = unet.masks(segment[..., :needed])["kick"]
    assert np.array_equal(short[..., :valid_frames], whole[..., :valid_frames])
    beyond_reach = needed - 192  # frames 0 .. needed - 193 hold sound: frame needed - 193 is inside the reach
    segment[..., :beyond_reach] = rng.gamma(0.5, 2.0, (1, 2, 2049, beyond_reach))
    whole, short = unet.masks(segment)["kick"], unet.masks(segment[..., :needed])["kick"]
    assert np.array_equal(short[..., : beyond_reach - 1], whole[..., : beyond_reach - 1])
    assert not np.array_equal(short[..., beyond_reach - 1], whole[..., beyond_reach - 1])


def test_stft_is_the_exact_transform_within_float32_accuracy() -> None:
    """`stft` runs numpy's fast float32 FFT (scaled by powers of two): on real drums, quiet tail included, it is
    the double-precision STFT within float32 FFT accuracy, bins first as `transforms.stft` has it."""
    audio, _ = soundfile.read(LOOP, dtype="float32", always_2d=True)
    audio = np.ascontiguousarray(audio.T[:, : 40 * 1024 + N_FFT]) * np.float32(1e-3)
    window = hann_window()
    frames = np.lib.stride_tricks.sliding_window_view(audio.astype(np.float64), N_FFT, axis=-1)[:, ::1024]
    exact = np.fft.rfft(frames * window.astype(np.float64), axis=-1)
    spectrum = stft(audio, window)
    assert spectrum.shape == (2, 41, 2049) and spectrum.dtype == np.complex64
    relative_error = np.sqrt(np.mean(np.abs(spectrum - exact) ** 2) / np.mean(np.abs(exact) ** 2))
    assert relative_error < 1e-6
    torch_spectrum = torch.stft(torch.from_numpy(audio), N_FFT, 1024, window=torch.from_numpy(window), center=False,
                                return_complex=True).numpy()  # (2, 2049, 41)
    np.testing.assert_allclose(spectrum.transpose(0, 2, 1), torch_spectrum, rtol=0, atol=1e-6 * np.abs(exact).max())


def test_threaded_inverse_stft_is_the_same_bit_for_bit_and_inverts_the_stft() -> None:
    """The per-(stem, channel) tasks on a thread pool give exactly what one thread gives; unit gains give the
    analysed signal back (interior samples, where the overlap-added squared window is constant, scaled by it)."""
    rng = np.random.default_rng(3)
    audio = rng.standard_normal((2, 7 * 1024 + N_FFT)).astype(np.float32)
    window = hann_window()
    spectrum = stft(audio, window)  # (2, 8, 2049)
    gains = rng.random((5, 2, 2049, spectrum.shape[1]), dtype=np.float32)  # bins first, as the separator's
    gains[0] = 1.0
    with ThreadPoolExecutor(2) as pool:
        threaded = masked_inverse_stft(spectrum, gains, window, pool)
    alone = masked_inverse_stft(spectrum, gains, window)
    assert threaded.shape == (5, 2, audio.shape[1]) and threaded.dtype == np.float32
    assert np.array_equal(threaded, alone)
    interior = slice(N_FFT, audio.shape[1] - N_FFT)
    np.testing.assert_allclose(alone[0][:, interior] / 1.5, audio[:, interior], atol=1e-5)  # sum of hann^2 at hop N/4 is 1.5
    assert not np.allclose(alone[1], alone[0])


@pytest.mark.parametrize("bins, frames", [(2049, 512), (5, 3), (130, 64)])
def test_frames_first_is_the_transpose_copied_contiguous(bins: int, frames: int) -> None:
    """The blocked copy (bins not a multiple of its 64, fewer bins than one copy) equals numpy's transpose exactly,
    on a thread pool too, and comes out C-contiguous for the inverse STFT's row reads."""
    masks = np.random.default_rng(4).random((5, 2, bins, frames), dtype=np.float32)
    with ThreadPoolExecutor(2) as pool:
        for copied in (frames_first(masks), frames_first(masks, pool)):
            assert copied.flags.c_contiguous and copied.shape == (5, 2, frames, bins)
            assert np.array_equal(copied, masks.transpose(0, 1, 3, 2))


def test_u_nets_side_by_side_give_what_one_after_another_give() -> None:
    """(U-Net, segment) pairs run on two one-thread sessions at once, two segments per block (`models_at_once`),
    give over 30 s of real drums (three segments: a full block, then a half one) what the default official
    separator gives: five two-thread sessions one after another, one segment per block."""
    drums, rate = soundfile.read(str(LOOP), dtype="float32", always_2d=True)
    audio = np.tile(drums.T, (1, -(-30 * rate // drums.shape[0])))[:, : 30 * rate]
    config = load_config()
    side_by_side = OnnxSeparator(official_unets(GOLDEN_MODELS, STEMS, config, threads=1), STEMS, segments_per_block=2,
                                 threads=2, models_at_once=2)
    one_after_another = OnnxSeparator.from_models_dir(GOLDEN_MODELS, STEMS, threads=2)
    assert one_after_another.models_at_once == 1 and one_after_another.block_frames == 512
    expected = one_after_another.separate(audio)
    for stem, samples in side_by_side.separate(audio).items():
        np.testing.assert_allclose(samples, expected[stem], atol=2e-5, rtol=0)
        assert np.abs(samples[:, -rate:]).max() > 0  # the last, half block is filled in


def kick_with_model_file(models_dir: Path) -> tuple[LarsNetConfig, Path, Path]:
    """The golden kick checkpoint installed in `models_dir` with its model file: (config, checkpoint, model file)."""
    config = load_config()
    (models_dir / "kick").mkdir()
    checkpoint = config.checkpoint_path(models_dir, "kick")
    shutil.copy(KICK, checkpoint)
    return config, checkpoint, write_unet_model(models_dir, "kick", config)


def test_model_file_is_used_while_it_matches_its_weights_and_rebuilt_when_they_change(tmp_path: Path) -> None:
    config, checkpoint, written = kick_with_model_file(tmp_path)
    assert written == onnx_path(checkpoint) == tmp_path / "kick" / "pretrained_kick_unet.onnx"
    segment = np.random.default_rng(1).gamma(0.5, 2.0, (1, 2, 2049, 64)).astype(np.float32)
    kick_mask = official_unet(tmp_path, "kick", config).masks(segment)["kick"]
    shutil.copy(GOLDEN_MODELS / "snare" / "pretrained_snare_unet.pth", checkpoint)  # replaced by hand: the file is stale
    snare_mask = official_unet(tmp_path, "kick", config).masks(segment)["kick"]
    expected = official_unet(GOLDEN_MODELS, "snare", config).masks(segment)["snare"]
    assert np.array_equal(snare_mask, expected) and not np.allclose(kick_mask, snare_mask)


def test_the_first_load_keeps_the_machine_optimized_form_which_later_loads_take(tmp_path: Path) -> None:
    """The first load of a model file leaves ORT's optimized form of it beside it, for this machine only (another
    machine's is removed, no temporary file stays), and the next load takes that form instead of the file: here it
    deliberately holds the snare's U-Net under the kick's stamp, so which one ran shows in the mask."""
    config, checkpoint, model_file = kick_with_model_file(tmp_path)
    elsewhere = model_file.with_name("pretrained_kick_unet.machine-0123456789abcdef.onnx")
    elsewhere.write_bytes(b"another machine's form")
    segment = np.random.default_rng(3).gamma(0.5, 2.0, (1, 2, 2049, 64)).astype(np.float32)
    kick_mask = official_unet(tmp_path, "kick", config).masks(segment)["kick"]
    optimized = machine_optimized_path(model_file)
    assert sorted(path.name for path in (tmp_path / "kick").iterdir()) == sorted([checkpoint.name, model_file.name, optimized.name])
    assert np.array_equal(kick_mask, official_unet(tmp_path, "kick", config).masks(segment)["kick"])
    assert np.array_equal(kick_mask, official_unet(GOLDEN_MODELS, "kick", config).masks(segment)["kick"])

    snare_state = read_numpy_state_dict(GOLDEN_MODELS / "snare" / "pretrained_snare_unet.pth")
    snare_as_kick = tmp_path / "snare_as_kick.onnx"
    snare_as_kick.write_bytes(unet_onnx_bytes(snare_state, config.bins["kick"], stem="kick", metadata=source_stamp(checkpoint)))
    create_session(snare_as_kick, save_optimized=optimized)
    assert optimized.stat().st_size > 0
    from_optimized = official_unet(tmp_path, "kick", config)
    assert not from_optimized.stale_model_file
    assert np.array_equal(from_optimized.masks(segment)["kick"], official_unet(GOLDEN_MODELS, "snare", config).masks(segment)["snare"])


def test_the_bundled_folders_model_files_get_no_optimized_form(tmp_path: Path, monkeypatch) -> None:
    """The bundled folder may be read-only, is replaced by updates, and in a one-file binary is a temporary
    extraction: loading its model files writes nothing there (here the bundled folder is a writable temporary one,
    so only the rule keeps it clean), and the masks are the same as anywhere else."""
    from lars_service.runtime import model_files

    monkeypatch.setattr(model_files, "bundled_models_dir", lambda: tmp_path.resolve())
    config, checkpoint, model_file = kick_with_model_file(tmp_path)
    assert machine_optimized_path(model_file) is None
    segment = np.random.default_rng(4).gamma(0.5, 2.0, (1, 2, 2049, 64)).astype(np.float32)
    unet = official_unet(tmp_path, "kick", config)
    assert not unet.stale_model_file
    assert sorted(path.name for path in (tmp_path / "kick").iterdir()) == sorted([checkpoint.name, model_file.name])
    assert np.array_equal(unet.masks(segment)["kick"], official_unet(GOLDEN_MODELS, "kick", config).masks(segment)["kick"])


def test_a_model_file_still_loads_when_its_optimized_form_cannot_be_written(tmp_path: Path, monkeypatch) -> None:
    """Where ORT fails to write the optimized form (a full disk; here its temporary file's name points into a
    folder that does not exist), the model file loads without it: not stale, no graph rebuilt, nothing left."""
    from lars_service.runtime import onnx_masks

    config, checkpoint, model_file = kick_with_model_file(tmp_path)
    unwritable = tmp_path / "gone" / "optimized.onnx"
    monkeypatch.setattr(onnx_masks.tempfile, "mkstemp", lambda **_: (os.open(os.devnull, os.O_RDONLY), str(unwritable)))
    unet = official_unet(tmp_path, "kick", config)
    assert not unet.stale_model_file
    assert sorted(path.name for path in (tmp_path / "kick").iterdir()) == sorted([checkpoint.name, model_file.name])
    segment = np.random.default_rng(5).gamma(0.5, 2.0, (1, 2, 2049, 64)).astype(np.float32)
    assert np.array_equal(unet.masks(segment)["kick"], official_unet(GOLDEN_MODELS, "kick", config).masks(segment)["kick"])


def test_a_model_file_of_an_older_graph_form_is_stale(tmp_path: Path) -> None:
    """The stamp decides: a file stamped with the kick's weights is trusted only when it also names this graph form
    (here the file deliberately holds the snare's U-Net, so which one ran shows in the mask)."""
    config = load_config()
    (tmp_path / "kick").mkdir()
    checkpoint = config.checkpoint_path(tmp_path, "kick")
    shutil.copy(KICK, checkpoint)
    snare_state = read_numpy_state_dict(GOLDEN_MODELS / "snare" / "pretrained_snare_unet.pth")
    segment = np.random.default_rng(2).gamma(0.5, 2.0, (1, 2, 2049, 64)).astype(np.float32)
    masks = {}
    for graph_version in (GRAPH_VERSION, "1"):
        stamp = {**source_stamp(checkpoint), "graph_version": graph_version}
        onnx_path(checkpoint).write_bytes(unet_onnx_bytes(snare_state, config.bins["kick"], stem="kick", metadata=stamp))
        masks[graph_version] = official_unet(tmp_path, "kick", config).masks(segment)["kick"]
    assert np.array_equal(masks[GRAPH_VERSION], official_unet(GOLDEN_MODELS, "snare", config).masks(segment)["snare"])
    assert np.array_equal(masks["1"], official_unet(GOLDEN_MODELS, "kick", config).masks(segment)["kick"])


def five_head_onnx(path: Path, gains: np.ndarray, bins: int = 2049, output: str = "masks") -> Path:
    """A five-head mask model whose masks are the constants `gains` (5,) whatever the input."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("Unsqueeze", ["magnitude", "axis"], ["per_stem"]),
        helper.make_node("Mul", ["per_stem", "zero"], ["zeros"]),
        helper.make_node("Add", ["zeros", "gains"], [output]),
    ]
    initializers = [numpy_helper.from_array(np.array([1], dtype=np.int64), "axis"),
                    numpy_helper.from_array(np.zeros(1, dtype=np.float32), "zero"),
                    numpy_helper.from_array(gains.astype(np.float32).reshape(1, 5, 1, 1, 1), "gains")]
    graph = helper.make_graph(
        nodes, "five_heads", [helper.make_tensor_value_info("magnitude", TensorProto.FLOAT, ["batch", 2, bins, "frames"])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", 5, 2, bins, "frames"])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"stems": ",".join(STEMS), "family": "test-constant-masks"})
    path.write_bytes(model.SerializeToString())
    return path


def test_five_head_model_runs_in_one_session_with_known_masks(tmp_path: Path) -> None:
    gains = np.array([0.1, 0.2, 0.3, 0.25, 0.15])
    model = five_head_model(five_head_onnx(tmp_path / "five.onnx", gains))
    assert (model.stems, model.bins, model.five_heads) == (STEMS, 2049, True)
    mixture, _ = soundfile.read(GOLDEN / "stereo_2s.wav", dtype="float32", always_2d=True)
    mixture = mixture.T
    tolerance = 1e-4 * max(1.0, float(np.abs(mixture).max()))
    plain = OnnxSeparator([model], ("snare", "cymbals")).separate(mixture)
    assert list(plain) == ["snare", "cymbals"]
    assert float(np.abs(plain["snare"] - 0.2 * mixture).max()) < tolerance
    assert float(np.abs(plain["cymbals"] - 0.15 * mixture).max()) < tolerance
    wiener = OnnxSeparator([model], STEMS, wiener_exponent=2.0).separate(mixture)
    shares = gains**2 / np.sum(gains**2)
    for stem, share in zip(STEMS, shares):
        assert float(np.abs(wiener[stem] - share * mixture).max()) < 10 * tolerance, stem


def test_a_model_without_the_five_head_contract_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CorruptCheckpointError, match=r"is not a five-head mask model: outputs .*\(expected 'masks' of rank 5\)"):
        five_head_model(five_head_onnx(tmp_path / "other.onnx", np.ones(5), output="mask"))
    with pytest.raises(ValueError, match="cover"):
        OnnxSeparator([MaskModel(None, ("kick",), 2048, five_heads=False)], STEMS, wiener_exponent=1.0)
