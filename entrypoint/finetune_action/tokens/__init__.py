"""Offline token counting: vendored rank files and the counting rules for each data format."""
