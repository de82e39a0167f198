"""`finetune schema`: print the JSON Schema of finetune.yaml."""
from __future__ import annotations

import sys
from importlib import resources

from finetune_action.errors import EXIT_OK


def schema() -> int:
    """Write the shipped JSON Schema to stdout."""
    sys.stdout.write(resources.files("finetune_action").joinpath("finetune.schema.json").read_text("utf-8"))
    return EXIT_OK
