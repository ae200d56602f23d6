"""Memora's benchmarks: each measures a Memora path and a baseline in the same run, and reports the ratio."""
