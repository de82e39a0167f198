"""image/rootfs.py picks the image's files: what runs, with its links and libraries; nothing else.

The image built with it runs in tests/docker/; here the choice is checked on the host's own
interpreter and on small trees made for the purpose.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from image import rootfs

REPO = Path(__file__).resolve().parents[2]

LDD = """\
\tlinux-vdso.so.1 (0x00007ffd5c5f2000)
\tlibpcre2-8.so.0 => /lib/x86_64-linux-gnu/libpcre2-8.so.0 (0x00007f3c1c8a0000)
\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f3c1c881000)
\tlibgone.so.2 => not found
\t/lib64/ld-linux-x86-64.so.2 (0x00007f3c1cad1000)
/usr/lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so:
\tlibssl.so.3 => /lib/x86_64-linux-gnu/libssl.so.3 (0x00007f6a5e4e1000)
"""


def test_ldd_output_gives_each_resolved_library_and_the_loader() -> None:
    assert rootfs.parse_ldd(LDD) == {
        "/lib/x86_64-linux-gnu/libpcre2-8.so.0",
        "/lib/x86_64-linux-gnu/libz.so.1",
        "/lib64/ld-linux-x86-64.so.2",
        "/lib/x86_64-linux-gnu/libssl.so.3",
    }


def test_a_symlink_on_the_way_is_kept_as_a_link_and_its_target_added(tmp_path: Path) -> None:
    (tmp_path / "usr" / "lib").mkdir(parents=True)
    (tmp_path / "usr" / "lib" / "libz.so.1.2.13").write_bytes(b"x")
    (tmp_path / "usr" / "lib" / "libz.so.1").symlink_to("libz.so.1.2.13")
    (tmp_path / "lib").symlink_to("usr/lib")  # merged /usr
    chosen: set[str] = set()
    rootfs.add(tmp_path / "lib" / "libz.so.1", chosen)
    mine = {Path(path).relative_to(tmp_path).as_posix() for path in chosen if Path(path).is_relative_to(tmp_path)}
    assert mine == {".", "lib", "usr", "usr/lib", "usr/lib/libz.so.1", "usr/lib/libz.so.1.2.13"}


def test_a_dangling_link_keeps_the_link_and_a_loop_ends(tmp_path: Path) -> None:
    (tmp_path / "dangling").symlink_to("nowhere")
    (tmp_path / "one").symlink_to("two")
    (tmp_path / "two").symlink_to("one")
    chosen: set[str] = set()
    rootfs.add(tmp_path / "dangling", chosen)
    rootfs.add(tmp_path / "one", chosen)
    assert {str(tmp_path / name) for name in ("dangling", "one", "two")} <= chosen
    assert str(tmp_path / "nowhere") not in chosen


def test_the_standard_library_without_tests_ide_tk_and_the_static_library(tmp_path: Path) -> None:
    stdlib = tmp_path / "python3.11"
    for name in ("os.py", "json/__init__.py", "json/__pycache__/__init__.cpython-311.pyc", "ctypes/test/test_x.py", "unittest/test/x.py",
                 "test/regrtest.py", "idlelib/idle.py", "tkinter/__init__.py", "lib2to3/main.py", "ensurepip/__init__.py",
                 "config-3.11-x86_64-linux-gnu/libpython3.11.a", "site-packages/pip/__init__.py",
                 "lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so", "lib-dynload/_tkinter.cpython-311-x86_64-linux-gnu.so",
                 "lib-dynload/_testcapi.cpython-311-x86_64-linux-gnu.so", "lib-dynload/xxlimited.cpython-311-x86_64-linux-gnu.so"):
        (stdlib / name).parent.mkdir(parents=True, exist_ok=True)
        (stdlib / name).write_bytes(b"")
    kept = {path.relative_to(stdlib).as_posix() for path in rootfs.stdlib_files(stdlib) if path.is_file()}
    assert kept == {"os.py", "json/__init__.py", "json/__pycache__/__init__.cpython-311.pyc", "lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so"}


def test_copy_keeps_modes_symlinks_and_hardlinks(tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "bin").mkdir(parents=True)
    (source / "bin" / "git").write_bytes(b"\x7fELF program")
    os.chmod(source / "bin" / "git", 0o755)
    os.link(source / "bin" / "git", source / "bin" / "git-upload-pack")
    (source / "bin" / "sh").symlink_to("git")
    dest = tmp_path / "dest"
    rootfs.copy([str(source), *(str(source / "bin" / name) for name in ("", "git", "git-upload-pack", "sh"))], dest)
    copied = dest / source.relative_to("/") / "bin"
    assert os.stat(copied / "git").st_ino == os.stat(copied / "git-upload-pack").st_ino
    assert os.readlink(copied / "sh") == "git" and os.stat(copied / "git").st_mode & 0o777 == 0o755


@pytest.mark.skipif(shutil.which("git") is None or shutil.which("ldd") is None, reason="needs git and ldd")
def test_on_this_machine_the_interpreter_its_libraries_and_git_are_chosen_and_the_test_suite_is_not() -> None:
    chosen = set(rootfs.collect())
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    assert os.path.realpath(sys.executable) in chosen
    assert str(Path(os.path.realpath(stdlib)) / "json" / "decoder.py") in chosen or str(stdlib / "json" / "decoder.py") in chosen
    assert not any(Path(path).is_relative_to(stdlib / "test") or Path(path).is_relative_to(stdlib / "tkinter") for path in chosen)
    assert os.path.realpath(shutil.which("git") or "") in chosen
    exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True, check=True).stdout.strip()
    assert os.path.join(exec_path, "git-upload-pack") in chosen  # a builtin by its dashed name: a local remote's fetch runs it
    assert "/bin" in chosen and os.path.realpath("/bin/sh") in chosen  # reached by that path (git's SHELL_PATH), links and all
    assert any(Path(path).name.startswith("libc.so") for path in chosen)
    assert any(Path(path).name.startswith("ld-linux") for path in chosen)


def test_wrong_arguments_give_the_usage_and_exit_2() -> None:
    run = subprocess.run([sys.executable, str(REPO / "image" / "rootfs.py")], capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stdout, run.stderr) == (2, "", "usage: python3 image/rootfs.py DEST\n")
