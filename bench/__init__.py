"""Benchmarks: run with `make bench` (never by the tests). Results land in bench/out/."""
