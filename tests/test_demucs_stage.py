import numpy as np
import pytest
import torch

from lars_service.fallback.demucs_stage import cached_pretrained_model, isolate_drums

demucs_htdemucs = pytest.importorskip("demucs.htdemucs", reason="demucs is an optional dependency")
demucs_states = pytest.importorskip("demucs.states")

SOURCES = ["drums", "bass", "other", "vocals"]


def _tiny_htdemucs() -> torch.nn.Module:
    torch.manual_seed(0)
    model = demucs_htdemucs.HTDemucs(sources=SOURCES, channels=8, depth=2, t_layers=1, nfft=512, segment=1.0)
    return model.eval()


@pytest.mark.parametrize("channels", [1, 2])
def test_isolate_drums_with_a_tiny_random_model_keeps_shape(channels):
    mixture = np.random.default_rng(0).uniform(-0.5, 0.5, (channels, 30000)).astype(np.float32)
    drums = isolate_drums(mixture, 44100, model=_tiny_htdemucs())
    assert drums.shape == mixture.shape and drums.dtype == np.float32
    assert np.all(np.isfinite(drums)) and np.any(drums)


def test_isolate_drums_resamples_to_the_model_rate_and_back():
    mixture = np.random.default_rng(1).uniform(-0.5, 0.5, (2, 16000)).astype(np.float32)
    drums = isolate_drums(mixture, 16000, model=_tiny_htdemucs())
    assert drums.shape == (2, 16000)


def test_no_cached_checkpoint_means_no_model(tmp_path):
    assert cached_pretrained_model("htdemucs", checkpoints_dir=tmp_path) is None
    assert cached_pretrained_model("no-such-bag", checkpoints_dir=tmp_path) is None


def test_cached_checkpoint_is_loaded_without_network(tmp_path):
    tiny = _tiny_htdemucs()
    args, kwargs = tiny._init_args_kwargs
    package = {"klass": type(tiny), "args": args, "kwargs": kwargs, "state": demucs_states.get_state(tiny, None)}
    demucs_states.save_with_checksum(package, tmp_path / "955717e8.th")  # htdemucs's signature
    model = cached_pretrained_model("htdemucs", checkpoints_dir=tmp_path)
    assert model is not None and model.sources == SOURCES
    mixture = np.random.default_rng(2).uniform(-0.5, 0.5, (2, 20000)).astype(np.float32)
    np.testing.assert_allclose(
        isolate_drums(mixture, 44100, model=model), isolate_drums(mixture, 44100, model=tiny), atol=1e-5
    )
