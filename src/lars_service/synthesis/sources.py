"""The drum sample sources this project may use, and the named kit selections.

Exactly the rows of ../shared/kits/ALLOWED_SOURCES.md, none other. Hydrogen kits that are installed by
the same Debian package but not allowed are refused by name (`REFUSED_HYDROGEN_KITS`). Each source
records its licence (as the table and the kit's own files state it), attribution, whether it is
permissive (CC0, CC-BY, MIT, BSD: weights trained on it may be released permissively) and where it is
found. Selections:
- `PERMISSIVE`: every permissive kit, all used for training (weights trained on them may be released
  permissively, so none is spent on measurement).
- `ALL_ALLOWED`: adds the copyleft kits that are not held out.
- `HELDOUT`: never used for training, used for validation and the benchmark: four acoustic copyleft kits
  (Hydrogen ColomboAcousticDrumkit and the three Millo kits, one drummer's recordings, held out together
  so that a model trained on `ALL_ALLOWED` hears none of them either). Copyleft kits can never train the
  shipped weights, so holding them out costs the shipped model no data.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HYDROGEN_DRUMKITS = Path("/usr/share/hydrogen/data/drumkits")
FLUIDR3_SF2 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
MUSESCORE_GENERAL_SF2 = Path("/usr/share/sounds/sf2/MuseScore_General_Full.sf2")
#: kit_id -> its SoundFont file
SOUNDFONT_FILES = {"fluidr3": FLUIDR3_SF2, "musescore-general": MUSESCORE_GENERAL_SF2}
EXADRUMS_DIR = Path("/usr/share/exadrums")


def shared_kits_dir() -> Path:
    """../shared/kits beside the repository, or $LARS_KITS_DIR."""
    configured = os.environ.get("LARS_KITS_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3].parent / "shared" / "kits"


@dataclass(frozen=True)
class Source:
    """One allowed source of drum samples.

    Attributes:
        kit_id: the name selections use ("shared-dev", "fluidr3", "musescore-general", "exadrums-default",
            "hydrogen:<folder>").
        kind: "folder", "soundfont", "exadrums" or "hydrogen" (which loader reads it).
        license: SPDX-style licence identifier.
        attribution: author and origin, as to be credited.
        permissive: CC0, CC-BY, MIT or BSD.
        debian_package: the Debian package that installs it ("" for ../shared).
        acoustic: recorded acoustic drums (rather than electronic or mixed one-shots).
    """

    kit_id: str
    kind: str
    license: str
    attribution: str
    permissive: bool
    debian_package: str
    acoustic: bool

    @property
    def location(self) -> Path:
        """Where the kit is found on this machine (it may be absent)."""
        if self.kind == "folder":
            return shared_kits_dir() / "dev"
        if self.kind == "soundfont":
            return SOUNDFONT_FILES[self.kit_id]
        if self.kind == "exadrums":
            return EXADRUMS_DIR / "Default.xml"
        return HYDROGEN_DRUMKITS / self.kit_id.split(":", 1)[1]


def _hydrogen(folder: str, license: str, attribution: str, permissive: bool, acoustic: bool, package: str = "hydrogen-drumkits") -> Source:
    return Source(f"hydrogen:{folder}", "hydrogen", license, attribution, permissive, package, acoustic)


SOURCES: tuple[Source, ...] = (
    Source("shared-dev", "folder", "CC0-1.0", "freesound.org authors via the Sonic Pi sample collection (../shared/kits/README.md)",
           True, "", False),
    Source("fluidr3", "soundfont", "MIT", "FluidR3 GM SoundFont by Frank Wen (Debian fluid-soundfont-gm)", True,
           "fluid-soundfont-gm", True),
    Source("musescore-general", "soundfont", "MIT", "MuseScore General SoundFont by S. Christian Collins (MIT), its marching "
           "drums from MuseScore Drumline by S. Christian Collins & Amir Oosman (CC0) and open crashes from the Versilian "
           "Community Sample Library by Sam Gossner (CC0) (Debian musescore-general-soundfont-lossless)", True,
           "musescore-general-soundfont-lossless", True),
    Source("exadrums-default", "exadrums", "BSD-3-Clause", "eXaDrums Default kit, samples recorded by Phill Mason; "
           "eXaDrums by Jeremy Oden", True, "exadrums", True),
    _hydrogen("Audiophob", "CC0-1.0", "Audiophob (soundcloud.com/audiophobdubstep), freesound.org samples", True, False),
    _hydrogen("rumpf_kit_z01_h2", "CC-BY-3.0", "rumpf_kit_z01 by Emanuel Rumpf (sf.net/projects/rumpf-kit)", True, False),
    _hydrogen("BJA_Pacific", "CC-BY-SA-3.0-US", "BJA_Pacific by Luc Tanguay / Bransin James Anderson", False, True),
    _hydrogen("ColomboAcousticDrumkit", "GPL-2.0-or-later", "Colombo Acoustic Drumkit by Marcos Guglielmetti", False, True),
    _hydrogen("ForzeeStereo", "GPL-2.0-only", "Forzee Stereo Drumkit by Vladimir Sadovnikov, Alexander Belokurov", False, True),
    _hydrogen("Millo-Drums_v.1", "GPL-2.0-only", "Millo Drums by Emiliano Grilli (emillo.net)", False, True),
    _hydrogen("Millo_MultiLayered2", "GPL-2.0-only", "Millo MultiLayered 2 by Emiliano Grilli (emillo.net)", False, True),
    _hydrogen("Millo_MultiLayered3", "GPL-2.0-only", "Millo MultiLayered 3 by Emiliano Grilli (emillo.net)", False, True),
    _hydrogen("ElectricEmpireKit", "GPL-2.0-or-later", "ElectricEmpireKit by ArtemioLabs", False, False),
    _hydrogen("HardElectro1", "GPL-2.0-or-later", "HardElectro1 by ArtemioLabs", False, False),
    _hydrogen("VariBreaks", "GPL-2.0-or-later", "VariBreaks by Sineshine", False, False),
    _hydrogen("TR808EmulationKit", "GPL-2.0-or-later", "TR808EmulationKit by ArtemioLabs", False, False, package="hydrogen-data"),
)
SOURCES_BY_ID = {source.kit_id: source for source in SOURCES}

# Installed by the same Debian packages, not allowed: refused by name (folder or kit name).
REFUSED_HYDROGEN_KITS = ("The Black Pearl 1.0", "GMRockKit", "Gimme A Hand 1.0", "circAfrique v4", "belofilms_GuitarStrums")

HELDOUT: tuple[str, ...] = ("hydrogen:ColomboAcousticDrumkit", "hydrogen:Millo-Drums_v.1", "hydrogen:Millo_MultiLayered2",
                             "hydrogen:Millo_MultiLayered3")
PERMISSIVE: tuple[str, ...] = tuple(s.kit_id for s in SOURCES if s.permissive and s.kit_id not in HELDOUT)
ALL_ALLOWED: tuple[str, ...] = tuple(s.kit_id for s in SOURCES if s.kit_id not in HELDOUT)
SELECTIONS = {"permissive": PERMISSIVE, "all": ALL_ALLOWED, "heldout": HELDOUT}


def is_refused(name: str) -> bool:
    """Whether a Hydrogen kit (folder or `<name>`) is one of the installed kits we may not use."""
    normalised = name.strip().lower()
    return any(normalised == refused.lower() or normalised == refused.lower().rsplit(" ", 1)[0]
               for refused in REFUSED_HYDROGEN_KITS)


def source_for_hydrogen_folder(folder: Path) -> Source | None:
    """The allowed source of a Hydrogen kit folder, or None for a user's own kit."""
    source = SOURCES_BY_ID.get(f"hydrogen:{folder.name}")
    return source if source is not None and folder.resolve() == source.location.resolve() else None
