"""Signals for user-mode guests: dispositions, masks, pending sets, and delivery frames.

Host dispositions mirror the guest's: a signal the guest ignores is ignored
by the host, one left at its default takes the host's default action (so a
guest killed by SIGTERM dies like a native program), and one with a guest
handler gets a Python handler that marks it pending and asks the hart to stop
at the next block boundary. Synchronous faults (SIGSEGV, SIGILL, SIGBUS,
SIGTRAP) come from the hart's traps instead.

Delivery builds the riscv64 Linux rt_sigframe (siginfo, then ucontext with
the saved registers and mask) on the guest stack or the alternate stack and
enters the handler with ra pointing at a trampoline that calls rt_sigreturn,
which restores everything the handler may have edited.
"""

from __future__ import annotations

import contextlib
import errno
import signal as host_signal
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.target.riscv import state as st

if TYPE_CHECKING:
    from engine.linux_user.syscalls import Syscalls

SIG_DFL, SIG_IGN = 0, 1
SA_SIGINFO, SA_ONSTACK, SA_RESTART = 0x4, 0x8000000, 0x10000000
SA_NODEFER, SA_RESETHAND = 0x40000000, 0x80000000
SS_ONSTACK, SS_DISABLE = 1, 2
SIGKILL, SIGSTOP, SIGCHLD, SIGCONT, SIGURG, SIGWINCH = 9, 19, 17, 18, 23, 28
# Signals whose default action is to do nothing.
DEFAULT_IGNORED = {SIGCHLD, SIGCONT, SIGURG, SIGWINCH}
SI_USER, SI_KERNEL, SI_TKILL = 0, 0x80, -6

# riscv64 layouts (glibc and the kernel agree): see tests/programs/signals.c.
SIGINFO_BYTES = 128
UC_STACK, UC_SIGMASK, UC_MCONTEXT = 16, 40, 176
UC_FPREGS, UC_FCSR, UCONTEXT_BYTES = 432, 688, 960
FRAME_BYTES = SIGINFO_BYTES + UCONTEXT_BYTES
TRAMPOLINE = struct.pack("<II", 0x08B00893, 0x00000073)  # li a7, 139 (rt_sigreturn); ecall
M64 = 0xFFFF_FFFF_FFFF_FFFF


def bit(sig: int) -> int:
    return 1 << (sig - 1)


UNBLOCKABLE = bit(SIGKILL) | bit(SIGSTOP)


class SigReturn(Exception):
    """rt_sigreturn restored the registers: the runner must not touch a0 or pc."""


class Interrupted(Exception):
    """A guest-handled signal arrived during a blocking system call."""


@dataclass
class Action:
    handler: int = SIG_DFL
    flags: int = 0
    mask: int = 0

    def pack(self) -> bytes:
        return struct.pack("<QQQ", self.handler, self.flags, self.mask)


@dataclass
class PendingSignal:
    signo: int
    code: int = SI_USER
    addr: int | None = None  # for faults: si_addr
    pid: int = 0


class SignalState:
    def __init__(self, trampoline: int) -> None:
        self.actions: dict[int, Action] = {}
        self.blocked = 0
        self.pending: dict[int, PendingSignal] = {}
        self.altstack = (0, SS_DISABLE, 0)  # ss_sp, ss_flags, ss_size
        self.trampoline = trampoline
        self.on_arrival = lambda: None  # set by the process: stop the hart soon
        # rt_sigsuspend: the mask the next frame saves, restored by its sigreturn.
        self.saved_mask: int | None = None

    # -- host side ----------------------------------------------------------------
    def _host_handler(self, signo: int, frame: object) -> None:
        # Only record: blocking calls see EINTR from libc (engine/linux_user/hostcalls.py).
        self.pending.setdefault(signo, PendingSignal(signo, SI_USER))
        self.on_arrival()

    def mirror_on_host(self, sig: int) -> None:
        """Make the host's disposition of `sig` match the guest's."""
        action = self.actions.get(sig, Action())
        try:
            if action.handler == SIG_IGN:
                host_signal.signal(sig, host_signal.SIG_IGN)
            elif action.handler == SIG_DFL:
                host_signal.signal(sig, host_signal.SIG_DFL)
            else:
                host_signal.signal(sig, self._host_handler)
        except (OSError, ValueError):
            pass  # not a signal the host lets us handle (SIGKILL, SIGSEGV ...)

    def reset_for_exec(self) -> None:
        """execve: handlers revert to the default; ignored signals stay ignored."""
        for sig, action in list(self.actions.items()):
            if action.handler not in (SIG_DFL, SIG_IGN):
                self.actions[sig] = Action()
                self.mirror_on_host(sig)
        self.altstack = (0, SS_DISABLE, 0)

    # -- system calls -------------------------------------------------------------
    def sigaction(self, sc: Syscalls, sig: int, act: int, oldact: int) -> int:
        if not 1 <= sig <= 64 or (act and sig in (SIGKILL, SIGSTOP)):
            return -errno.EINVAL
        if oldact:
            sc.mem.write(oldact, self.actions.get(sig, Action()).pack())
        if act:
            handler, flags, mask = struct.unpack("<QQQ", sc.mem.read(act, 24))
            self.actions[sig] = Action(handler, flags, mask & ~UNBLOCKABLE)
            self.mirror_on_host(sig)
        return 0

    def sigprocmask(self, sc: Syscalls, how: int, new: int, old: int) -> int:
        if old:
            sc.mem.write(old, struct.pack("<Q", self.blocked))
        if new:
            (value,) = struct.unpack("<Q", sc.mem.read(new, 8))
            if how == 0:
                self.blocked |= value
            elif how == 1:
                self.blocked &= ~value
            elif how == 2:
                self.blocked = value
            else:
                return -errno.EINVAL
            self.blocked &= ~UNBLOCKABLE
        return 0

    def sigpending(self, sc: Syscalls, out: int) -> int:
        mask = 0
        for sig in self.pending:
            mask |= bit(sig)
        sc.mem.write(out, struct.pack("<Q", mask & self.blocked))
        return 0

    def sigaltstack(self, sc: Syscalls, new: int, old: int, sp: int) -> int:
        ss_sp, ss_flags, ss_size = self.altstack
        if old:
            flags = SS_ONSTACK if self._on_altstack(sp) else ss_flags
            sc.mem.write(old, struct.pack("<QiiQ", ss_sp, flags, 0, ss_size))
        if new:
            if self._on_altstack(sp):
                return -errno.EPERM
            n_sp, n_flags, _pad, n_size = struct.unpack("<QiiQ", sc.mem.read(new, 24))
            if n_flags & SS_DISABLE:
                self.altstack = (0, SS_DISABLE, 0)
            elif n_size < 2048:
                return -errno.ENOMEM
            else:
                self.altstack = (n_sp, 0, n_size)
        return 0

    def _on_altstack(self, sp: int) -> bool:
        ss_sp, ss_flags, ss_size = self.altstack
        return not ss_flags & SS_DISABLE and ss_sp < sp <= ss_sp + ss_size

    # -- delivery -------------------------------------------------------------------
    def raise_signal(self, sig: PendingSignal) -> None:
        self.pending[sig.signo] = sig

    def disposition(self, signo: int) -> int:
        return self.actions.get(signo, Action()).handler

    def _next_handled(self) -> Action | None:
        for signo in sorted(self.pending):
            if not self.blocked & bit(signo):
                action = self.actions.get(signo, Action())
                if action.handler not in (SIG_DFL, SIG_IGN):
                    return action
        return None

    def next_is_handled(self) -> bool:
        """Whether a guest handler is about to run (a blocking call must not start)."""
        return self._next_handled() is not None

    def next_restarts(self) -> bool:
        action = self._next_handled()
        return action is not None and bool(action.flags & SA_RESTART)

    def sigsuspend(self, sc: Syscalls, mask_addr: int) -> int:
        """Wait for a handled signal under a temporary mask; sigreturn restores the old one."""
        (mask,) = struct.unpack("<Q", sc.mem.read(mask_addr, 8))
        self.saved_mask = self.blocked
        self.blocked = mask & ~UNBLOCKABLE
        from engine.linux_user import hostcalls

        while not self.next_is_handled():
            # The handler records the signal; one we do not handle keeps us waiting.
            with contextlib.suppress(Interrupted):
                hostcalls.pause()
        return -errno.EINTR  # never restarted, whatever SA_RESTART says

    def next_deliverable(self) -> PendingSignal | None:
        for signo in sorted(self.pending):
            if not self.blocked & bit(signo):
                return self.pending.pop(signo)
        return None

    def deliver(self, sc: Syscalls, sig: PendingSignal) -> bool:
        """Enter the guest handler for sig; False when the default action must happen."""
        action = self.actions.get(sig.signo, Action())
        if action.handler == SIG_IGN:
            return True
        if action.handler == SIG_DFL:
            return sig.signo in DEFAULT_IGNORED
        cpu = sc.p.cpu
        state = cpu.state
        sp = state[2]
        use_altstack = action.flags & SA_ONSTACK and not self.altstack[1] & SS_DISABLE
        if use_altstack and not self._on_altstack(sp):
            sp = self.altstack[0] + self.altstack[2]
        frame = (sp - FRAME_BYTES) & ~15
        mem = sc.mem
        mem.write(frame, self._siginfo(sig))
        mem.write(frame + SIGINFO_BYTES, self._ucontext(state, state[2]))
        if self.saved_mask is not None:
            self.blocked = self.saved_mask
            self.saved_mask = None
        self.blocked |= action.mask
        if not action.flags & SA_NODEFER:
            self.blocked |= bit(sig.signo)
        self.blocked &= ~UNBLOCKABLE
        if action.flags & SA_RESETHAND:
            self.actions[sig.signo] = Action()
            self.mirror_on_host(sig.signo)
        state[10] = sig.signo
        state[11] = frame
        state[12] = frame + SIGINFO_BYTES
        state[2] = frame
        state[1] = self.trampoline
        state[st.PC] = action.handler
        return True

    def _siginfo(self, sig: PendingSignal) -> bytes:
        info = bytearray(SIGINFO_BYTES)
        struct.pack_into("<iii", info, 0, sig.signo, 0, sig.code)
        if sig.addr is not None:
            struct.pack_into("<Q", info, 16, sig.addr & M64)
        else:
            struct.pack_into("<iI", info, 16, sig.pid, 0)
        return bytes(info)

    def _ucontext(self, state: memoryview, interrupted_sp: int) -> bytes:
        uc = bytearray(UCONTEXT_BYTES)
        ss_sp, ss_flags, ss_size = self.altstack
        flags = SS_ONSTACK if self._on_altstack(interrupted_sp) else ss_flags
        struct.pack_into("<QiiQ", uc, UC_STACK, ss_sp, flags, 0, ss_size)
        saved = self.blocked if self.saved_mask is None else self.saved_mask
        struct.pack_into("<Q", uc, UC_SIGMASK, saved)
        regs = [state[st.PC]] + [state[r] for r in range(1, 32)]
        struct.pack_into("<32Q", uc, UC_MCONTEXT, *regs)
        struct.pack_into("<32Q", uc, UC_FPREGS, *(state[st.F0 + i] for i in range(32)))
        struct.pack_into("<I", uc, UC_FCSR, (state[st.FRM] << 5) | state[st.FFLAGS])
        return bytes(uc)

    def sigreturn(self, sc: Syscalls) -> None:
        state = sc.p.cpu.state
        uc = sc.mem.read(state[2] + SIGINFO_BYTES, UCONTEXT_BYTES)
        regs = struct.unpack_from("<32Q", uc, UC_MCONTEXT)
        state[st.PC] = regs[0]
        for r in range(1, 32):
            state[r] = regs[r]
        for i, v in enumerate(struct.unpack_from("<32Q", uc, UC_FPREGS)):
            state[st.F0 + i] = v
        (fcsr,) = struct.unpack_from("<I", uc, UC_FCSR)
        state[st.FFLAGS] = fcsr & 0x1F
        state[st.FRM] = (fcsr >> 5) & 7
        (mask,) = struct.unpack_from("<Q", uc, UC_SIGMASK)
        self.blocked = mask & ~UNBLOCKABLE
        raise SigReturn
