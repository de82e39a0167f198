"""The files counting reads from the open-models packages, and the image build's pruning of the rest.

llama-models and mistral-common are installed for one tokenizer file each (tokens/llama3.py,
tokens/mistral.py): we never import them. Of their 45 MB, the image keeps those two files
(21 MB), each package's `__init__.py` (so that the package is found without being imported) and
its dist-info with the licence, untouched; the other tokenizer versions (tekken_240718.json,
llama4's tokenizer.model, the sentencepiece models) and their Python code never run.

    python -m finetune_action.tokens.package_files SITE_PACKAGES   (the Dockerfile runs it)
"""
from __future__ import annotations

import sys
from pathlib import Path

from finetune_action.tokens import llama3, mistral

#: package -> the files (relative to the package) counting reads from it.
FILES: dict[str, tuple[str, ...]] = {}
for _package, _relative in (llama3.PACKAGE_FILE, mistral.PACKAGE_FILE):
    FILES[_package] = (*FILES.get(_package, ()), _relative)


def prune(site: Path) -> tuple[int, int]:
    """Remove from each open-models package in `site` every file counting does not read; (files, bytes) removed."""
    files = size = 0
    for package, keep in FILES.items():
        root = site / package
        if not root.is_dir():
            continue
        kept = {root / relative for relative in keep} | {root / "__init__.py"}
        for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):  # deepest first: folders empty before they go
            if path.is_symlink() or path.is_file():
                if path not in kept:
                    files += 1
                    size += path.lstat().st_size
                    path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    return files, size


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: python -m finetune_action.tokens.package_files SITE_PACKAGES", file=sys.stderr)
        return 2
    files, size = prune(Path(argv[0]))
    print(f"open-models packages: {files} files ({size / 1e6:.1f} MB) that counting does not read removed; kept: {', '.join(f'{p}/{r}' for p, rs in FILES.items() for r in rs)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
