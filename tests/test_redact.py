"""Redaction of the program's own stdout and stderr, as a subprocess writes them: a secret split
across writes is still redacted, and ordinary lines are not held back."""
from __future__ import annotations

import os
import selectors
import subprocess
import sys
import textwrap

KEY = "sk-proj-splitKEY0123456789abcdefXYZ"


def program(body: str) -> list[str]:
    """A Python process that runs `body` as the command `finetune` dispatches to, inside main()'s wrapping."""
    code = textwrap.dedent(
        """
        import sys
        from finetune_action import main

        def command(argv):
        {body}
            return 0

        main._run = command
        raise SystemExit(main.main([]))
        """
    ).format(body=textwrap.indent(textwrap.dedent(body), "    "))
    return [sys.executable, "-c", code]


def run(body: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    return subprocess.run(program(body), env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_a_key_written_in_two_pieces_is_redacted() -> None:
    result = run(
        f"""
        for stream in (sys.stdout, sys.stderr):
            stream.write("calling with {KEY[:11]}")
            stream.flush()  # print(..., flush=True) between the pieces: still nothing of the key goes out
            stream.write("{KEY[11:]} now\\n")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "calling with *** now\n" and result.stderr == "calling with *** now\n"


def test_a_key_in_many_pieces_and_across_print_calls_is_redacted() -> None:
    result = run(
        f"""
        for character in "{KEY}":
            print(character, end="", flush=True)
        print(" and {KEY[:5]}", "{KEY[5:]}", sep="")
        """
    )
    assert result.stdout == "*** and ***\n"


def test_what_only_looked_like_the_start_of_a_key_is_written_at_the_end() -> None:
    result = run(
        f"""
        sys.stdout.write("done: {KEY[:9]}")  # the last write: held back, then written at exit
        sys.stderr.write("{KEY[:4]} is how keys start\\n")
        """
    )
    assert result.returncode == 0
    assert result.stdout == f"done: {KEY[:9]}" and result.stderr == f"{KEY[:4]} is how keys start\n"


def test_lines_and_flushed_progress_are_not_held_back() -> None:
    body = """
        print("first line", flush=True)
        sys.stdout.write("progress 50%")
        sys.stdout.flush()
        sys.stdin.readline()  # waits until the test has seen both
        print(" done")
        """
    process = subprocess.Popen(program(body), env={**os.environ, "OPENAI_API_KEY": KEY},
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stdin is not None
    seen = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while seen != b"first line\nprogress 50%" and selector.select(timeout=20):
            seen += os.read(process.stdout.fileno(), 1024)
    assert seen == b"first line\nprogress 50%"
    out, err = process.communicate(b"go\n", timeout=60)
    assert out == b" done\n" and process.returncode == 0, err
