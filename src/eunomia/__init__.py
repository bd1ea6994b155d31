"""Eunomia: an eBPF-based, lightweight monitor for container security and observability."""

__version__ = "0.1.0"
