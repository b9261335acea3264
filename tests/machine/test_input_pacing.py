"""Piped input reaches the guest a line at a time, at its prompts."""

from __future__ import annotations

from engine.machine.pacing import QUIET_SECONDS, InputPacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def pacer_with(data: bytes) -> tuple[InputPacer, FakeClock]:
    clock = FakeClock()
    pacer = InputPacer(clock)
    pacer.hold(data)
    return pacer, clock


def test_a_line_goes_over_at_a_prompt_and_not_before() -> None:
    pacer, _ = pacer_with(b"uname -m\npoweroff -f\n")
    pacer.saw_output(b"[    0.000000] Linux version 6.12\r\n")
    assert pacer.next_line(guest_waits=True) is None
    pacer.saw_output(b"~ # \x1b[6n")
    assert pacer.next_line(guest_waits=False) is None
    assert pacer.next_line(guest_waits=True) == b"uname -m\n"


def test_the_next_line_waits_for_the_next_prompt() -> None:
    # The failure this guards against: a line handed over while `ls | wc -l`
    # waited on I/O was echoed by the tty before the command's own output.
    pacer, _ = pacer_with(b"ls | wc -l\ncat /proc/version\n")
    pacer.saw_output(b"~ # ")
    assert pacer.next_line(guest_waits=True) == b"ls | wc -l\n"
    assert pacer.next_line(guest_waits=True) is None  # the prompt was used up
    pacer.saw_output(b"ls | wc -l\r\n")
    assert pacer.next_line(guest_waits=True) is None  # idle inside the command
    pacer.saw_output(b"2\r\n~ # ")
    assert pacer.next_line(guest_waits=True) == b"cat /proc/version\n"
    assert not pacer.held


def test_a_guest_reading_without_a_prompt_gets_its_line_once_quiet() -> None:
    pacer, clock = pacer_with(b"typed into cat\n")
    pacer.saw_output(b"reading stdin\n")
    clock.now += QUIET_SECONDS / 2
    assert pacer.next_line(guest_waits=True) is None
    clock.now += QUIET_SECONDS
    assert pacer.next_line(guest_waits=True) == b"typed into cat\n"


def test_time_the_host_kept_the_guest_from_running_is_not_quiet() -> None:
    # The failure this guards against: a translation cache save of a few seconds
    # while `cat` waited on I/O counted as quiet, and the next line was echoed
    # in the middle of the command's output.
    pacer, clock = pacer_with(b"poweroff -f\n")
    pacer.saw_output(b"cat /sys/class/tty/ttyS0/type\r\n")
    assert not pacer.at_prompt
    clock.now += 3 * QUIET_SECONDS
    pacer.host_paused(3 * QUIET_SECONDS)
    assert pacer.next_line(guest_waits=True) is None
    pacer.saw_output(b"4\r\n~ # ")
    assert pacer.at_prompt
    assert pacer.next_line(guest_waits=True) == b"poweroff -f\n"


def test_input_without_a_final_newline_still_arrives() -> None:
    pacer, _ = pacer_with(b"poweroff -f")
    pacer.saw_output(b"~ # ")
    assert pacer.next_line(guest_waits=True) == b"poweroff -f"
    assert pacer.next_line(guest_waits=True) is None
