"""Evaluation of a fine-tune against its base: graders and statistics (pure), the run (calls behind providers/)."""
