"""A user-mode guest process: address space, hart, system calls, fork and exec.

fork is a host fork (the child continues with a copy of the emulator, as with
qemu-user); exec replaces the image inside the same host process, closing the
descriptors marked close-on-exec as the kernel would.
"""

from __future__ import annotations

import contextlib
import errno
import os
import struct
from dataclasses import dataclass, field

from engine.linux_user.address_space import DEFAULT_SIZE
from engine.linux_user.elf import ElfError, parse_elf
from engine.linux_user.execution import ExecutionOptions, create_process_image
from engine.linux_user.loader import load_program
from engine.linux_user.signals import (
    SIG_DFL,
    SIG_IGN,
    TRAMPOLINE,
    PendingSignal,
    SignalState,
    SigReturn,
    bit,
)
from engine.linux_user.syscalls import (
    RESTART,
    ExecRequest,
    ProcessExit,
    Syscalls,
    diag_stream,
    s32,
)
from engine.target.riscv import state as st
from engine.target.riscv.cpu import HOST_INTERRUPT
from engine.target.riscv.exceptions import Cause

M64 = 0xFFFF_FFFF_FFFF_FFFF
CLONE_VM, CLONE_VFORK, CLONE_THREAD = 0x100, 0x4000, 0x10000
CLONE_SETTLS, CLONE_PARENT_SETTID, CLONE_CHILD_SETTID = 0x80000, 0x100000, 0x1000000

SIGNAL_NAMES = {4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS", 11: "SIGSEGV"}
_FAULT_SIGNALS = {
    Cause.ILLEGAL_INSTRUCTION: 4,
    Cause.BREAKPOINT: 5,
    Cause.INSN_MISALIGNED: 7,
    Cause.LOAD_MISALIGNED: 7,
    Cause.STORE_MISALIGNED: 7,
    Cause.INSN_ACCESS_FAULT: 11,
    Cause.LOAD_ACCESS_FAULT: 11,
    Cause.STORE_ACCESS_FAULT: 11,
    Cause.INSN_PAGE_FAULT: 11,
    Cause.LOAD_PAGE_FAULT: 11,
    Cause.STORE_PAGE_FAULT: 11,
}


def _environ(envp: list[bytes]) -> dict[bytes, bytes]:
    env = {}
    for entry in envp:
        key, sep, value = entry.partition(b"=")
        if sep:
            env[key] = value
    return env


class GuestKilled(Exception):
    def __init__(self, signo: int) -> None:
        super().__init__(f"signal {signo}")
        self.signo = signo


@dataclass
class Options:
    address_space: int = DEFAULT_SIZE
    log_unimplemented: bool = False
    optimize: bool = True
    execution: ExecutionOptions = field(default_factory=ExecutionOptions)


class Directories:
    """getdents64 on host directories, remembering each open directory's position."""

    DT = {0o010000: 1, 0o020000: 2, 0o040000: 4, 0o060000: 6, 0o100000: 8, 0o120000: 10,
          0o140000: 12}  # fmt: skip

    def __init__(self) -> None:
        self.open: dict[int, tuple[int, list[tuple[int, int, bytes]], int]] = {}

    def _list(self, fd: int) -> list[tuple[int, int, bytes]]:
        entries = [
            (os.fstat(fd).st_ino, 4, b"."),
            (os.stat("..", dir_fd=fd).st_ino, 4, b".."),
        ]
        with os.scandir(fd) as it:
            for e in it:
                try:
                    mode = e.stat(follow_symlinks=False).st_mode
                    dtype = self.DT.get(mode & 0o170000, 0)
                except OSError:
                    dtype = 0
                entries.append((e.inode(), dtype, os.fsencode(e.name)))
        return entries

    def getdents64(self, sc: Syscalls, fd: int, dirp: int, count: int) -> int:
        ino = os.fstat(fd).st_ino
        cached = self.open.get(fd)
        if cached is None or cached[0] != ino:
            cached = (ino, self._list(fd), 0)
        _ino, entries, pos = cached
        out = bytearray()
        while pos < len(entries):
            d_ino, d_type, name = entries[pos]
            reclen = (19 + len(name) + 1 + 7) & ~7
            if len(out) + reclen > count:
                break
            rec = struct.pack("<QqHB", d_ino, pos + 1, reclen, d_type) + name + b"\0"
            out += rec.ljust(reclen, b"\0")
            pos += 1
        if not out and pos < len(entries):
            return -errno.EINVAL  # buffer too small for the next entry
        self.open[fd] = (ino, entries, pos)
        sc.mem.write(dirp, bytes(out))
        return len(out)

    def forget(self, fd: int) -> None:
        self.open.pop(fd, None)


class Process:
    def __init__(self, path: str, argv: list[bytes], envp: list[bytes], options: Options) -> None:
        self.options = options
        self.diag_fd = diag_stream()
        self.signals: SignalState | None = None
        self.directories = Directories()
        self.vfork_pipe: int | None = None
        self.load(path, argv, envp)
        self.syscalls = Syscalls(self, options.log_unimplemented)

    # -- image -----------------------------------------------------------------------
    def load(self, path: str, argv: list[bytes], envp: list[bytes]) -> None:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except IsADirectoryError:
            raise ElfError(f"{path}: is a directory") from None
        elf = parse_elf(data, path)
        self.exe_path = os.path.abspath(path)
        self.space, self.cpu = create_process_image(
            self.options.address_space, self.options.execution, self.options.optimize
        )
        loaded = load_program(self.space, elf, argv, envp, os.fsencode(path))
        self.cpu.pc = loaded.entry
        self.cpu.set_x(2, loaded.sp)
        self.space.memory.write(self.space.trampoline, TRAMPOLINE)
        if self.signals is None:
            self.signals = SignalState(self.space.trampoline)
        else:
            self.signals.trampoline = self.space.trampoline
        cpu = self.cpu
        self.signals.on_arrival = lambda: setattr(cpu, "exit_request", True)

    def exec(self, req: ExecRequest) -> None:
        try:
            with open(req.path, "rb") as f:
                parse_elf(f.read(), req.path)
        except (OSError, ElfError):
            self._host_exec(req)
            return
        self._close_on_exec()
        self.signals.reset_for_exec()
        self.directories = Directories()
        self.load(req.path, req.argv, req.envp)
        self._release_vfork_parent()

    def _host_exec(self, req: ExecRequest) -> None:
        """Not a riscv64 program (a host binary, a script): the host kernel runs it, as
        with qemu-user. Only a failure returns here, as the guest's execve error."""
        try:
            os.execve(req.path, req.argv or [os.fsencode(req.path)], _environ(req.envp))
        except OSError as e:
            self.cpu.set_x(10, -(e.errno or errno.ENOEXEC))
            self.cpu.pc += 4

    def _close_on_exec(self) -> None:
        import fcntl

        try:
            fds = [int(n) for n in os.listdir("/proc/self/fd")]
        except OSError:
            fds = list(range(256))
        for fd in fds:
            # The vfork pipe is close-on-exec like every pipe Python makes; closing it
            # here would let its number be reused before _release_vfork_parent closes it.
            if fd in (self.diag_fd, self.vfork_pipe):
                continue
            try:
                if fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
                    os.close(fd)
            except OSError:
                pass

    # -- fork -----------------------------------------------------------------------
    def clone(self, flags: int, stack: int, ptid: int, tls: int, ctid: int) -> int:
        if flags & CLONE_THREAD:
            return -errno.ENOSYS  # threads are not emulated
        vfork = bool(flags & CLONE_VFORK)
        wait_r, wait_w = os.pipe() if vfork else (-1, -1)
        pid = os.fork()
        if pid == 0:
            if vfork:
                os.close(wait_r)
                self.vfork_pipe = wait_w
            if stack:
                self.cpu.set_x(2, stack)
            if flags & CLONE_SETTLS:
                self.cpu.set_x(4, tls)
            if flags & CLONE_CHILD_SETTID and ctid:
                self.space.memory.write(ctid, struct.pack("<i", os.getpid()))
            return 0
        if flags & CLONE_PARENT_SETTID and ptid:
            self.space.memory.write(ptid, struct.pack("<i", pid))
        if vfork:
            # The parent of a vfork sleeps until the child execs or exits.
            os.close(wait_w)
            os.read(wait_r, 1)
            os.close(wait_r)
        return pid

    def _release_vfork_parent(self) -> None:
        if self.vfork_pipe is not None:
            os.close(self.vfork_pipe)
            self.vfork_pipe = None

    # -- helpers for system calls ------------------------------------------------------------
    def guest_fd(self, fd: int) -> int:
        fd = s32(fd)
        if fd == self.diag_fd:
            raise OSError(errno.EBADF, "reserved descriptor")
        return fd

    def diag(self, message: str) -> None:
        with contextlib.suppress(OSError):
            os.write(self.diag_fd, f"wasmemu: {message}\n".encode())

    def terminate_by_signal(self, signo: int) -> None:
        raise GuestKilled(signo)

    # -- the run loop -----------------------------------------------------------------------
    def run(self) -> int:
        """Run the program to its end; returns the exit status a shell would report."""
        try:
            return self._run()
        except GuestKilled as k:
            self.diag(f"guest terminated by {SIGNAL_NAMES.get(k.signo, f'signal {k.signo}')}")
            return 128 + k.signo
        finally:
            self._release_vfork_parent()

    def stats(self) -> dict[str, float]:
        """Execution counters of the current image (after exec, of the new program)."""
        cpu = self.cpu
        out = cpu.stats.as_dict()
        out["instret"] = cpu.state[st.INSTRET]
        if cpu.jit is not None:
            out["wasm_modules"] = cpu.jit.modules
        return out

    def _run(self) -> int:
        while True:
            cpu = self.cpu
            state = cpu.state
            cpu.run()
            cause = state[st.EXC_CAUSE]
            if cause == Cause.ECALL_U:
                args = [state[r] for r in range(10, 16)]
                try:
                    ret = self.syscalls.dispatch(state[17], args)
                except ProcessExit as e:
                    return e.status
                except ExecRequest as req:
                    self.exec(req)
                    continue
                except SigReturn:
                    ret = None
                if ret is not None and ret is not RESTART:
                    state[10] = ret & M64
                    state[st.PC] = (state[st.PC] + 4) & M64
            elif cause != HOST_INTERRUPT:
                fault = self._fault_signal(cause, state[st.EXC_TVAL], state[st.PC])
                if not self._deliver_fault(fault):
                    return self._fatal(cause, state[st.EXC_TVAL], state[st.PC])
            self.deliver_pending()

    def deliver_pending(self) -> None:
        """Enter guest handlers for pending unblocked signals (the last one runs first)."""
        signals = self.signals
        while (sig := signals.next_deliverable()) is not None:
            if not signals.deliver(self.syscalls, sig):
                self.terminate_by_signal(sig.signo)

    @staticmethod
    def _fault_signal(cause: int, tval: int, pc: int) -> PendingSignal:
        signo = _FAULT_SIGNALS.get(Cause(cause), 11)
        if signo == 4:
            return PendingSignal(4, 1, pc)  # ILL_ILLOPC at the instruction
        if signo == 5:
            return PendingSignal(5, 1, pc)  # TRAP_BRKPT
        if signo == 7:
            return PendingSignal(7, 1, tval)  # BUS_ADRALN
        return PendingSignal(11, 1, tval)  # SEGV_MAPERR: nothing is mapped there

    def _deliver_fault(self, sig: PendingSignal) -> bool:
        """A synchronous fault goes to a guest handler if one is installed and not blocked."""
        signals = self.signals
        if signals.disposition(sig.signo) in (SIG_DFL, SIG_IGN):
            return False
        if signals.blocked & bit(sig.signo):
            return False
        return signals.deliver(self.syscalls, sig)

    def _fatal(self, cause: int, tval: int, pc: int) -> int:
        signo = _FAULT_SIGNALS.get(Cause(cause), 11)
        name = SIGNAL_NAMES[signo]
        if cause == Cause.ILLEGAL_INSTRUCTION:
            width = 4 if tval & 3 == 3 else 2
            what = f"illegal instruction {tval:#0{2 + 2 * width}x} at pc {pc:#x}"
        elif cause == Cause.BREAKPOINT:
            what = f"breakpoint at pc {pc:#x}"
        elif signo == 7:
            what = f"misaligned access to address {tval:#x} at pc {pc:#x}"
        elif cause == Cause.INSN_ACCESS_FAULT:
            what = f"jump to unmapped address {tval:#x}"
        else:
            kind = "write to" if cause == Cause.STORE_ACCESS_FAULT else "read from"
            what = f"invalid {kind} address {tval:#x} at pc {pc:#x}"
        self.diag(f"guest terminated by {name}: {what}")
        return 128 + signo
