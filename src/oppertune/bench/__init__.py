"""Benchmarks: ``python -m oppertune.bench.overhead`` prints the cost of a tuning round."""
