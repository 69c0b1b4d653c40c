"""`lars-service synth`: render examples of the synthetic drum set to disk."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lars_service.errors import InvalidOptionError, OutputError

from .dataset import SyntheticDrums, load_kits, render_to_disk
from .midi import read_midi_grooves


def synthesise(kits: str, *, count: int, seconds: float, seed: int, output_dir: Path, midi: Path | None = None,
               augment: bool = True, progress: Callable[[str, int, int], None] | None = None) -> dict[str, object]:
    """Load the kits, render `count` examples of `seconds` into `output_dir`, and describe what was written.

    Returns:
        {"output_dir", "count", "seconds", "seed", "augment", "examples": [...], "kits": [...], "midi": [...]}.
    """
    if count < 1 or count > 100000:
        raise InvalidOptionError(f"--count must be 1..100000, not {count}", count=count)
    if not 0.1 <= seconds <= 600:
        raise InvalidOptionError(f"--seconds must be 0.1..600, not {seconds}", seconds=seconds)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the output directory {output_dir}: {error.strerror}; choose a writable place.",
                          path=str(output_dir)) from error
    if progress is not None:
        progress("load_kits", 0, 1)
    loaded = load_kits(kits)
    midi_grooves = read_midi_grooves(midi) if midi is not None else []
    if progress is not None:
        progress("load_kits", 1, 1)
    dataset = SyntheticDrums(loaded, seed=seed, crop_seconds=seconds, examples_per_epoch=count, augment=augment,
                             midi_grooves=[item.groove for item in midi_grooves])
    try:
        summary = render_to_disk(dataset, output_dir, count, progress)
    except OSError as error:
        raise OutputError(f"cannot write examples to {output_dir}: {error.strerror}; free space or choose another place.",
                          path=str(output_dir)) from error
    return {"output_dir": str(output_dir.resolve()), "count": count, "seconds": seconds, "seed": seed, "augment": augment,
            "midi": [{"file": item.groove.facts["file"], "hits": len(item.groove.hits), "skipped_keys": item.skipped_keys}
                     for item in midi_grooves], **summary}
