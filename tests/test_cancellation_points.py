"""`Cancellation`: where a real signal raises at once, where it waits, and where it changes nothing."""
from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from lars_service.cancellation import Cancellation
from lars_service.errors import CancelledError


@pytest.fixture
def cancellation() -> Iterator[Cancellation]:
    """A Cancellation receiving this process's SIGTERM, as `__main__` installs it."""
    cancellation = Cancellation()
    previous = signal.signal(signal.SIGTERM, cancellation.on_signal)
    yield cancellation
    signal.signal(signal.SIGTERM, previous)


def test_a_signal_raises_at_once_inside_a_run(cancellation: Cancellation) -> None:
    reached = []
    with pytest.raises(CancelledError) as raised, cancellation.interruptible():
        signal.raise_signal(signal.SIGTERM)
        reached.append("after the signal")
    assert reached == []
    assert (raised.value.exit_code, raised.value.details) == (143, {"signal": "SIGTERM"})


def test_a_signal_inside_a_critical_section_waits_for_its_end(cancellation: Cancellation) -> None:
    steps = []
    with pytest.raises(CancelledError), cancellation.interruptible():
        with cancellation.critical():
            signal.raise_signal(signal.SIGTERM)
            steps.append("created")
            steps.append("registered")
        steps.append("after the section")
    assert steps == ["created", "registered"]


def test_after_the_commit_a_signal_is_only_recorded(cancellation: Cancellation) -> None:
    with cancellation.interruptible():
        with cancellation.critical():
            signal.raise_signal(signal.SIGTERM)  # during the renames
            cancellation.committed()
        signal.raise_signal(signal.SIGTERM)  # and again after them
        finished = True
    assert finished
    assert cancellation.reason is not None and cancellation.reason.details == {"signal": "SIGTERM"}
    with pytest.raises(CancelledError):  # the next run does not start
        with cancellation.interruptible():
            pass


def test_outside_a_run_a_signal_is_recorded_and_checked_at_the_next_start(cancellation: Cancellation) -> None:
    signal.raise_signal(signal.SIGTERM)
    with pytest.raises(CancelledError):
        cancellation.check()


def test_a_request_stops_its_own_run_and_a_parents_stop_every_child() -> None:
    server = Cancellation()
    first, second = Cancellation(parent=server), Cancellation(parent=server)
    first.request(CancelledError.by_request("a"))
    with pytest.raises(CancelledError, match="cancel request"):
        first.check()
    second.check()  # not stopped by its sibling's cancel
    server.request(CancelledError.by_signal("SIGINT"))
    with pytest.raises(CancelledError, match="SIGINT"):
        second.check()
