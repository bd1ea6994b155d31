"""Prometheus metrics of the agent: what containers did, and the agent's health."""

DEFAULT_ADDRESS = "127.0.0.1:9464"  # where `eunomia run` serves them unless told otherwise
