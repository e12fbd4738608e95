"""Benchmarks (not tests): `python -m bench.creates`."""
