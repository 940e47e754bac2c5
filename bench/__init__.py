"""Benchmarks (`make bench`): figures as ratios measured in one run, never timed tests."""
