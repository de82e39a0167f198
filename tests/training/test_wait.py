"""Waiting: new events only, backing-off polls, unknown statuses in progress, a deadline that detaches."""
from __future__ import annotations

import io
import os
import signal
import sys
from collections.abc import Iterator

import pytest

from finetune_action.config import ProviderSettings
from finetune_action.providers import get_provider
from finetune_action.providers.base import Event, Job, Provider
from finetune_action.training import wait
from testing.openai_standin import StandIn, serve
from testing.signals import lose_a_signal


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with serve(extra_statuses=("mystery_status",)) as server:
        yield server


@pytest.fixture
def provider(standin: StandIn) -> Provider:
    return get_provider(ProviderSettings("openai", standin.base_url, None, None, "OPENAI_API_KEY"), {"OPENAI_API_KEY": standin.api_key})


class Clock:
    """Time that passes only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def run(provider: Provider, job: Job, clock: Clock, *, timeout: float = 1000, poll: float = 30, in_actions: bool = False) -> tuple[wait.Waited, str]:
    out = io.StringIO()
    waited = wait.wait_for_job(
        provider, job, timeout=timeout, poll_interval=poll, display=wait.Display(in_actions, out),
        clock=lambda: clock.now, sleep=clock.sleep, now=lambda: 1_767_225_600.0,
    )
    return waited, out.getvalue()


def test_waits_through_unknown_statuses_and_shows_each_event_once(standin: StandIn, provider: Provider) -> None:
    standin.script_job(["validating_files", "queued", "running", "paused", "mystery_status", "running", "succeeded"])
    job = provider.get_job(standin.add_job()["id"])
    waited, out = run(provider, job, Clock())
    assert waited.job.status == "succeeded" and not waited.timed_out
    assert out.count("Validating training file") == 1 and out.count("The job has successfully completed") == 1
    assert "mystery_status" in out and "paused" in out
    assert "step 6/6: train_loss 0.3333" in out and "step 6 of 6 (100%)" in out
    afters = [r.query.get("after") for r in standin.calls("fine_tuning.jobs.list_events")]
    assert afters[0] is None  # later polls page from the newest event down to the cursor


def test_polls_back_off_while_nothing_changes_and_restart_short_after_a_change(standin: StandIn, provider: Provider) -> None:
    standin.script_job(["validating_files"] + ["queued"] * 8 + ["running", "succeeded"], events=[[]] + [[]] * 8 + [["go"], ["done"]])
    job = provider.get_job(standin.add_job()["id"])
    clock = Clock()
    waited, _ = run(provider, job, clock, poll=10)
    assert waited.job.status == "succeeded"
    first = wait.FIRST_INTERVAL
    # News first (short), then queued and queued again: longer each time, capped at wait.poll_interval;
    # "running" with an event is news again.
    assert clock.sleeps == [first, first * 1.5, first * 2.25, first * 3.375, 10, 10, 10, 10, first]


def test_the_deadline_detaches_without_touching_the_job(standin: StandIn, provider: Provider) -> None:
    standin.script_job(["running"] * 50 + ["succeeded"], estimated_finish=1_767_225_600 + 5400)
    job = provider.get_job(standin.add_job()["id"])
    clock = Clock()
    waited, out = run(provider, job, clock, timeout=7, poll=2)
    assert waited.timed_out and waited.job.status == "running"
    assert sum(clock.sleeps) == pytest.approx(7)
    assert "ETA 2026-01-01 01:30 UTC (in 1 h 30 min)" in out
    assert not standin.calls("fine_tuning.jobs.cancel")


def test_zero_timeout_looks_once(standin: StandIn, provider: Provider) -> None:
    standin.script_job(["queued", "running", "succeeded"])
    job = provider.get_job(standin.add_job()["id"])
    clock = Clock()
    waited, _ = run(provider, job, clock, timeout=0)
    assert waited.timed_out and clock.sleeps == []


def test_in_actions_events_are_grouped_and_cannot_issue_commands(standin: StandIn, provider: Provider) -> None:
    standin.script_job(["running", "succeeded"], events=[["::error::injected from data"], ["done"]])
    job = provider.get_job(standin.add_job()["id"])
    _, out = run(provider, job, Clock(), in_actions=True)
    lines = out.splitlines()
    assert lines[0].startswith("::group::ftjob-") and lines[1].startswith("::stop-commands::")
    token = lines[1].split("::")[2]
    injected = next(i for i, line in enumerate(lines) if line.endswith("::error::injected from data"))
    assert 1 < injected < lines.index(f"::{token}::") == lines.index("::endgroup::") - 1


def test_event_lines_and_descriptions() -> None:
    metrics = Event("e1", 1_767_225_660, "info", "metrics", "Step 3/6", {"step": 3, "total_steps": 6, "train_loss": 0.66666, "valid_loss": 0.7})
    assert wait.event_line(metrics) == "00:01:00 step 3/6: train_loss 0.6667, valid_loss 0.7"
    warning = Event("e2", 1_767_225_600, "warn", "message", "Moderation flagged 2 examples", {})
    assert wait.event_line(warning) == "00:00:00 warn: Moderation flagged 2 examples"


def test_signals_become_aborted_inside_and_are_restored_after() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(wait.Aborted) as caught:
        with wait.abort_on_signals():
            os.kill(os.getpid(), signal.SIGTERM)
    assert caught.value.signum == signal.SIGTERM and str(caught.value) == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_signal_whose_aborted_was_lost_stops_the_wait_at_its_next_poll(standin: StandIn, provider: Provider) -> None:
    standin.script_job(["running"] * 50)
    job = provider.get_job(standin.add_job()["id"])
    with pytest.raises(wait.Aborted) as caught:
        with wait.abort_on_signals():
            assert isinstance(lose_a_signal(signal.SIGTERM), wait.Aborted)  # the handler's own Aborted went nowhere
            run(provider, job, Clock())
    assert caught.value.signum == signal.SIGTERM
    assert len(standin.calls("fine_tuning.jobs.retrieve")) <= 1  # stopped at once, not after the job's 50 polls


def test_a_lost_signal_prints_no_traceback_and_other_lost_exceptions_still_do() -> None:
    """A runner's SIGTERM that lands in a weakref callback printed "Exception ignored in ..."
    and a traceback before the run's own message (seen once in the train command's test): the
    hook that prints them (Python's own in a run, one that records here) sees no lost Aborted."""
    reported: list[BaseException | None] = []
    before, sys.unraisablehook = sys.unraisablehook, lambda unraisable: reported.append(unraisable.exc_value)
    try:
        with pytest.raises(wait.Aborted) as caught:
            with wait.abort_on_signals():
                lose_a_signal(signal.SIGTERM, hooked=False)
                assert reported == []
                wait.raise_arrived()
        assert caught.value.signum == signal.SIGTERM

        class Broken:
            def __del__(self) -> None:
                raise ValueError("a bug of ours")

        with wait.abort_on_signals():
            Broken()
        assert [type(exc) for exc in reported] == [ValueError]  # not hidden: only a lost Aborted is
        assert sys.unraisablehook is not before  # the recording hook is back
    finally:
        sys.unraisablehook = before


def test_a_handled_signal_is_not_raised_again() -> None:
    with wait.abort_on_signals():
        try:
            os.kill(os.getpid(), signal.SIGINT)
        except wait.Aborted:
            wait.handled()
        wait.raise_arrived()  # nothing left
    with wait.abort_on_signals():
        wait.raise_arrived()  # nor in the next wait
