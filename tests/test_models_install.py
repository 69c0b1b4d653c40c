"""`models install` against a real HTTP server on 127.0.0.1 serving zips built from the fixture checkpoints.

The fixture checkpoints are not the official files, so verification is tested by handing the library an
expected-hash table made from the fixtures themselves; the CLI tests cover refusal without --allow-unverified
and the unverified path.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import STEMS, run_cli
from weights_server import ServedFiles, build_zip, checkpoint_files, serve

from lars_service.errors import InstallSourceError, VerificationError
from lars_service.models.catalog import ExpectedFile, sha256_file
from lars_service.models.install import DOWNLOADS_DIR_NAME, install_models
from lars_service.models.install_record import read_manifest
from lars_service.models.status import models_status


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The served folder: good.zip (official layout), nested.zip (deeper), corrupt.zip (one byte flipped in
    kick, consistent zip CRC), traversal.zip (a `../evil.pth` entry)."""
    root = tmp_path_factory.mktemp("served")
    build_zip(root / "good.zip")
    build_zip(root / "nested.zip", prefix="mirror/LarsNet v1/pretrained_larsnet_models/")
    corrupt_kick = root.parent / "pretrained_kick_unet.pth"
    data = bytearray(checkpoint_files()["kick"].read_bytes())
    data[len(data) // 2] ^= 0x01
    corrupt_kick.write_bytes(bytes(data))
    build_zip(root / "corrupt.zip", files={**checkpoint_files(), "kick": corrupt_kick})
    build_zip(root / "traversal.zip", files={}, extra={
        **{f"pretrained_larsnet_models/{stem}/pretrained_{stem}_unet.pth": b"tiny" for stem in STEMS},
        "../evil.pth": b"outside",
    })
    return root


@pytest.fixture(scope="module")
def fixture_hashes() -> dict[str, ExpectedFile]:
    """The expected-hash table of the fixture checkpoints, standing in for the official one."""
    return {stem: ExpectedFile(sha256_file(path), path.stat().st_size) for stem, path in checkpoint_files().items()}


@pytest.fixture
def server(archives: Path) -> Iterator[tuple[str, ServedFiles]]:
    served = ServedFiles(archives)
    with serve(served) as url:
        yield url, served


def assert_holds_fixtures(models_dir: Path) -> None:
    for stem, source in checkpoint_files().items():
        assert (models_dir / stem / source.name).read_bytes() == source.read_bytes()


def leftovers(parent: Path) -> list[str]:
    """Staging, previous-state and download folders left beside the models directory (all hidden)."""
    return sorted(path.name for path in parent.iterdir() if path.name.startswith("."))


def test_good_download_installs_verified_weights(server, tmp_path: Path, fixture_hashes) -> None:
    url, _ = server
    target = tmp_path / "pretrained_larsnet_models"
    result = install_models(f"{url}/good.zip", target, expected=fixture_hashes)
    assert result["verified"] is True and result["warnings"] == []
    assert_holds_fixtures(target)
    assert leftovers(tmp_path) == []
    assert all(record["official"] for record in read_manifest(target)["files"].values())
    status = models_status(str(target), expected=fixture_hashes)
    assert status["verified"] and status["complete"]
    assert all(stem["checkpoint"]["hash_cached"] for stem in status["stems"].values())


def test_corrupted_byte_is_refused_and_the_previous_weights_stay(server, tmp_path: Path, fixture_hashes) -> None:
    url, _ = server
    target = tmp_path / "pretrained_larsnet_models"
    install_models(f"{url}/good.zip", target, expected=fixture_hashes)
    manifest_before = (target / "lars-manifest.json").read_bytes()
    with pytest.raises(VerificationError) as refused:
        install_models(f"{url}/corrupt.zip", target, expected=fixture_hashes)
    assert list(refused.value.details["mismatched"]) == ["kick"]
    assert_holds_fixtures(target)
    assert (target / "lars-manifest.json").read_bytes() == manifest_before
    assert leftovers(tmp_path) == []


def test_extra_nesting_is_found(server, tmp_path: Path, fixture_hashes) -> None:
    url, _ = server
    target = tmp_path / "models"
    assert install_models(f"{url}/nested.zip", target, expected=fixture_hashes)["verified"] is True
    assert_holds_fixtures(target)


def test_path_traversal_entry_refuses_the_archive(server, tmp_path: Path) -> None:
    url, _ = server
    work = tmp_path / "deep" / "er"
    target = work / "pretrained_larsnet_models"
    with pytest.raises(InstallSourceError, match="path traversal"):
        install_models(f"{url}/traversal.zip", target, allow_unverified=True)
    assert not target.exists()
    assert [path for path in tmp_path.rglob("*") if path.name == "evil.pth"] == []
    assert leftovers(work) == []


def test_cli_resumes_an_interrupted_download(server, tmp_path: Path, data_home: Path) -> None:
    url, served = server
    served.behaviours["good.zip"] = "drop-first"
    target = tmp_path / "models"
    run = run_cli("models", "install", f"{url}/good.zip", "--models-dir", str(target), "--allow-unverified",
                  "--progress", "json", data_home=data_home)
    assert run.returncode == 0, run.stdout
    assert [name for name, _ in served.requests] == ["good.zip", "good.zip"]
    first_range, resumed_range = (header for _, header in served.requests)
    size = (served.root / "good.zip").stat().st_size
    assert first_range is None and resumed_range == f"bytes={size // 2}-"
    events = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    downloads = [event for event in events if event["stage"] == "download"]
    assert downloads[-1]["done"] == downloads[-1]["total"] == size
    assert run.document["verified"] is False and run.document["license"] == "CC BY-NC 4.0"
    assert "unverified" in run.document["warnings"][0]
    assert_holds_fixtures(target)
    assert leftovers(tmp_path) == []


def test_cli_refuses_unofficial_weights_without_allow_unverified(server, tmp_path: Path, data_home: Path) -> None:
    url, _ = server
    run = run_cli("models", "install", f"{url}/good.zip", data_home=data_home)
    assert run.returncode == 1
    assert run.document["error"] == "VerificationFailed"
    assert set(run.document["details"]["mismatched"]) == set(STEMS)
    assert "--allow-unverified" in run.document["message"]
    installed_home = data_home / "lars-service"
    assert not (installed_home / "pretrained_larsnet_models").exists()
    assert leftovers(installed_home) == []


def test_cli_404_fails_at_once(server, tmp_path: Path, data_home: Path) -> None:
    url, served = server
    run = run_cli("models", "install", f"{url}/moved.zip", "--models-dir", str(tmp_path / "models"), data_home=data_home)
    assert run.returncode == 1
    assert run.document["error"] == "DownloadFailed" and run.document["details"]["status"] == 404
    assert len(served.requests) == 1


def test_cli_stalled_server_times_out_after_retrying(server, tmp_path: Path, data_home: Path) -> None:
    url, served = server
    served.behaviours["good.zip"] = "stall"
    run = run_cli("models", "install", f"{url}/good.zip", "--models-dir", str(tmp_path / "models"),
                  "--timeout", "0.5", "--retries", "1", data_home=data_home)
    assert run.returncode == 1
    assert run.document["error"] == "DownloadFailed"
    assert len(run.document["details"]["attempts"]) == 2 and len(served.requests) == 2
    assert "resumes" in run.document["message"]
    assert not (tmp_path / "models").exists()
    assert [path.name for path in (tmp_path / DOWNLOADS_DIR_NAME).iterdir()] == [Path(run.document["details"]["partial"]).name]


def test_cli_refuses_a_folder_holding_other_files(tmp_path: Path, data_home: Path) -> None:
    target = tmp_path / "music"
    target.mkdir()
    (target / "song.wav").write_bytes(b"keep me")
    run = run_cli("models", "install", str(tmp_path / "anything.zip"), "--models-dir", str(target), data_home=data_home)
    assert run.returncode == 1 and run.document["error"] == "ModelsDirError"
    assert (target / "song.wav").read_bytes() == b"keep me"
