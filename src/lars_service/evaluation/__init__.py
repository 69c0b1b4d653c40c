"""Measuring separation quality: metrics (SDR, SI-SDR), baselines, and a benchmark set with known stems."""
