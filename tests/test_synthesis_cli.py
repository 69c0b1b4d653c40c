"""`lars-service synth` through the real CLI in a subprocess."""
import json

import numpy as np
import soundfile

from lars_service.synthesis.sources import HYDROGEN_DRUMKITS
from support import STEMS, run_cli
from synthesis_support import DEV_KIT, needs_dev_kit, needs_hydrogen


@needs_dev_kit
def test_synth_writes_examples_whose_stems_sum_to_the_mixture(tmp_path, data_home):
    out = tmp_path / "examples"
    result = run_cli("synth", "--kits", str(DEV_KIT), "--count", "2", "--seconds", "1.5", "--seed", "7",
                     "--output-dir", str(out), "--progress", "json", data_home=data_home)
    assert result.returncode == 0, result.document
    document = result.document
    assert document["count"] == 2 and document["seed"] == 7 and len(document["examples"]) == 2
    assert [kit["name"] for kit in document["kits"]] == ["shared-dev"]
    assert document["kits"][0]["license"] == "CC0-1.0" and document["kits"][0]["permissive"] is True
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert [(e["stage"], e["done"]) for e in events if e["stage"] == "synth"] == [("synth", 1), ("synth", 2)]
    for example in document["examples"]:
        mixture, rate = soundfile.read(example["files"]["mixture"], dtype="float32", always_2d=True)
        assert rate == 44100 and mixture.shape == (66150, 2)
        stems = [soundfile.read(example["files"][stem], dtype="float32", always_2d=True)[0] for stem in STEMS]
        np.testing.assert_array_equal(np.sum(stems, axis=0, dtype=np.float32), mixture)
        record = json.loads((out / f"{example['index']:05d}" / "example.json").read_text())
        assert record["style"] == example["style"] and record["hits"] and set(record["kits"]) == set(STEMS)
    again = run_cli("synth", "--kits", str(DEV_KIT), "--count", "1", "--seconds", "1.5", "--seed", "7",
                    "--output-dir", str(tmp_path / "again"), data_home=data_home)
    first = soundfile.read(out / "00000" / "mixture.wav", dtype="float32")[0]
    np.testing.assert_array_equal(soundfile.read(tmp_path / "again" / "00000" / "mixture.wav", dtype="float32")[0], first)
    assert again.returncode == 0


def test_synth_explains_a_path_that_is_no_kit(tmp_path, data_home):
    result = run_cli("synth", "--kits", str(tmp_path / "nowhere"), "--output-dir", str(tmp_path / "out"), data_home=data_home)
    assert result.returncode == 2 and result.document["error"] == "InvalidKit"
    assert "neither a kit selection" in result.document["message"]


def test_synth_rejects_a_bad_count(tmp_path, data_home):
    result = run_cli("synth", "--count", "0", "--output-dir", str(tmp_path / "out"), data_home=data_home)
    assert result.returncode == 2 and result.document["error"] == "InvalidOption"


@needs_hydrogen
def test_synth_refuses_a_disallowed_hydrogen_kit(tmp_path, data_home):
    result = run_cli("synth", "--kits", str(HYDROGEN_DRUMKITS / "GMRockKit"), "--output-dir", str(tmp_path / "out"),
                     data_home=data_home)
    assert result.returncode == 2 and result.document["error"] == "InvalidKit"
    assert "not an allowed source" in result.document["message"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
