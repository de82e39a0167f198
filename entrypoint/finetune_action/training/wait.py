"""Wait for a job: poll with a backing-off interval, show only new events, stop at a deadline.

A timeout or a signal ends the wait, never the job: the caller says how to resume, or cancels
when the config asks for it. Any status not in FINISHED (`paused`, or one invented later)
counts as in progress. No request outlives the deadline: each poll may take only the time left,
and a poll whose answer does not come before the deadline ends the wait like the timeout does.
"""
from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any, NamedTuple, TextIO, TypeVar

from finetune_action.errors import ProviderError
from finetune_action.github import actions
from finetune_action.providers.base import FINISHED, Event, Job, Provider

#: The first pause between polls; it grows by BACKOFF while nothing changes, up to wait.poll_interval.
FIRST_INTERVAL = 2.0
BACKOFF = 1.5
T = TypeVar("T")
METRICS_SHOWN = ("train_loss", "train_mean_token_accuracy", "valid_loss", "valid_mean_token_accuracy", "full_valid_loss")


class Waited(NamedTuple):
    job: Job  # as last read
    timed_out: bool


class Aborted(BaseException):
    """SIGTERM or SIGINT arrived (the workflow run was cancelled, or Ctrl-C)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def on_signals(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """Call `handler` on SIGTERM and SIGINT inside, the previous handlers restored after."""
    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


#: Signals that arrived inside abort_on_signals and whose Aborted no caller has handled yet.
_arrived: list[int] = []


@contextlib.contextmanager
def abort_on_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into Aborted inside, so the caller decides what happens to the job.

    A handler's exception is lost when the signal lands while Python runs a weakref callback or
    a __del__ (Python hands it to sys.unraisablehook and goes on): the signal is also noted, and
    the wait's loop raises it at its next poll (raise_arrived), so a cancelled run still stops.
    Inside, the hook drops such a lost Aborted instead of printing "Exception ignored in ..."
    and a traceback: the run's output says it stopped, once, when the Aborted is raised again.
    """

    def handler(signum: int, frame: Any) -> None:
        _arrived.append(signum)
        raise Aborted(signum)

    def unraisable(lost: Any) -> None:
        if not isinstance(lost.exc_value, Aborted):
            previous_hook(lost)

    handled()
    previous_hook, sys.unraisablehook = sys.unraisablehook, unraisable
    try:
        with on_signals(handler):
            yield
    finally:
        sys.unraisablehook = previous_hook
        handled()


def raise_arrived() -> None:
    """Raise Aborted for a signal that arrived and was not handled (its own Aborted was lost)."""
    if _arrived:
        raise Aborted(_arrived[-1])


def handled() -> None:
    """Say that the signals so far are being handled: the caller caught their Aborted."""
    _arrived.clear()


class Display(NamedTuple):
    """Where progress goes: log groups inside GitHub Actions, plain lines at a terminal."""

    in_actions: bool
    stream: TextIO | None = None
    verbosity: int = 0  # -1 terse (-q), 1 detailed (-v)

    def line(self, text: str) -> None:
        print(text, file=self.stream or sys.stdout, flush=True)

    def error(self, message: str, title: str) -> None:
        """An error annotation inside Actions; `error: ...` on stderr at a terminal, apart from progress."""
        if self.in_actions:
            actions.error(message, title=title, stream=self.stream)
        else:
            print(f"error: {message}", file=sys.stderr, flush=True)

    def warning(self, message: str) -> None:
        """A warning annotation inside Actions; `warning: ...` on stderr at a terminal."""
        if self.in_actions:
            actions.warning(message, stream=self.stream)
        else:
            print(f"warning: {message}", file=sys.stderr, flush=True)


def wait_for_job(
    provider: Provider,
    job: Job,
    *,
    timeout: float,
    poll_interval: float,
    display: Display,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.time,
) -> Waited:
    """Poll `job` until it finishes or `timeout` seconds pass, showing its new events."""
    deadline = clock() + timeout
    interval = min(FIRST_INTERVAL, poll_interval)
    after: str | None = None
    status: str | None = None
    progress: dict[str, int] = {}
    while True:
        events = _in_time(lambda left: provider.list_events(job.id, after, timeout=left), deadline, clock)
        raise_arrived()
        if events is None:
            return Waited(job, True)
        if events:
            after = events[-1].id
        changed = bool(events) or job.status != status
        if changed:
            _show(job, events, progress, display, now())
        status = job.status
        if job.status in FINISHED:
            return Waited(job, False)
        remaining = deadline - clock()
        if remaining <= 0:
            return Waited(job, True)
        interval = min(FIRST_INTERVAL, poll_interval) if changed else min(interval * BACKOFF, poll_interval)
        raise_arrived()
        sleep(min(interval, remaining))
        raise_arrived()
        polled = _in_time(lambda left: provider.get_job(job.id, timeout=left), deadline, clock)
        if polled is None:
            return Waited(job, True)
        job = polled


def _in_time(read: Callable[[float], T], deadline: float, clock: Callable[[], float]) -> T | None:
    """`read(seconds left)`, or None when its answer did not come before the deadline (detach)."""
    try:
        return read(max(deadline - clock(), 0.0))
    except ProviderError as exc:
        if exc.ambiguous and clock() >= deadline:
            return None
        raise


def _show(job: Job, events: Sequence[Event], progress: dict[str, int], display: Display, now: float) -> None:
    for event in events:
        step, total = event.data.get("step"), event.data.get("total_steps")
        if isinstance(step, int):
            progress["step"] = step
        if isinstance(total, int):
            progress["total"] = total
    headline = f"{job.id}: {describe(job, progress.get('step'), progress.get('total'), now)}"
    if not events:
        display.line(headline)
        return
    lines = [event_line(e) for e in events]
    if display.in_actions:
        with actions.group(f"{headline} ({len(events)} new event{'s' if len(events) > 1 else ''})", stream=display.stream):
            with actions.stop_commands(stream=display.stream):  # event text can echo training data
                for text in lines:
                    display.line(text)
        return
    display.line(headline)
    for text in lines:
        display.line("  " + text)


def describe(job: Job, step: int | None, total: int | None, now: float) -> str:
    """One line: status, step N of total, and the ETA the provider estimates."""
    parts = [job.status]
    if step is not None and total:
        parts.append(f"step {step} of {total} ({100 * step // total}%)")
    elif step is not None:
        parts.append(f"step {step}")
    if job.estimated_finish and job.status not in FINISHED:
        eta = datetime.fromtimestamp(job.estimated_finish, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        left = job.estimated_finish - now
        parts.append(f"ETA {eta}" + (f" (in {_duration(left)})" if left > 0 else ""))
    return ", ".join(parts)


def event_line(event: Event) -> str:
    """An event as a log line; metrics events show their step and numbers."""
    when = datetime.fromtimestamp(event.created_at, timezone.utc).strftime("%H:%M:%S")
    level = "" if event.level == "info" else f"{event.level}: "
    if event.type == "metrics" and "step" in event.data:
        total = event.data.get("total_steps")
        step = f"step {event.data['step']}" + (f"/{total}" if total else "")
        numbers = ", ".join(f"{k} {event.data[k]:.4g}" for k in METRICS_SHOWN if isinstance(event.data.get(k), (int, float)))
        return f"{when} {level}{step}: {numbers}" if numbers else f"{when} {level}{step}"
    return f"{when} {level}{event.message}"


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{max(minutes, 1)} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"
