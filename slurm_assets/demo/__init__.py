"""Deterministic demo and benchmark data: sacct text as real sacct prints it."""
