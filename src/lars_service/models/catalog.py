"""The official LarsNet weights: what each file must hash to, and their license.

The hashes are copied from `../shared/fixtures/larsnet_golden/README.md` (the official
`pretrained_larsnet_models` zip of polimi-ispl/larsnet); `tests/test_models_catalog.py` checks that they agree.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

LICENSE = "CC BY-NC 4.0"
LICENSE_URL = "https://creativecommons.org/licenses/by-nc/4.0/"
HASH_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class ExpectedFile:
    """What one stem's checkpoint must be: its sha256 (hex) and its size in bytes."""

    sha256: str
    size: int


#: stem -> the official `pretrained_<stem>_unet.pth`.
OFFICIAL_WEIGHTS: dict[str, ExpectedFile] = {
    "kick": ExpectedFile("ed821b6a69b1ef0413ac9ef7958ac9a37e5f4f056e66f0191496bf903ac2628d", 118_037_828),
    "snare": ExpectedFile("78bd75001ff6c52b23de6245cecd1606adbd45348e0216f6d8c116553013e4fd", 118_037_828),
    "toms": ExpectedFile("699112983948e14d805890a0723e5b402203a3a1db1cd0ccdd8a80058062ef77", 118_037_828),
    "hihat": ExpectedFile("ac004ac24a26e77f6d39671ed8ba45c3f476e956900d469ebb402386dad11dd7", 118_037_828),
    "cymbals": ExpectedFile("889804c465e2c6fdbbe45febbd4daafef01d8d22f9f34fb968695ab9793858d0", 118_037_828),
}


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def is_official(stem: str, sha256: str, size: int, expected: dict[str, ExpectedFile] = OFFICIAL_WEIGHTS) -> bool:
    """Whether a file of `stem` with this hash and size is the expected one."""
    wanted = expected.get(stem)
    return wanted is not None and wanted.sha256 == sha256 and wanted.size == size
