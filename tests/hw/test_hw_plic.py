"""PLIC: register map, priorities, thresholds, claim/complete, level sources, outputs."""

from __future__ import annotations

import pytest

from engine.hw.plic import (
    CONTEXT_BASE,
    CONTEXT_STRIDE,
    ENABLE_BASE,
    ENABLE_STRIDE,
    NUM_SOURCES,
    PENDING_BASE,
    PLIC_SIZE,
    Plic,
)

M, S = 0, 1  # contexts: hart 0 M-mode, hart 0 S-mode


def prio(n: int) -> int:
    return 4 * n


def enable(ctx: int, word: int = 0) -> int:
    return ENABLE_BASE + ENABLE_STRIDE * ctx + 4 * word


def threshold(ctx: int) -> int:
    return CONTEXT_BASE + CONTEXT_STRIDE * ctx


def claim(ctx: int) -> int:
    return CONTEXT_BASE + CONTEXT_STRIDE * ctx + 4


def make() -> tuple[Plic, dict[int, list[bool]]]:
    plic = Plic()
    seen: dict[int, list[bool]] = {M: [], S: []}
    plic.context_irq(M).connect(seen[M].append)
    plic.context_irq(S).connect(seen[S].append)
    return plic, seen


def setup_source(plic: Plic, n: int, priority: int, ctx: int) -> None:
    plic.write(prio(n), 4, priority)
    word = n // 32
    plic.write(enable(ctx, word), 4, plic.read(enable(ctx, word), 4) | 1 << (n % 32))


def test_geometry_and_reset_values() -> None:
    plic, seen = make()
    assert plic.size == PLIC_SIZE == 0x600000
    assert NUM_SOURCES == 96
    for n in range(NUM_SOURCES):
        assert plic.read(prio(n), 4) == 0
    for word in range(3):
        assert plic.read(PENDING_BASE + 4 * word, 4) == 0
        assert plic.read(enable(M, word), 4) == 0
        assert plic.read(enable(S, word), 4) == 0
    assert plic.read(threshold(M), 4) == 0
    assert plic.read(claim(S), 4) == 0
    assert seen == {M: [False], S: [False]}


def test_source_range() -> None:
    plic = Plic()
    plic.source(1)
    plic.source(95)
    for bad in (0, 96):
        with pytest.raises(ValueError):
            plic.source(bad)


def test_level_source_pends_and_claims() -> None:
    plic, seen = make()
    setup_source(plic, 10, 1, S)
    plic.source(10).set(True)
    assert plic.read(PENDING_BASE, 4) == 1 << 10
    assert plic.context_irq(S).level
    assert not plic.context_irq(M).level  # not enabled for M
    assert plic.read(claim(S), 4) == 10
    assert plic.read(PENDING_BASE, 4) == 0
    assert not plic.context_irq(S).level
    assert plic.read(claim(S), 4) == 0  # claimed: not offered twice
    plic.source(10).set(False)  # the device was serviced
    plic.write(claim(S), 4, 10)  # complete
    assert not plic.context_irq(S).level
    assert seen[S] == [False, True, False]


def test_line_still_high_at_completion_pends_again() -> None:
    plic, _ = make()
    setup_source(plic, 7, 3, M)
    plic.source(7).set(True)
    assert plic.read(claim(M), 4) == 7
    plic.write(claim(M), 4, 7)
    assert plic.context_irq(M).level
    assert plic.read(claim(M), 4) == 7


def test_pending_is_sticky_until_claimed() -> None:
    plic, _ = make()
    setup_source(plic, 5, 1, S)
    plic.source(5).set(True)
    plic.source(5).set(False)  # a pulse is not lost
    assert plic.context_irq(S).level
    assert plic.read(claim(S), 4) == 5
    plic.write(claim(S), 4, 5)
    assert not plic.context_irq(S).level


def test_rise_while_claimed_is_delivered_after_completion() -> None:
    plic, _ = make()
    setup_source(plic, 3, 1, S)
    line = plic.source(3)
    line.set(True)
    assert plic.read(claim(S), 4) == 3
    line.set(False)
    line.set(True)
    line.set(False)
    assert not plic.context_irq(S).level
    plic.write(claim(S), 4, 3)
    assert plic.read(claim(S), 4) == 3


def test_priority_order_and_ties_to_lowest_id() -> None:
    plic, _ = make()
    for n, p in [(2, 1), (40, 5), (70, 5), (9, 3)]:
        setup_source(plic, n, p, S)
        plic.source(n).set(True)
    assert plic.read(PENDING_BASE, 4) == (1 << 2) | (1 << 9)
    assert plic.read(PENDING_BASE + 4, 4) == 1 << (40 - 32)
    assert plic.read(PENDING_BASE + 8, 4) == 1 << (70 - 64)
    order = [plic.read(claim(S), 4) for _ in range(5)]
    assert order == [40, 70, 9, 2, 0]


def test_threshold_masks_lower_or_equal_priorities() -> None:
    plic, _ = make()
    setup_source(plic, 1, 2, M)
    plic.source(1).set(True)
    plic.write(threshold(M), 4, 2)
    assert not plic.context_irq(M).level
    assert plic.read(claim(M), 4) == 0
    plic.write(prio(1), 4, 3)
    assert plic.context_irq(M).level
    plic.write(threshold(M), 4, 7)
    assert not plic.context_irq(M).level
    plic.write(threshold(M), 4, 0)
    assert plic.read(claim(M), 4) == 1


def test_priority_zero_never_interrupts() -> None:
    plic, _ = make()
    setup_source(plic, 4, 0, S)
    plic.source(4).set(True)
    assert plic.read(PENDING_BASE, 4) == 1 << 4
    assert not plic.context_irq(S).level
    assert plic.read(claim(S), 4) == 0


def test_contexts_are_independent_but_share_claims() -> None:
    plic, _ = make()
    setup_source(plic, 10, 1, M)
    setup_source(plic, 10, 1, S)
    plic.source(10).set(True)
    assert plic.context_irq(M).level and plic.context_irq(S).level
    assert plic.read(claim(M), 4) == 10
    assert not plic.context_irq(S).level  # the claim is global to the source
    plic.write(threshold(M), 4, 5)
    assert plic.read(threshold(M), 4) == 5
    assert plic.read(threshold(S), 4) == 0


def test_warl_priority_and_threshold_and_reserved_bits() -> None:
    plic, _ = make()
    plic.write(prio(3), 4, 0xF)
    assert plic.read(prio(3), 4) == 7
    plic.write(prio(0), 4, 5)  # source 0 is reserved
    assert plic.read(prio(0), 4) == 0
    plic.write(threshold(S), 4, 9)
    assert plic.read(threshold(S), 4) == 1
    plic.write(enable(M, 0), 4, 0xFFFFFFFF)
    assert plic.read(enable(M, 0), 4) == 0xFFFFFFFE
    plic.write(enable(M, 2), 4, 0xFFFFFFFF)
    assert plic.read(enable(M, 2), 4) == 0xFFFFFFFF  # sources 64..95
    plic.write(enable(M, 3), 4, 1)  # beyond the last source
    assert plic.read(enable(M, 3), 4) == 0
    plic.write(PENDING_BASE, 4, 0xFFFFFFFF)  # pending is read-only
    assert plic.read(PENDING_BASE, 4) == 0


def test_complete_of_bogus_ids_is_ignored() -> None:
    plic, _ = make()
    setup_source(plic, 6, 1, S)
    plic.source(6).set(True)
    assert plic.read(claim(S), 4) == 6
    for bogus in (0, 96, 0xFFFFFFFF):
        plic.write(claim(S), 4, bogus)
    assert plic.read(claim(S), 4) == 0
    plic.write(claim(M), 4, 6)  # completion via another context still completes
    assert plic.read(claim(S), 4) == 6


def test_non_word_accesses_and_holes() -> None:
    plic, _ = make()
    setup_source(plic, 10, 1, S)
    plic.source(10).set(True)
    assert plic.read(claim(S), 8) == 0  # not decoded: no claim happens
    assert plic.read(claim(S), 1) == 0
    plic.write(prio(10), 2, 5)
    plic.write(prio(10) + 1, 4, 5)
    assert plic.read(prio(10), 4) == 1
    assert plic.read(CONTEXT_BASE + 2 * CONTEXT_STRIDE, 4) == 0  # no third context
    assert plic.read(enable(2), 4) == 0
    assert plic.read(CONTEXT_BASE + 8, 4) == 0
    assert plic.read(PENDING_BASE + 0x100, 4) == 0
    assert plic.read(claim(S), 4) == 10


def test_reset_keeps_lines_that_are_high() -> None:
    plic, _ = make()
    setup_source(plic, 10, 1, S)
    plic.source(10).set(True)
    plic.reset()
    assert plic.read(PENDING_BASE, 4) == 1 << 10
    assert plic.read(prio(10), 4) == 0
    assert not plic.context_irq(S).level
