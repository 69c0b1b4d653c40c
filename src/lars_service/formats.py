"""Output formats and their bit depths, as libsndfile names them."""
from __future__ import annotations

FORMATS = {"wav": "WAV", "flac": "FLAC", "mp3": "MP3"}
#: bit depth -> libsndfile subtype, per format; None: the format has no bit depth (mp3). 32 is float.
SUBTYPES = {
    "wav": {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"},
    "flac": {16: "PCM_16", 24: "PCM_24"},
    "mp3": {None: "MPEG_LAYER_III"},
}
DEFAULT_BIT_DEPTH = {"wav": 24, "flac": 24, "mp3": None}
MP3_SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
