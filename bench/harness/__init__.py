"""Eunomia's benchmark harness: see bench/run.py."""
