"""Traffic generators with known ground truth (the built-in demo city for now)."""
