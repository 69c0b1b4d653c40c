"""The weight-free fallback separator: NMFD drum separation, with optional Demucs drum isolation first."""
