#!/usr/bin/env bash
# Set up (or refresh) the .venv at the repository root: pinned CPU torch, the service's dependencies,
# and the `lars-service` command. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

# Drum kits and FluidSynth for the synthetic training data (lars_service.synthesis): Debian packages,
# installed when missing and apt is usable (as root). Without them everything else works, and the tests
# that need them skip with the reason.
SYNTH_DEBS="fluid-soundfont-gm musescore-general-soundfont-lossless exadrums hydrogen-drumkits hydrogen-data libfluidsynth3 fluidsynth"
missing_debs=""
if command -v dpkg-query >/dev/null 2>&1; then
  for deb in $SYNTH_DEBS; do
    dpkg-query -W -f='${Status}' "$deb" 2>/dev/null | grep -q "install ok installed" || missing_debs="$missing_debs $deb"
  done
else
  missing_debs=" $SYNTH_DEBS"
fi
if [ -n "$missing_debs" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian packages for the synthetic drum data:$missing_debs" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing_debs >/dev/null \
      || echo "setup: apt-get could not install$missing_debs; carrying on without them (synthesis tests that need them skip)" >&2
  else
    echo "setup: Debian packages missing:$missing_debs (needs root and apt-get); carrying on without them:" \
      "kit selections that need them fail with the fix, and the tests that need them skip" >&2
  fi
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
