"""The ns16550a UART of QEMU's virt board (0x10000000, regshift 0, 8-bit registers).

Register semantics follow QEMU's hw/char/serial.c, which Linux's 8250 driver
and OpenSBI's uart8250 are known to work with:

* Transmission is instantaneous: a THR write goes to `output` at once, so
  LSR.THRE and LSR.TEMT always read 1 and, with IER.THRI set, the THRE
  interrupt is re-armed right after each byte (Linux's TX loop relies on it).
  Reading IIR while it reports THRE clears that interrupt, and enabling
  IER.THRI while THRE is set raises it again (the driver's THRE test).
* Reception: `receive(data)` appends host input to an unbounded queue, so
  pasted input is never lost. The guest sees it through the 16-byte RX FIFO
  (1-byte holding register with FIFOs off), refilled from the queue as the
  guest reads, like QEMU's chardev flow control. FIFO resets (FCR bit 1, or
  toggling FCR.FE) drop what is in the FIFO, as on hardware; the rest of the
  queue stays.
* RX interrupt: data at or above the FIFO trigger level gives "received data"
  (IIR 0x04); fewer bytes give the character-timeout interrupt (IIR 0x0C) at
  once instead of after four character times — the driver handles both alike,
  and nothing here depends on time.
* Loopback (MCR bit 4): transmitted bytes come back into the RX FIFO (setting
  LSR.OE when it is full) instead of going out, host input waits, and MSR
  reflects MCR's DTR/RTS/OUT1/OUT2 as DSR/CTS/RI/DCD.

All eight registers repeat every 8 bytes through the 0x100 window, and an
access of any size reaches the register at its address with the low byte
(QEMU's serial_mm with regshift 0): wider reads return the 8-bit value
zero-extended.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from engine.hw.irq import IrqLine

UART_SIZE = 0x100
FIFO_SIZE = 16

# IER
IER_RDI, IER_THRI, IER_RLSI, IER_MSI = 0x01, 0x02, 0x04, 0x08
# IIR
IIR_NO_INT, IIR_MSI, IIR_THRI, IIR_RDI, IIR_RLSI, IIR_CTI = 0x01, 0x00, 0x02, 0x04, 0x06, 0x0C
IIR_FIFO_ENABLED = 0xC0
# FCR
FCR_FE, FCR_RFR, FCR_XFR = 0x01, 0x02, 0x04
# LCR
LCR_DLAB = 0x80
# MCR
MCR_DTR, MCR_RTS, MCR_OUT1, MCR_OUT2, MCR_LOOP = 0x01, 0x02, 0x04, 0x08, 0x10
# LSR
LSR_DR, LSR_OE, LSR_PE, LSR_FE, LSR_BI, LSR_THRE, LSR_TEMT = 1, 2, 4, 8, 16, 32, 64
LSR_ERRORS = LSR_OE | LSR_PE | LSR_FE | LSR_BI
# MSR
MSR_DCTS, MSR_DDSR, MSR_TERI, MSR_DDCD = 0x01, 0x02, 0x04, 0x08
MSR_CTS, MSR_DSR, MSR_RI, MSR_DCD = 0x10, 0x20, 0x40, 0x80
MSR_DELTAS = MSR_DCTS | MSR_DDSR | MSR_TERI | MSR_DDCD

_TRIGGER_LEVELS = (1, 4, 8, 14)


class Uart16550:
    """ns16550a with an unbounded host input queue; `irq` is its interrupt output."""

    name = "uart0"
    size = UART_SIZE

    def __init__(
        self,
        output: Callable[[bytes], None] | None = None,
        irq: IrqLine | None = None,
    ) -> None:
        self.output: Callable[[bytes], None] = output or (lambda data: None)
        self.irq = irq if irq is not None else IrqLine("uart0")
        self._host: deque[int] = deque()  # received from the host, not yet in the FIFO
        self._fifo: deque[int] = deque()  # what the guest can read now
        self.reset()

    def reset(self) -> None:
        self.ier = 0
        self.lcr = 0
        self.mcr = MCR_OUT2
        self.fcr = 0
        self.scr = 0
        self.divisor = 0x0C
        self.lsr_errors = 0
        self.msr = MSR_DCD | MSR_DSR | MSR_CTS
        self._thr_ipending = False
        self._fifo.clear()
        self._refill()
        self._update_irq()

    # -- host side ------------------------------------------------------------------
    def receive(self, data: bytes) -> None:
        """Queue host input for the guest; never drops bytes."""
        self._host.extend(data)
        self._refill()
        self._update_irq()

    def pending_input(self) -> int:
        """Bytes the guest has not read yet (FIFO plus queue)."""
        return len(self._fifo) + len(self._host)

    # -- internals ------------------------------------------------------------------
    def _capacity(self) -> int:
        return FIFO_SIZE if self.fcr & FCR_FE else 1

    def _refill(self) -> None:
        if self.mcr & MCR_LOOP:
            return  # in loopback the receiver is disconnected from the line
        room = self._capacity() - len(self._fifo)
        host, fifo = self._host, self._fifo
        while room > 0 and host:
            fifo.append(host.popleft())
            room -= 1

    def _lsr(self) -> int:
        lsr = LSR_THRE | LSR_TEMT | self.lsr_errors
        if self._fifo:
            lsr |= LSR_DR
        return lsr

    def _interrupt_id(self) -> int:
        """The highest-priority pending interrupt, as IIR bits 0-3."""
        ier = self.ier
        if ier & IER_RLSI and self.lsr_errors:
            return IIR_RLSI
        if ier & IER_RDI and self._fifo:
            if not self.fcr & FCR_FE:
                return IIR_RDI
            level = _TRIGGER_LEVELS[self.fcr >> 6]
            return IIR_RDI if len(self._fifo) >= level else IIR_CTI
        if ier & IER_THRI and self._thr_ipending:
            return IIR_THRI
        if ier & IER_MSI and self.msr & MSR_DELTAS:
            return IIR_MSI
        return IIR_NO_INT

    def _update_irq(self) -> None:
        self.irq.set(self._interrupt_id() != IIR_NO_INT)

    def _transmit(self, byte: int) -> None:
        if self.mcr & MCR_LOOP:
            if len(self._fifo) >= self._capacity():
                self.lsr_errors |= LSR_OE
                if self.fcr & FCR_FE:
                    return self._tx_done()  # a full FIFO keeps its bytes
                self._fifo.clear()  # the holding register is overwritten
            self._fifo.append(byte)
        else:
            self.output(bytes((byte,)))
        self._tx_done()

    def _tx_done(self) -> None:
        self._thr_ipending = True  # the holding register is empty again at once

    def _modem_status(self) -> int:
        if self.mcr & MCR_LOOP:
            mcr = self.mcr
            return (
                (MSR_DSR if mcr & MCR_DTR else 0)
                | (MSR_CTS if mcr & MCR_RTS else 0)
                | (MSR_RI if mcr & MCR_OUT1 else 0)
                | (MSR_DCD if mcr & MCR_OUT2 else 0)
            )
        value = self.msr
        self.msr &= ~MSR_DELTAS
        return value

    # -- MMIO -----------------------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        reg = offset & 7
        dlab = self.lcr & LCR_DLAB
        if reg == 0:
            if dlab:
                return self.divisor & 0xFF
            value = self._fifo.popleft() if self._fifo else 0
            self._refill()
            self._update_irq()
            return value
        if reg == 1:
            return (self.divisor >> 8) if dlab else self.ier
        if reg == 2:
            iid = self._interrupt_id()
            if iid == IIR_THRI:
                self._thr_ipending = False
                self._update_irq()
            return iid | (IIR_FIFO_ENABLED if self.fcr & FCR_FE else 0)
        if reg == 3:
            return self.lcr
        if reg == 4:
            return self.mcr
        if reg == 5:
            value = self._lsr()
            if self.lsr_errors & (LSR_OE | LSR_BI):
                self.lsr_errors &= ~(LSR_OE | LSR_BI)
                self._update_irq()
            return value
        if reg == 6:
            value = self._modem_status()
            self._update_irq()
            return value
        return self.scr

    def write(self, offset: int, size: int, value: int) -> None:
        reg = offset & 7
        value &= 0xFF
        dlab = self.lcr & LCR_DLAB
        if reg == 0:
            if dlab:
                self.divisor = (self.divisor & 0xFF00) | value
                return
            self._thr_ipending = False
            self._transmit(value)
        elif reg == 1:
            if dlab:
                self.divisor = (self.divisor & 0x00FF) | (value << 8)
                return
            changed = (self.ier ^ value) & 0x0F
            self.ier = value & 0x0F
            if changed & IER_THRI:
                # Enabling THRI while the holding register is empty raises it anew.
                self._thr_ipending = bool(self.ier & IER_THRI)
        elif reg == 2:
            self._write_fcr(value)
        elif reg == 3:
            self.lcr = value
        elif reg == 4:
            was_loop = self.mcr & MCR_LOOP
            self.mcr = value & 0x1F
            if was_loop and not self.mcr & MCR_LOOP:
                self._refill()
        elif reg == 7:
            self.scr = value
        # LSR and MSR are read-only (QEMU ignores writes to them too).
        self._update_irq()

    def _write_fcr(self, value: int) -> None:
        if (value ^ self.fcr) & FCR_FE:
            value |= FCR_RFR | FCR_XFR  # switching FIFOs on or off flushes both
        if value & FCR_RFR:
            self._fifo.clear()
            self.lsr_errors &= ~LSR_BI
        if value & FCR_XFR:
            self._thr_ipending = True
        self.fcr = value & 0xC9
        self._refill()
