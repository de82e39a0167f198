"""`finetune check`: validate configs (data and cost are added by the dataset work)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from finetune_action import config as config_module
from finetune_action.errors import EXIT_OK, EXIT_USAGE, ConfigError


def check(patterns: list[str], output_format: str = "text") -> int:
    """Check each config; return 0 when all pass, 2 when any config is invalid."""
    results = []
    exit_code = EXIT_OK
    for path in config_module.expand_config_paths(patterns, Path.cwd()):
        try:
            loaded = config_module.load(path)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            results.append({"config": str(path), "ok": False, "errors": [{"path": str(path), "line": None, "code": "config-invalid", "message": str(exc)}], "warnings": []})
            exit_code = EXIT_USAGE
            continue
        results.append({"config": loaded.display_path, "ok": True, "errors": [], "warnings": []})
        if output_format == "text":
            print(f"Checking {loaded.display_path}: PASSED")
    if output_format == "json":
        print(json.dumps({"ok": exit_code == EXIT_OK, "configs": results}, indent=2))
    return exit_code
