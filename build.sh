#!/usr/bin/env bash
# Build the frozen lars-service binary with PyInstaller, then smoke-test it.
#
#   ./build.sh [--clean] [--onefile]
#     --clean    remove build/ and dist/ first
#     --onefile  build dist/lars-service (one self-extracting file) instead of dist/lars-service/lars-service
#
# Uses the .venv made by scripts/setup.sh (or the Python in $PYTHON) and installs requirements-build.txt into
# it when PyInstaller is missing. The binary holds no PyTorch: LarsNet runs on ONNX Runtime. Weights in
# src/lars_service/larsnet/pretrained_larsnet_models/<stem>/ are bundled when present.
# The smoke run checks that no torch went in, `info`, `models status` and a placeholder separation of a generated clip;
# it also runs LarsNet with the Wiener filter when weights are bundled or $LARS_SMOKE_MODELS_DIR names a models directory.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-.venv/bin/python}
clean=0
spec_options=()
binary=dist/lars-service/lars-service
for option in "$@"; do
  case $option in
    --clean) clean=1 ;;
    --onefile) spec_options=(-- --onefile); binary=dist/lars-service ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown option $option (see ./build.sh --help)" >&2; exit 2 ;;
  esac
done
if ! command -v "$PYTHON" > /dev/null; then
  echo "build.sh: no Python at $PYTHON; run scripts/setup.sh first, or set PYTHON=/path/to/python" >&2
  exit 1
fi
if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
  "$PYTHON" -m pip install --quiet --disable-pip-version-check -r requirements-build.txt
fi
if [ "$clean" = 1 ]; then
  rm -rf build dist
fi
rm -rf dist/lars-service  # a one-file build and a one-folder build share this name

started=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --log-level WARN lars-service.spec "${spec_options[@]}"
echo "build.sh: built $binary in $(( $(date +%s) - started )) s ($(du -sh dist/lars-service | cut -f1) in dist/lars-service)"
if [ -n "$(find dist/lars-service -name 'torch' -o -name 'libtorch*' | head -1)" ]; then
  echo "build.sh: the bundle contains torch; it must not (see excludes in lars-service.spec)" >&2
  exit 1
fi

# Smoke run: the binary must answer `info` and separate a short clip, each with the right JSON document.
smoke=$(mktemp -d)
trap 'rm -rf "$smoke"' EXIT
"$PYTHON" - "$smoke/clip.wav" <<'PY'
import sys
import numpy as np
import soundfile
rate = 44100
time = np.arange(rate // 2) / rate
clip = 0.5 * np.sin(2 * np.pi * 60 * time) * np.exp(-8 * time) + 0.05 * np.random.default_rng(0).standard_normal(time.size)
soundfile.write(sys.argv[1], np.stack([clip, clip], axis=1).astype(np.float32), rate)
PY
"$binary" info > "$smoke/info.json"
"$binary" models status > "$smoke/models-status.json"
"$binary" separate --input "$smoke/clip.wav" --output-dir "$smoke/placeholder" --processor placeholder > "$smoke/placeholder.json"
larsnet_usable=$("$PYTHON" -c "import json,sys; d=json.load(open(sys.argv[1])); print(int(any(p['name']=='larsnet' and p['usable'] for p in d['processors'])))" "$smoke/info.json")
checks=("$smoke/placeholder.json")
if [ "$larsnet_usable" = 1 ] || [ -n "${LARS_SMOKE_MODELS_DIR:-}" ]; then
  "$binary" separate --input "$smoke/clip.wav" --output-dir "$smoke/larsnet" --processor larsnet --wiener-filter \
    ${LARS_SMOKE_MODELS_DIR:+--models-dir "$LARS_SMOKE_MODELS_DIR"} > "$smoke/larsnet.json"
  checks+=("$smoke/larsnet.json")
fi
"$PYTHON" - "$smoke/info.json" "$smoke/models-status.json" "${checks[@]}" <<'PY'
import json
import sys
from pathlib import Path
info = json.loads(Path(sys.argv[1]).read_text())
status = json.loads(Path(sys.argv[2]).read_text())
assert "error" not in status and status["models_dir"]["path"] == info["models_dir"]["path"], status
assert info["version"] and {p["name"] for p in info["processors"]} == {"larsnet", "larsnet-hybrid", "larsnet-open", "demucs-filter", "placeholder"}, info
assert info["devices"] == ["cpu"] and info["runtime"] == "onnx" and not info["runtimes"]["torch"]["installed"], info
for name in sys.argv[3:]:
    result = json.loads(Path(name).read_text())
    assert "error" not in result, result
    stems = result["stems"]
    assert list(stems) == ["kick", "snare", "toms", "hihat", "cymbals"], result
    assert all(Path(path).is_file() and Path(path).stat().st_size > 44 for path in stems.values()), result
    print(f"build.sh: smoke run ok: {result['processor']} on {result['runtime']} (wiener_filter={result['wiener_filter']}), "
          f"{result['processing_time']} s")
print(f"build.sh: smoke run ok: info (version {info['version']}, larsnet usable: {info['processors'][0]['usable']})")
PY
