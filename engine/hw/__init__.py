"""Device models of QEMU's virt board, standard library only (they run in Pyodide).

mmio        MmioBus / MmioDevice / MmioFault: physical windows outside RAM
irq         IrqLine: a level wire from a device to its consumer
aclint      Clint: MSIP, MTIMECMP, MTIME (10 MHz from a host clock) -> msip, mtip
plic        Plic: 96 sources, contexts 0 (M) and 1 (S) -> context_irq(0/1)
uart16550   Uart16550: ns16550a console; output callback, receive(), irq
sifive_test SifiveTest: finisher; on_finish("pass"|"fail"|"reset", status)
fdt         DeviceTree / encode_dtb / decode_dtb: flattened device trees

How the hart side consumes them: clint.msip -> mip.MSIP, clint.mtip ->
mip.MTIP, plic.context_irq(0) -> mip.MEIP, plic.context_irq(1) -> mip.SEIP
(attach with IrqLine.connect, or poll .level). The `time` CSR reads
clint.mtime(). Time moves without accesses, so the run loop calls
clint.update() at its interrupt checks and, in wfi, sleeps until
clint.next_deadline_ns() (or clint.deadline_ns(stimecmp) for Sstc) or host
input, whichever comes first. Devices are not thread-safe: feed
uart.receive() from the thread that runs the hart.
"""
