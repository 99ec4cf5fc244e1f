"""Benchmarks: how many store requests, bytes and milliseconds the data path costs."""
