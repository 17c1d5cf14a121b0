"""Real programs OPPerTune tunes in demos, examples and benchmarks."""
