"""Observers: the harness reads the platform's substrate (topics, offsets, groups, buckets) itself."""
