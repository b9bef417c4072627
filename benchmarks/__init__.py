"""Benchmarks: timing scripts run as `python3 -m benchmarks.NAME`."""
