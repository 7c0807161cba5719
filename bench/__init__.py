"""Benchmarks: each prints its numbers beside a raw baseline measured in the same run."""
