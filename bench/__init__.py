"""Benchmarks: each module prints `bench: <name> <value>` lines."""
