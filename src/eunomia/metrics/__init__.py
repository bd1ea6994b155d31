"""Prometheus metrics of the agent: what containers did, and the agent's health."""
