"""The root filesystem of the action's image: only what the action runs, copied out of the build.

    python3 image/rootfs.py DEST

Run in the Dockerfile's `runtime` stage (the Python base with git installed and the virtualenv
copied in); the final stage is `FROM scratch` with DEST copied to /. What goes in:
- the virtualenv /opt/finetune (already without pip, setuptools and tests);
- the interpreter and its standard library, without the parts nothing of ours imports (the test
  suites, IDLE, Tk, lib2to3, pydoc's topics, ensurepip, the static library; PRUNED);
- git, and of git's helper programs only git itself under its dashed names and git-remote-http
  (the https transport `git fetch` uses for the base branch); /bin/sh, which git runs for local
  remotes;
- every shared library those programs and the extension modules load (as `ldd` resolves them,
  with the dynamic loader), and the few files of /etc they read (ETC).
A path that is a symlink is copied as one, and so is every link on the way to its target, so a
base's layout (merged /usr, python:3.11-slim's /usr/local, Debian's /etc/python3.11) is kept.
Hardlinks stay hardlinks: the list is handed to one `tar`, which stores each inode once.

Nothing here is specific to one base: the paths come from the interpreter (sysconfig), from git
(`git --exec-path`) and from ldd. tests/image/test_rootfs.py checks the choice on the host;
tests/docker/ runs the image built with it.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Iterator
from pathlib import Path

VENV = Path("/opt/finetune")
#: Parts of the standard library nothing the action runs imports (names under the stdlib directory).
PRUNED = frozenset({"test", "idlelib", "tkinter", "turtledemo", "turtle.py", "ensurepip", "lib2to3", "pydoc_data", "site-packages", "dist-packages", "__phello__"})
#: Directories of test suites inside stdlib packages (ctypes/test, unittest/test, ...).
PRUNED_DIRS = frozenset({"test", "tests", "idle_test"})
#: Extension modules of the parts above, and CPython's own test modules.
PRUNED_MODULES = re.compile(r"^(_tkinter|_test\w*|_ctypes_test|_xx\w*|xx\w*)\.")
#: What is read in /etc: users (git, getpass), name service and loader configuration, CA
#: certificates (git's https transport; Python's clients use certifi's), git's system config.
ETC = ("passwd", "group", "nsswitch.conf", "host.conf", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "ssl", "ca-certificates.conf", "gitconfig", "os-release")
#: The shell git runs commands with (its SHELL_PATH, by this absolute path), /bin kept as a base links it.
SHELL = Path("/bin/sh")
#: glibc's C.UTF-8 locale (LANG in the image), where a base ships it as files.
LOCALE = Path("/usr/lib/locale/C.utf8")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python3 image/rootfs.py DEST", file=sys.stderr)
        return 2
    dest = Path(argv[0])
    paths = collect()
    copy(paths, dest)
    for name, mode in (("tmp", 0o1777), ("root", 0o700)):
        (dest / name).mkdir(mode=mode, exist_ok=True)
        os.chmod(dest / name, mode)
    return 0


def collect() -> list[str]:
    """Every path to copy (files, symlinks and the directories holding them), sorted."""
    chosen: set[str] = set()
    for root in (VENV, *(Path("/etc") / name for name in ETC), LOCALE):
        if root.exists():
            for path in walk(root):
                add(path, chosen)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in stdlib_files(stdlib):
        add(path, chosen)
    dynload = sysconfig.get_config_var("DESTSHARED")
    if dynload and not Path(dynload).is_relative_to(stdlib):
        for path in walk(Path(dynload)):
            if not PRUNED_MODULES.match(path.name):
                add(path, chosen)
    add(Path(sys.executable), chosen)
    for path in git_files():
        add(path, chosen)
    if os.path.lexists(SHELL):
        add(SHELL, chosen)
    for library in libraries(sorted(chosen)):
        add(Path(library), chosen)
    return sorted(chosen)


def stdlib_files(stdlib: Path) -> Iterator[Path]:
    """The standard library without PRUNED, its packages' test suites and PRUNED_MODULES."""
    for top in sorted(stdlib.iterdir()):
        if top.name in PRUNED or top.name.startswith("config-"):  # config-3.11-...: the static library, for building
            continue
        for path in walk(top):
            if PRUNED_DIRS & set(path.relative_to(stdlib).parts) or path.parent.name == "lib-dynload" and PRUNED_MODULES.match(path.name):
                continue
            yield path


def git_files() -> Iterator[Path]:
    """git, and the entries of its exec path that are git (builtins run under their dashed name,
    such as git-upload-pack for a local remote) or the https transport; not its other programs."""
    git = shutil.which("git")
    if git is None:
        raise SystemExit("rootfs: git is not installed in this stage (the Dockerfile installs it first)")
    yield Path(git)
    exec_path = Path(subprocess.run([git, "--exec-path"], capture_output=True, text=True, check=True).stdout.strip())
    programs = {_inode(path) for path in (Path(git), exec_path / "git", exec_path / "git-remote-http") if path.exists()}
    for entry in sorted(exec_path.iterdir()):
        if not entry.is_dir() and _inode(entry) in programs:
            yield entry


def _inode(path: Path) -> tuple[int, int]:
    found = os.stat(path)
    return found.st_dev, found.st_ino


def walk(root: Path) -> Iterator[Path]:
    """root and everything under it, symlinks not followed."""
    yield root
    if root.is_symlink() or not root.is_dir():
        return
    for directory, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in (*dirnames, *sorted(filenames)):
            yield Path(directory) / name


def add(path: Path, chosen: set[str], links: int = 0) -> None:
    """path as it is reached from /: every symlink on the way kept as a link, its target added
    too. A path that does not exist (a dangling link's target) is left out."""
    parts = Path(os.path.abspath(path)).parts[1:]
    current = Path("/")
    for index, part in enumerate(parts):
        current = current / part
        if str(current) in chosen and not current.is_symlink():
            continue
        if not os.path.lexists(current):
            return
        if current.is_symlink():
            if links >= 40:  # as the kernel gives up (ELOOP)
                return
            chosen.add(str(current))
            target = Path(os.path.join(current.parent, os.readlink(current)))
            rest = Path(*parts[index + 1 :]) if index + 1 < len(parts) else None
            add(target / rest if rest else target, chosen, links + 1)
            return
        chosen.add(str(current))


def libraries(paths: Iterable[str]) -> set[str]:
    """The shared libraries (and dynamic loader) the ELF files among `paths` load, as ldd resolves them."""
    found: set[str] = set()
    elves = [path for path in paths if _is_elf(path)]
    for start in range(0, len(elves), 64):
        out = subprocess.run(["ldd", *elves[start : start + 64]], capture_output=True, text=True, check=False).stdout
        found.update(parse_ldd(out))
    return found


def parse_ldd(out: str) -> set[str]:
    """Library paths in ldd's output (`name => /path (0x...)` and the loader's `/path (0x...)`)."""
    found = set()
    for line in out.splitlines():
        match = re.match(r"\s+(?:\S+ => )?(/\S+) \(0x[0-9a-f]+\)$", line)
        if match:
            found.add(match.group(1))
    return found


def _is_elf(path: str) -> bool:
    try:
        mode = os.lstat(path).st_mode
        if not stat.S_ISREG(mode):
            return False
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def copy(paths: list[str], dest: Path) -> None:
    """Copy the paths (not recursing: the list names every entry) with their modes, links and hardlinks."""
    dest.mkdir(parents=True, exist_ok=True)
    listing = "\0".join(path.lstrip("/") for path in paths) + "\0"
    pack = subprocess.Popen(["tar", "-C", "/", "--null", "--no-recursion", "--files-from=-", "-cf", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    unpack = subprocess.Popen(["tar", "-C", str(dest), "-xpf", "-"], stdin=pack.stdout)
    assert pack.stdin is not None and pack.stdout is not None
    pack.stdout.close()
    pack.stdin.write(listing.encode())
    pack.stdin.close()
    if pack.wait() != 0 or unpack.wait() != 0:
        raise SystemExit("rootfs: copying with tar failed")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
