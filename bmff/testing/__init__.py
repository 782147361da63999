"""Helpers for tests and benchmarks, not for reading files: synthetic movies (`synth`) and the fuzz harness (`fuzz`)."""
