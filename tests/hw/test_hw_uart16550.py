"""ns16550a: TX, RX through the FIFO and the host queue, IIR/LSR/MSR, loopback, DLAB."""

from __future__ import annotations

from engine.hw.uart16550 import UART_SIZE, Uart16550

RBR = THR = DLL = 0
IER = DLM = 1
IIR = FCR = 2
LCR, MCR, LSR, MSR, SCR = 3, 4, 5, 6, 7


def make() -> tuple[Uart16550, bytearray, list[bool]]:
    out = bytearray()
    levels: list[bool] = []
    uart = Uart16550(output=out.extend)
    uart.irq.connect(levels.append)
    return uart, out, levels


def test_reset_values() -> None:
    uart, out, levels = make()
    assert uart.size == UART_SIZE == 0x100
    assert uart.read(IER, 1) == 0
    assert uart.read(IIR, 1) == 0x01  # no interrupt, FIFOs off
    assert uart.read(LCR, 1) == 0
    assert uart.read(MCR, 1) == 0x08  # OUT2
    assert uart.read(LSR, 1) == 0x60  # THRE | TEMT
    assert uart.read(MSR, 1) == 0xB0  # DCD | DSR | CTS
    assert uart.read(SCR, 1) == 0
    assert levels == [False]
    assert out == b""


def test_transmit_goes_to_output() -> None:
    uart, out, _ = make()
    for ch in b"hi\n":
        assert uart.read(LSR, 1) & 0x20
        uart.write(THR, 1, ch)
    assert out == b"hi\n"
    assert uart.read(LSR, 1) & 0x60 == 0x60


def test_thre_interrupt_is_rearmed_and_cleared_by_iir_read() -> None:
    uart, out, levels = make()
    uart.write(IER, 1, 0x02)  # THRI on an empty holding register fires at once
    assert uart.irq.level
    assert uart.read(IIR, 1) == 0x02
    assert not uart.irq.level  # reading IIR acknowledged it
    assert uart.read(IIR, 1) == 0x01
    uart.write(THR, 1, ord("x"))  # sent at once: THRE again, interrupt again
    assert uart.irq.level
    uart.write(IER, 1, 0x00)
    assert not uart.irq.level
    assert out == b"x"
    assert levels == [False, True, False, True, False]


def test_linux_8250_thre_test_sees_a_working_uart() -> None:
    # serial8250_do_startup: IER=THRI, read IIR, IER=0, IER=THRI, read IIR; the
    # second read must not say "no interrupt" or Linux assumes UART_BUG_THRE.
    uart, _, _ = make()
    uart.write(IER, 1, 0x02)
    iir1 = uart.read(IIR, 1)
    uart.write(IER, 1, 0x00)
    uart.write(IER, 1, 0x02)
    iir2 = uart.read(IIR, 1)
    uart.write(IER, 1, 0x00)
    assert iir1 & 1 == 0 and iir2 & 1 == 0


def test_receive_without_fifo() -> None:
    uart, _, levels = make()
    uart.write(IER, 1, 0x01)
    uart.receive(b"ab")
    assert uart.read(LSR, 1) & 0x01
    assert uart.read(IIR, 1) == 0x04
    assert uart.irq.level
    assert uart.read(RBR, 1) == ord("a")
    assert uart.read(RBR, 1) == ord("b")
    assert not uart.read(LSR, 1) & 0x01
    assert uart.read(RBR, 1) == 0
    assert not uart.irq.level
    assert levels == [False, True, False]


def test_fifo_trigger_level_and_character_timeout() -> None:
    uart, _, _ = make()
    uart.write(FCR, 1, 0x87)  # FIFO on, clear both, trigger at 8 bytes (Linux's 16550A)
    uart.write(IER, 1, 0x01)
    assert uart.read(IIR, 1) == 0xC1
    uart.receive(b"x")
    assert uart.read(IIR, 1) == 0xCC  # below the trigger: character timeout
    assert uart.irq.level
    uart.receive(b"1234567")
    assert uart.read(IIR, 1) == 0xC4  # at the trigger level: received data
    got = bytearray()
    while uart.read(LSR, 1) & 0x01:
        got.append(uart.read(RBR, 1))
    assert got == b"x1234567"
    assert uart.read(IIR, 1) == 0xC1
    assert not uart.irq.level


def test_pasted_input_is_never_lost() -> None:
    uart, _, _ = make()
    uart.write(FCR, 1, 0x07)
    data = bytes(range(256)) * 20
    uart.receive(data)
    assert uart.pending_input() == len(data)
    got = bytearray()
    while uart.read(LSR, 1) & 0x01:
        got.append(uart.read(RBR, 1))
    assert got == data
    assert uart.pending_input() == 0


def test_fifo_reset_drops_only_the_fifo() -> None:
    uart, _, _ = make()
    uart.write(FCR, 1, 0x01)
    uart.receive(bytes(range(40)))
    uart.write(FCR, 1, 0x03)  # clear the RX FIFO: its 16 bytes are gone
    assert uart.pending_input() == 24
    assert uart.read(RBR, 1) == 16
    uart.write(FCR, 1, 0x00)  # FIFOs off: flushes again, then a 1-byte holding register
    assert uart.pending_input() == 7  # 17..32 dropped; 33 is in the holding register
    assert uart.read(IIR, 1) & 0xC0 == 0
    assert uart.read(RBR, 1) == 33


def test_iir_priority_rx_before_thre() -> None:
    uart, _, _ = make()
    uart.write(IER, 1, 0x03)
    uart.receive(b"z")
    assert uart.read(IIR, 1) == 0x04  # data outranks THRE
    assert uart.read(IIR, 1) == 0x04  # and reading IIR does not clear it
    uart.read(RBR, 1)
    assert uart.read(IIR, 1) == 0x02
    assert uart.read(IIR, 1) == 0x01


def test_line_status_interrupt_on_overrun_cleared_by_lsr_read() -> None:
    uart, _, _ = make()
    uart.write(MCR, 1, 0x10)  # loopback, FIFOs off: a second byte overruns
    uart.write(IER, 1, 0x05)
    uart.write(THR, 1, 1)
    uart.write(THR, 1, 2)
    assert uart.read(IIR, 1) == 0x06
    lsr = uart.read(LSR, 1)
    assert lsr & 0x03 == 0x03
    assert not uart.read(LSR, 1) & 0x02
    assert uart.read(IIR, 1) == 0x04
    assert uart.read(RBR, 1) == 2  # the holding register was overwritten


def test_loopback() -> None:
    uart, out, _ = make()
    uart.write(FCR, 1, 0x07)
    uart.receive(b"host")
    assert uart.read(RBR, 1) == ord("h")
    uart.write(MCR, 1, 0x10 | 0x0A)  # the 8250 autoconfig probe: LOOP | OUT2 | RTS
    assert uart.read(MSR, 1) & 0xF0 == 0x90  # DCD | CTS
    uart.write(MCR, 1, 0x10 | 0x05)
    assert uart.read(MSR, 1) & 0xF0 == 0x60  # RI | DSR
    for ch in b"LOOP":
        uart.write(THR, 1, ch)
    assert out == b""
    got = bytearray()
    while uart.read(LSR, 1) & 0x01:
        got.append(uart.read(RBR, 1))
    assert got == b"ostLOOP"  # what was already in the FIFO, then the looped bytes
    uart.receive(b"!")
    assert not uart.read(LSR, 1) & 0x01  # host input waits during loopback
    uart.write(MCR, 1, 0x08)
    assert uart.read(RBR, 1) == ord("!")
    uart.write(THR, 1, ord("o"))
    assert out == b"o"


def test_divisor_latch_and_scratch() -> None:
    uart, out, _ = make()
    uart.write(LCR, 1, 0x83)
    uart.write(DLL, 1, 0x01)
    uart.write(DLM, 1, 0x02)
    assert uart.read(DLL, 1) == 0x01
    assert uart.read(DLM, 1) == 0x02
    assert uart.divisor == 0x0201
    uart.write(LCR, 1, 0x03)
    assert uart.read(IER, 1) == 0
    assert uart.read(LCR, 1) == 0x03
    assert out == b""  # divisor writes are not data
    uart.write(SCR, 1, 0x5A)
    assert uart.read(SCR, 1) == 0x5A


def test_wide_and_aliased_accesses() -> None:
    uart, out, _ = make()
    uart.write(0x8 + THR, 4, 0x12345641)  # low byte of a word store, register alias
    assert out == b"A"
    assert uart.read(0xF8 + LSR, 4) == 0x60
    uart.write(SCR, 8, 0xFFFF_FFFF_FFFF_FF11)
    assert uart.read(SCR, 8) == 0x11


def test_modem_status_deltas_clear_on_read() -> None:
    uart, _, _ = make()
    uart.msr |= 0x01  # as if CTS had changed
    uart.write(IER, 1, 0x08)
    assert uart.read(IIR, 1) == 0x00
    assert uart.irq.level
    assert uart.read(MSR, 1) == 0xB1
    assert not uart.irq.level
    assert uart.read(MSR, 1) == 0xB0


def test_irq_line_can_be_supplied() -> None:
    from engine.hw.plic import Plic

    plic = Plic()
    uart = Uart16550(irq=plic.source(10))
    plic.write(4 * 10, 4, 1)
    plic.write(0x2080, 4, 1 << 10)
    uart.write(IER, 1, 0x01)
    uart.receive(b"k")
    assert plic.context_irq(1).level
    assert plic.read(0x201004, 4) == 10
    uart.read(RBR, 1)
    plic.write(0x201004, 4, 10)
    assert not plic.context_irq(1).level
