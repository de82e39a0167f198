"""Training data: stream JSONL files, detect their format and check every example."""
