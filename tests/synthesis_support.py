"""Where the synthesis tests find their kits, and skip markers for the Debian packages they need."""
from __future__ import annotations

import importlib.util

import pytest

from lars_service.synthesis.sources import EXADRUMS_DIR, FLUIDR3_SF2, HYDROGEN_DRUMKITS, MUSESCORE_GENERAL_SF2
from support import KITS

DEV_KIT = KITS / "dev"

needs_dev_kit = pytest.mark.skipif(not DEV_KIT.is_dir(), reason="../shared/kits/dev is not present")
needs_hydrogen = pytest.mark.skipif(
    not (HYDROGEN_DRUMKITS / "Audiophob").is_dir(),
    reason="Hydrogen kits not installed (scripts/setup.sh: apt-get install hydrogen-drumkits hydrogen-data)")
needs_exadrums = pytest.mark.skipif(not (EXADRUMS_DIR / "Default.xml").is_file(),
                                    reason="exadrums not installed (scripts/setup.sh: apt-get install exadrums)")
needs_fluidr3 = pytest.mark.skipif(
    not FLUIDR3_SF2.is_file() or importlib.util.find_spec("fluidsynth") is None,
    reason="FluidR3 or pyfluidsynth missing (scripts/setup.sh: apt-get install fluid-soundfont-gm libfluidsynth3; pip install pyfluidsynth)")
needs_musescore_general = pytest.mark.skipif(
    not MUSESCORE_GENERAL_SF2.is_file() or importlib.util.find_spec("fluidsynth") is None,
    reason="MuseScore General or pyfluidsynth missing (scripts/setup.sh: apt-get install musescore-general-soundfont-lossless "
    "libfluidsynth3; pip install pyfluidsynth)")
