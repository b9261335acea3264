"""The virtio-mmio transport and split virtqueues, driven as Linux drives them.

Requests go through an entropy device (the simplest one that completes
chains); what is pinned here is the transport: identification registers,
feature negotiation, queue setup, used-ring completions, interrupt
suppression, and that a driver breaking the rules breaks only the device.
"""

from __future__ import annotations

import struct

import pytest

from engine.hw.virtio import mmio as regs
from engine.hw.virtio.device import F_EVENT_IDX, F_INDIRECT_DESC, F_VERSION_1
from engine.hw.virtio.rng import VirtioRng
from tests.hw.virtio_driver import ALL_TRANSPORT, QUEUE_SIZE, RAM_BASE, RAM_SIZE, MiniDriver


@pytest.fixture
def driver() -> MiniDriver:
    d = MiniDriver(VirtioRng())
    assert d.initialize() == ALL_TRANSPORT
    return d


def test_identification_registers_are_qemus() -> None:
    d = MiniDriver(VirtioRng())
    assert d.r(regs.MAGIC_VALUE) == 0x74726976
    assert d.r(regs.VERSION) == 2
    assert d.r(regs.DEVICE_ID) == 4
    assert d.r(regs.VENDOR_ID) == 0x554D4551
    assert d.device_features() & ALL_TRANSPORT == ALL_TRANSPORT


def test_an_empty_slot_says_device_id_0_and_ignores_writes() -> None:
    d = MiniDriver(None)
    assert d.r(regs.MAGIC_VALUE) == 0x74726976 and d.r(regs.DEVICE_ID) == 0
    d.w(regs.STATUS, 1)
    assert d.r(regs.STATUS) == 0


def test_features_ok_is_refused_without_version_1_or_with_unoffered_bits() -> None:
    assert MiniDriver(VirtioRng(), features=F_INDIRECT_DESC).initialize() == -1
    assert MiniDriver(VirtioRng(), features=F_VERSION_1 | 1 << 40).initialize() == -1
    assert MiniDriver(VirtioRng(), features=F_VERSION_1).initialize() == F_VERSION_1


def test_registers_other_than_32_bit_are_ignored(driver: MiniDriver) -> None:
    assert driver.transport.read(regs.MAGIC_VALUE, 2) == 0
    driver.transport.write(regs.STATUS, 1, 0)
    assert driver.r(regs.STATUS) != 0  # a byte write of 0 did not reset the device


def test_a_request_completes_through_the_used_ring_and_raises_the_irq(driver: MiniDriver) -> None:
    buf = driver.alloc(64, writable=True)
    driver.submit(0, [buf])
    assert driver.completions(0) == [(0, 64)]
    assert driver.get(buf.addr, 64) != bytes(64)
    assert driver.irq.level
    assert driver.ack_interrupt() == regs.INT_USED_BUFFER
    assert not driver.irq.level


def test_indirect_chains_are_followed(driver: MiniDriver) -> None:
    a, b = driver.alloc(8, writable=True), driver.alloc(24, writable=True)
    driver.submit(0, [a, b], indirect=True)
    assert driver.completions(0) == [(0, 32)]
    assert driver.get(b.addr, 24) != bytes(24)


def test_dma_writes_are_reported_page_by_page(driver: MiniDriver) -> None:
    buf = driver.alloc(0x2000, writable=True)
    driver.submit(0, [buf])
    assert (buf.addr >> 12, (buf.addr + 0x1FFF) >> 12) in driver.writes


def test_event_idx_suppresses_interrupts_until_used_event_is_passed(driver: MiniDriver) -> None:
    driver.set_used_event(0, 2)  # "interrupt me once entry 2 is used"
    for head in range(3):
        driver.submit(0, [driver.alloc(4, writable=True)], head=head)
        assert driver.irq.level == (head == 2), head
    assert len(driver.completions(0)) == 3
    avail_event = driver.area(0) + 0x3000 + 4 + 8 * QUEUE_SIZE
    assert struct.unpack("<H", driver.get(avail_event, 2))[0] == 3


def test_no_interrupt_flag_without_event_idx() -> None:
    d = MiniDriver(VirtioRng(), features=F_VERSION_1)
    d.initialize()
    d.put(d.area(0) + 0x2000, struct.pack("<H", 1))  # avail.flags = NO_INTERRUPT
    d.submit(0, [d.alloc(4, writable=True)])
    assert d.completions(0) == [(0, 4)] and not d.irq.level


def broken(d: MiniDriver) -> bool:
    return bool(d.r(regs.STATUS) & regs.STATUS_NEEDS_RESET)


@pytest.mark.parametrize(
    "sabotage",
    [
        "loop", "outside-ram", "wraps-ram", "nested-indirect", "indirect-odd-size",
        "huge-indirect", "index-out-of-range", "avail-runs-ahead",
    ],
)  # fmt: skip
def test_malformed_chains_break_the_device_not_the_emulator(
    driver: MiniDriver, sabotage: str
) -> None:
    buf = driver.alloc(16, writable=True)
    if sabotage == "loop":
        driver.desc(0, 0, buf.addr, 16, 1 | 2, 1)
        driver.desc(0, 1, buf.addr, 16, 1 | 2, 0)
    elif sabotage == "outside-ram":
        driver.desc(0, 0, 0x1000_1000, 16, 2, 0)  # a device window, not RAM
    elif sabotage == "wraps-ram":
        driver.desc(0, 0, RAM_BASE + RAM_SIZE - 8, 16, 2, 0)
    elif sabotage == "nested-indirect":
        table = driver.alloc(16)
        driver.put(table.addr, struct.pack("<QIHH", table.addr, 16, 4, 0))
        driver.desc(0, 0, table.addr, 16, 4, 0)
    elif sabotage == "indirect-odd-size":
        driver.desc(0, 0, buf.addr, 15, 4, 0)
    elif sabotage == "huge-indirect":
        driver.desc(0, 0, RAM_BASE, 16 * 100_000, 4, 0)
    elif sabotage == "index-out-of-range":
        driver.desc(0, 0, buf.addr, 16, 1 | 2, QUEUE_SIZE + 3)
    if sabotage == "avail-runs-ahead":
        driver.put(driver.area(0) + 0x2000 + 2, struct.pack("<H", QUEUE_SIZE + 1))
        driver.w(regs.QUEUE_NOTIFY, 0)
    else:
        driver.make_available(0, 0)
    assert broken(driver)
    assert driver.r(regs.INTERRUPT_STATUS) & regs.INT_CONFIG_CHANGE
    assert driver.completions(0) == []
    # The driver resets and starts over; the device works again.
    assert driver.initialize() == ALL_TRANSPORT
    assert not broken(driver)
    driver.submit(0, [driver.alloc(8, writable=True)])
    assert driver.completions(0) == [(0, 8)]


def test_rings_outside_ram_are_refused_when_the_queue_is_enabled() -> None:
    d = MiniDriver(VirtioRng())
    d.w(regs.STATUS, 1 | 2)
    for sel in (0, 1):
        d.w(regs.DRIVER_FEATURES_SEL, sel)
        d.w(regs.DRIVER_FEATURES, (F_VERSION_1 >> (32 * sel)) & 0xFFFF_FFFF)
    d.w(regs.STATUS, 1 | 2 | 8)
    d.w(regs.QUEUE_SEL, 0)
    d.w(regs.QUEUE_NUM, 16)
    d.w(regs.QUEUE_DESC_LOW, 0x1000)  # below RAM
    d.w(regs.QUEUE_READY, 1)
    assert broken(d) and not d.r(regs.QUEUE_READY)


def test_queue_size_must_be_a_power_of_two() -> None:
    d = MiniDriver(VirtioRng())
    d.w(regs.STATUS, 1 | 2 | 8)
    d.w(regs.QUEUE_SEL, 0)
    d.w(regs.QUEUE_NUM, 12)
    d.w(regs.QUEUE_DESC_LOW, (RAM_BASE + 0x1000) & 0xFFFF_FFFF)
    d.w(regs.QUEUE_READY, 1)
    assert broken(d)


def test_entropy_is_capped_per_request(driver: MiniDriver) -> None:
    from engine.hw.virtio.rng import MAX_BYTES_PER_REQUEST

    driver.submit(0, [driver.alloc(MAX_BYTES_PER_REQUEST * 2, writable=True)])
    assert driver.completions(0) == [(0, MAX_BYTES_PER_REQUEST)]


def test_feature_bits_are_unused_by_an_eventless_driver() -> None:
    d = MiniDriver(VirtioRng(), features=F_VERSION_1 | F_INDIRECT_DESC)
    assert d.initialize() == F_VERSION_1 | F_INDIRECT_DESC
    assert not d.transport.queues[0].event_idx
    assert F_EVENT_IDX & d.device_features()
