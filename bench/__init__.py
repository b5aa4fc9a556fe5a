"""Benchmarks for `make bench`: each scenario side by side with its bare limit, in the same run."""
