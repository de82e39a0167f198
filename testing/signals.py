"""Signals as a runner sends them, including at the moments Python loses a handler's exception."""
from __future__ import annotations

import os
import sys
import weakref


def lose_a_signal(signum: int, hooked: bool = True) -> BaseException | None:
    """Send `signum` to this process while Python runs a weakref callback, as the garbage
    collector or an HTTP client's pool can at any moment: the handler's exception is raised
    there, and Python only reports it (sys.unraisablehook: "Exception ignored in ...") and goes
    on. Returns it; with `hooked` False, sys.unraisablehook is left as it is and None returned."""
    lost: list[BaseException | None] = []

    class Held:
        pass

    def callback(_ref: object) -> None:
        os.kill(os.getpid(), signum)
        for _ in range(1000):  # the handler runs between two of these bytecodes, here
            pass

    previous = sys.unraisablehook
    if hooked:
        sys.unraisablehook = lambda unraisable: lost.append(unraisable.exc_value)
    try:
        held = Held()
        ref = weakref.ref(held, callback)
        del held
        assert ref() is None
    finally:
        sys.unraisablehook = previous
    if not hooked:
        return None
    assert len(lost) == 1 and lost[0] is not None, lost
    return lost[0]
