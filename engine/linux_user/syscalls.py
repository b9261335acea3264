"""Linux system calls for riscv64 user-mode programs, carried out on the host.

Guest file descriptors are host file descriptors, as in qemu-user: pipes,
dup2, fork and exec then behave exactly as on Linux. The emulator keeps its
own diagnostics channel on a high descriptor that the guest cannot close.
Paths are host paths. Errors come back as negative errno values.
"""

from __future__ import annotations

import errno
import os
import signal
import struct
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.linux_user import hostcalls, structs
from engine.linux_user.address_space import PAGE, page_up
from engine.linux_user.signals import SI_TKILL, SI_USER, Interrupted, PendingSignal
from engine.target.riscv.exceptions import GuestException

if TYPE_CHECKING:
    from engine.linux_user.process import Process

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_EMPTY_PATH = 0x1000
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 0x01, 0x02, 0x10, 0x20
MAP_FIXED_NOREPLACE = 0x100000
M64 = 0xFFFF_FFFF_FFFF_FFFF

# riscv64 (asm-generic) open flags differ from nothing on x86_64 for the ones
# below, but are spelled out so the mapping does not depend on the host.
_GUEST_OPEN_FLAGS = {
    0o1: os.O_WRONLY, 0o2: os.O_RDWR, 0o100: os.O_CREAT, 0o200: os.O_EXCL,
    0o400: os.O_NOCTTY, 0o1000: os.O_TRUNC, 0o2000: os.O_APPEND, 0o4000: os.O_NONBLOCK,
    0o200000: getattr(os, "O_DIRECTORY", 0), 0o400000: getattr(os, "O_NOFOLLOW", 0),
    0o2000000: getattr(os, "O_CLOEXEC", 0), 0o10000000: getattr(os, "O_PATH", 0),
}  # fmt: skip

# ioctls passed through to the host: request -> (argument size, copies out, copies in)
_IOCTLS = {
    0x5401: (36, True, False),  # TCGETS
    0x5402: (36, False, True),  # TCSETS
    0x5403: (36, False, True),  # TCSETSW
    0x5404: (36, False, True),  # TCSETSF
    0x540F: (4, True, False),  # TIOCGPGRP
    0x5410: (4, False, True),  # TIOCSPGRP
    0x5413: (8, True, False),  # TIOCGWINSZ
    0x5414: (8, False, True),  # TIOCSWINSZ
    0x541B: (4, True, False),  # FIONREAD
}


def s64(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


def s32(v: int) -> int:
    v &= 0xFFFF_FFFF
    return v - (1 << 32) if v >> 31 else v


class ProcessExit(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"exit {status}")
        self.status = status


class ExecRequest(Exception):
    """execve succeeded in validating its arguments: replace the process image."""

    def __init__(self, path: str, argv: list[bytes], envp: list[bytes]) -> None:
        super().__init__(path)
        self.path, self.argv, self.envp = path, argv, envp


class _Restart:
    """Returned for a call a signal interrupted under SA_RESTART: run the ecall again."""


RESTART = _Restart()
SyscallFn = Callable[..., int]
TABLE: dict[int, tuple[str, SyscallFn]] = {}
# Calls that may block: only these can be interrupted by a guest-handled signal.
BLOCKING: set[int] = set()


def syscall(number: int, name: str, blocking: bool = False) -> Callable[[SyscallFn], SyscallFn]:
    def register(fn: SyscallFn) -> SyscallFn:
        TABLE[number] = (name, fn)
        if blocking:
            BLOCKING.add(number)
        return fn

    return register


def _errno_of(e: OSError) -> int:
    return -(e.errno or errno.EIO)


def guest_open_flags(flags: int) -> int:
    host = 0
    for bit, value in _GUEST_OPEN_FLAGS.items():
        if flags & bit:
            host |= value
    return host


class Syscalls:
    """Executes the system call described by the registers a7 and a0..a5."""

    def __init__(self, process: Process, log_unimplemented: bool = False) -> None:
        self.p = process
        self.log_unimplemented = log_unimplemented
        self.reported: set[int] = set()

    # -- argument helpers --------------------------------------------------------
    @property
    def mem(self):
        return self.p.space.memory

    def path(self, addr: int) -> bytes:
        """A path argument; /proc/self/exe means the guest program, not the emulator."""
        name = self.mem.read_cstring(addr, 4096)
        if name in (b"/proc/self/exe", f"/proc/{os.getpid()}/exe".encode()):
            return os.fsencode(self.p.exe_path)
        return name

    def dirfd(self, fd: int) -> int | None:
        fd = s32(fd)
        return None if fd == AT_FDCWD else fd

    def dispatch(self, number: int, args: list[int]) -> int | _Restart:
        entry = TABLE.get(number)
        if entry is None:
            if self.log_unimplemented and number not in self.reported:
                self.reported.add(number)
                self.p.diag(f"Unsupported syscall: {number}")
            return -errno.ENOSYS
        _name, fn = entry
        signals = self.p.signals
        try:
            if number in BLOCKING and signals.next_is_handled():
                return self._interrupted()
            return fn(self, *args)
        except Interrupted:
            return self._interrupted()
        except OSError as e:
            return _errno_of(e)
        except GuestException:
            return -errno.EFAULT
        except (OverflowError, ValueError):
            return -errno.EINVAL

    def _interrupted(self) -> int | _Restart:
        """A handler will run first: restart the call after it (SA_RESTART) or fail with EINTR."""
        return RESTART if self.p.signals.next_restarts() else -errno.EINTR

    # -- file I/O -----------------------------------------------------------------
    @syscall(63, "read", blocking=True)
    def sys_read(self, fd: int, buf: int, count: int, *_: int) -> int:
        self.mem.check(buf, count, write=True)
        data = hostcalls.read(s32(fd), min(count, 1 << 24))
        self.mem.write(buf, data)
        return len(data)

    @syscall(64, "write", blocking=True)
    def sys_write(self, fd: int, buf: int, count: int, *_: int) -> int:
        return hostcalls.write(self.p.guest_fd(fd), self.mem.read(buf, count))

    @syscall(67, "pread64", blocking=True)
    def sys_pread64(self, fd: int, buf: int, count: int, offset: int, *_: int) -> int:
        self.mem.check(buf, count, write=True)
        data = os.pread(s32(fd), min(count, 1 << 24), s64(offset))
        self.mem.write(buf, data)
        return len(data)

    @syscall(68, "pwrite64")
    def sys_pwrite64(self, fd: int, buf: int, count: int, offset: int, *_: int) -> int:
        return os.pwrite(self.p.guest_fd(fd), self.mem.read(buf, count), s64(offset))

    def _iovecs(self, iov: int, iovcnt: int) -> list[tuple[int, int]]:
        if iovcnt > 1024:
            raise ValueError
        raw = self.mem.read(iov, 16 * iovcnt)
        return [structs.IOVEC.unpack_from(raw, 16 * k) for k in range(iovcnt)]

    @syscall(65, "readv", blocking=True)
    def sys_readv(self, fd: int, iov: int, iovcnt: int, *_: int) -> int:
        total = 0
        for base, length in self._iovecs(iov, iovcnt):
            if not length:
                continue
            n = self.sys_read(fd, base, length)
            total += n
            if n < length:
                break
        return total

    @syscall(66, "writev", blocking=True)
    def sys_writev(self, fd: int, iov: int, iovcnt: int, *_: int) -> int:
        data = b"".join(self.mem.read(b, n) for b, n in self._iovecs(iov, iovcnt))
        return hostcalls.write(self.p.guest_fd(fd), data) if data else 0

    @syscall(56, "openat")
    def sys_openat(self, dirfd: int, path: int, flags: int, mode: int, *_: int) -> int:
        name = self.path(path)
        return os.open(name, guest_open_flags(flags), mode & 0o7777, dir_fd=self.dirfd(dirfd))

    @syscall(57, "close")
    def sys_close(self, fd: int, *_: int) -> int:
        fd = self.p.guest_fd(fd)
        os.close(fd)
        self.p.directories.forget(fd)
        return 0

    @syscall(62, "lseek")
    def sys_lseek(self, fd: int, offset: int, whence: int, *_: int) -> int:
        return os.lseek(s32(fd), s64(offset), whence)

    @syscall(23, "dup")
    def sys_dup(self, fd: int, *_: int) -> int:
        return os.dup(self.p.guest_fd(fd))

    @syscall(24, "dup3")
    def sys_dup3(self, old: int, new: int, flags: int, *_: int) -> int:
        new = self.p.guest_fd(new)
        if s32(old) == new:
            return -errno.EINVAL
        return os.dup2(self.p.guest_fd(old), new, inheritable=not (flags & 0o2000000))

    @syscall(25, "fcntl")
    def sys_fcntl(self, fd: int, cmd: int, arg: int, *_: int) -> int:
        import fcntl

        fd = self.p.guest_fd(fd)
        if cmd in (0, 1030):  # F_DUPFD, F_DUPFD_CLOEXEC
            return fcntl.fcntl(fd, cmd, arg)
        if cmd in (1, 2, 3):  # F_GETFD, F_SETFD, F_GETFL
            return fcntl.fcntl(fd, cmd, arg)
        if cmd == 4:  # F_SETFL
            return fcntl.fcntl(fd, cmd, guest_open_flags(arg))
        return -errno.EINVAL

    @syscall(29, "ioctl")
    def sys_ioctl(self, fd: int, request: int, arg: int, *_: int) -> int:
        import fcntl

        spec = _IOCTLS.get(request & 0xFFFF_FFFF)
        if spec is None:
            return -errno.ENOTTY
        size, copy_out, copy_in = spec
        buf = bytearray(self.mem.read(arg, size)) if copy_in or copy_out else bytearray(size)
        fcntl.ioctl(self.p.guest_fd(fd), request, buf, True)
        if copy_out:
            self.mem.write(arg, bytes(buf))
        return 0

    @syscall(59, "pipe2")
    def sys_pipe2(self, fds: int, flags: int, *_: int) -> int:
        r, w = os.pipe2(guest_open_flags(flags) & (os.O_CLOEXEC | os.O_NONBLOCK))
        self.mem.write(fds, struct.pack("<ii", r, w))
        return 0

    @syscall(80, "fstat")
    def sys_fstat(self, fd: int, buf: int, *_: int) -> int:
        self.mem.write(buf, structs.pack_stat(os.fstat(self.p.guest_fd(fd))))
        return 0

    def _stat_at(self, dirfd: int, path: int, flags: int) -> os.stat_result:
        name = self.path(path)
        if not name and flags & AT_EMPTY_PATH:
            return os.fstat(s32(dirfd))
        follow = not (flags & AT_SYMLINK_NOFOLLOW)
        return os.stat(name, dir_fd=self.dirfd(dirfd), follow_symlinks=follow)

    @syscall(79, "newfstatat")
    def sys_newfstatat(self, dirfd: int, path: int, buf: int, flags: int, *_: int) -> int:
        self.mem.write(buf, structs.pack_stat(self._stat_at(dirfd, path, flags)))
        return 0

    @syscall(291, "statx")
    def sys_statx(self, dirfd: int, path: int, flags: int, mask: int, buf: int, *_: int) -> int:
        self.mem.write(buf, structs.pack_statx(self._stat_at(dirfd, path, flags)))
        return 0

    @syscall(78, "readlinkat")
    def sys_readlinkat(self, dirfd: int, path: int, buf: int, size: int, *_: int) -> int:
        name = self.mem.read_cstring(path, 4096)
        if name in (b"/proc/self/exe", f"/proc/{os.getpid()}/exe".encode()):
            target = os.fsencode(self.p.exe_path)
        else:
            target = os.readlink(name, dir_fd=self.dirfd(dirfd))
        data = target[:size]
        self.mem.write(buf, data)
        return len(data)

    @syscall(48, "faccessat")
    def sys_faccessat(self, dirfd: int, path: int, mode: int, *_: int) -> int:
        ok = os.access(self.path(path), mode, dir_fd=self.dirfd(dirfd))
        return 0 if ok else -errno.EACCES if os.path.lexists(self.path(path)) else -errno.ENOENT

    @syscall(439, "faccessat2")
    def sys_faccessat2(self, dirfd: int, path: int, mode: int, flags: int, *_: int) -> int:
        return self.sys_faccessat(dirfd, path, mode)

    @syscall(61, "getdents64")
    def sys_getdents64(self, fd: int, dirp: int, count: int, *_: int) -> int:
        return self.p.directories.getdents64(self, s32(fd), dirp, count)

    @syscall(17, "getcwd")
    def sys_getcwd(self, buf: int, size: int, *_: int) -> int:
        cwd = os.fsencode(os.getcwd()) + b"\0"
        if len(cwd) > size:
            return -errno.ERANGE
        self.mem.write(buf, cwd)
        return len(cwd)

    @syscall(49, "chdir")
    def sys_chdir(self, path: int, *_: int) -> int:
        os.chdir(self.path(path))
        return 0

    @syscall(50, "fchdir")
    def sys_fchdir(self, fd: int, *_: int) -> int:
        os.fchdir(s32(fd))
        return 0

    @syscall(34, "mkdirat")
    def sys_mkdirat(self, dirfd: int, path: int, mode: int, *_: int) -> int:
        os.mkdir(self.path(path), mode & 0o7777, dir_fd=self.dirfd(dirfd))
        return 0

    @syscall(35, "unlinkat")
    def sys_unlinkat(self, dirfd: int, path: int, flags: int, *_: int) -> int:
        if flags & AT_REMOVEDIR:
            os.rmdir(self.path(path), dir_fd=self.dirfd(dirfd))
        else:
            os.unlink(self.path(path), dir_fd=self.dirfd(dirfd))
        return 0

    @syscall(38, "renameat")
    def sys_renameat(self, olddir: int, old: int, newdir: int, new: int, *_: int) -> int:
        os.rename(
            self.path(old), self.path(new),
            src_dir_fd=self.dirfd(olddir), dst_dir_fd=self.dirfd(newdir),
        )  # fmt: skip
        return 0

    @syscall(276, "renameat2")
    def sys_renameat2(
        self, olddir: int, old: int, newdir: int, new: int, flags: int, *_: int
    ) -> int:
        return -errno.EINVAL if flags else self.sys_renameat(olddir, old, newdir, new)

    @syscall(36, "symlinkat")
    def sys_symlinkat(self, target: int, newdir: int, link: int, *_: int) -> int:
        os.symlink(self.path(target), self.path(link), dir_fd=self.dirfd(newdir))
        return 0

    @syscall(37, "linkat")
    def sys_linkat(self, olddir: int, old: int, newdir: int, new: int, flags: int, *_: int) -> int:
        os.link(
            self.path(old), self.path(new),
            src_dir_fd=self.dirfd(olddir), dst_dir_fd=self.dirfd(newdir),
        )  # fmt: skip
        return 0

    @syscall(53, "fchmodat")
    def sys_fchmodat(self, dirfd: int, path: int, mode: int, *_: int) -> int:
        os.chmod(self.path(path), mode & 0o7777, dir_fd=self.dirfd(dirfd))
        return 0

    @syscall(52, "fchmod")
    def sys_fchmod(self, fd: int, mode: int, *_: int) -> int:
        os.fchmod(s32(fd), mode & 0o7777)
        return 0

    @syscall(54, "fchownat")
    def sys_fchownat(self, dirfd: int, path: int, uid: int, gid: int, flags: int, *_: int) -> int:
        os.chown(
            self.path(path), s32(uid), s32(gid), dir_fd=self.dirfd(dirfd),
            follow_symlinks=not (flags & AT_SYMLINK_NOFOLLOW),
        )  # fmt: skip
        return 0

    @syscall(46, "ftruncate")
    def sys_ftruncate(self, fd: int, length: int, *_: int) -> int:
        os.ftruncate(s32(fd), s64(length))
        return 0

    @syscall(82, "fsync")
    def sys_fsync(self, fd: int, *_: int) -> int:
        os.fsync(s32(fd))
        return 0

    @syscall(83, "fdatasync")
    def sys_fdatasync(self, fd: int, *_: int) -> int:
        return self.sys_fsync(fd)

    @syscall(88, "utimensat")
    def sys_utimensat(self, dirfd: int, path: int, times: int, flags: int, *_: int) -> int:
        name = self.path(path) if path else None
        ns = None
        if times:
            a = structs.TIMESPEC.unpack(self.mem.read(times, 16))
            m = structs.TIMESPEC.unpack(self.mem.read(times + 16, 16))
            now = time.time_ns()
            UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2
            old = self._stat_at(dirfd, path, flags) if path else os.fstat(s32(dirfd))

            def pick(ts: tuple[int, int], current: int) -> int:
                if ts[1] == UTIME_NOW:
                    return now
                if ts[1] == UTIME_OMIT:
                    return current
                return ts[0] * 1_000_000_000 + ts[1]

            ns = (pick(a, old.st_atime_ns), pick(m, old.st_mtime_ns))
        if name is None:
            os.utime(s32(dirfd), ns=ns)
        else:
            os.utime(name, ns=ns, dir_fd=self.dirfd(dirfd),
                     follow_symlinks=not (flags & AT_SYMLINK_NOFOLLOW))  # fmt: skip
        return 0

    @syscall(73, "ppoll", blocking=True)
    def sys_ppoll(self, fds: int, nfds: int, tmo: int, *_: int) -> int:
        if nfds > 4096:
            return -errno.EINVAL
        timeout = self.mem.read(tmo, 16) if tmo else None
        n, out = hostcalls.ppoll(self.mem.read(fds, 8 * nfds), nfds, timeout)
        if nfds:
            self.mem.write(fds, out)
        return n

    # -- memory -------------------------------------------------------------------
    @syscall(214, "brk")
    def sys_brk(self, addr: int, *_: int) -> int:
        return self.p.space.set_brk(addr) if addr else self.p.space.brk

    @syscall(222, "mmap")
    def sys_mmap(self, addr: int, length: int, prot: int, flags: int, fd: int, off: int) -> int:
        space = self.p.space
        if not length or addr % PAGE or off % PAGE or length > space.size:
            return -errno.EINVAL
        length = page_up(length)
        if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE):
            if not space.contains(addr, length):
                return -errno.ENOMEM
            if flags & MAP_FIXED_NOREPLACE and space._overlaps(addr, addr + length):
                return -errno.EEXIST
            where = addr
        else:
            found = space.find_free(length, addr)
            if found is None:
                return -errno.ENOMEM
            where = found
        data = b""
        if not flags & MAP_ANONYMOUS:
            if flags & MAP_SHARED and prot & 2:
                return -errno.ENODEV  # writable shared file mappings are not supported
            data = os.pread(s32(fd), length, off)
        space.map_at(where, length)
        if data:
            space.memory.write(where, data)
        return where

    @syscall(215, "munmap")
    def sys_munmap(self, addr: int, length: int, *_: int) -> int:
        if addr % PAGE or not self.p.space.contains(addr, page_up(length)):
            return -errno.EINVAL
        self.p.space.unmap(addr, length)
        return 0

    @syscall(216, "mremap")
    def sys_mremap(self, old: int, old_size: int, new_size: int, flags: int, *_: int) -> int:
        space = self.p.space
        old_size, new_size = page_up(old_size), page_up(new_size)
        if new_size <= old_size:
            space.unmap(old + new_size, old_size - new_size)
            return old
        if not flags & 1:  # MREMAP_MAYMOVE
            return -errno.ENOMEM
        new = space.find_free(new_size)
        if new is None:
            return -errno.ENOMEM
        data = space.memory.read(old, old_size)
        space.map_at(new, new_size)
        space.memory.write(new, data)
        space.unmap(old, old_size)
        return new

    @syscall(226, "mprotect")
    def sys_mprotect(self, *_: int) -> int:
        return 0  # flat guest memory has no page protections to change

    @syscall(233, "madvise")
    def sys_madvise(self, addr: int, length: int, advice: int, *_: int) -> int:
        space = self.p.space
        if addr % PAGE or not space.contains(addr, page_up(length)):
            return -errno.EINVAL
        if advice == 4:  # MADV_DONTNEED: private anonymous pages read back as zero
            space.zero(addr, page_up(length))
        return 0

    @syscall(259, "riscv_flush_icache")
    def sys_riscv_flush_icache(self, *_: int) -> int:
        self.p.cpu.request_tb_flush()
        return 0

    # -- process --------------------------------------------------------------------
    @syscall(93, "exit")
    def sys_exit(self, status: int, *_: int) -> int:
        raise ProcessExit(status & 0xFF)

    @syscall(94, "exit_group")
    def sys_exit_group(self, status: int, *_: int) -> int:
        raise ProcessExit(status & 0xFF)

    @syscall(96, "set_tid_address")
    def sys_set_tid_address(self, *_: int) -> int:
        return os.getpid()

    @syscall(99, "set_robust_list")
    def sys_set_robust_list(self, *_: int) -> int:
        return 0

    @syscall(98, "futex")
    def sys_futex(self, uaddr: int, op: int, val: int, *_: int) -> int:
        cmd = op & 0x7F
        if cmd == 0:  # FUTEX_WAIT: with one thread, nobody could wake us
            return -errno.EAGAIN if self.mem.ld32u(uaddr, 0) != (val & 0xFFFF_FFFF) else 0
        return 0  # FUTEX_WAKE and friends: no other thread waits

    @syscall(172, "getpid")
    def sys_getpid(self, *_: int) -> int:
        return os.getpid()

    @syscall(173, "getppid")
    def sys_getppid(self, *_: int) -> int:
        return os.getppid()

    @syscall(178, "gettid")
    def sys_gettid(self, *_: int) -> int:
        return os.getpid()

    @syscall(174, "getuid")
    def sys_getuid(self, *_: int) -> int:
        return os.getuid()

    @syscall(175, "geteuid")
    def sys_geteuid(self, *_: int) -> int:
        return os.geteuid()

    @syscall(176, "getgid")
    def sys_getgid(self, *_: int) -> int:
        return os.getgid()

    @syscall(177, "getegid")
    def sys_getegid(self, *_: int) -> int:
        return os.getegid()

    @syscall(155, "getpgid")
    def sys_getpgid(self, pid: int, *_: int) -> int:
        return os.getpgid(s32(pid))

    @syscall(154, "setpgid")
    def sys_setpgid(self, pid: int, pgid: int, *_: int) -> int:
        os.setpgid(s32(pid), s32(pgid))
        return 0

    @syscall(157, "setsid")
    def sys_setsid(self, *_: int) -> int:
        return os.setsid()

    @syscall(166, "umask")
    def sys_umask(self, mask: int, *_: int) -> int:
        return os.umask(mask & 0o777)

    def _signal_self_or_other(self, pid: int, sig: int, code: int) -> int:
        # The host disposition mirrors the guest's, so a signal to ourselves
        # takes exactly the action the guest chose: handler, ignore or default.
        if pid == os.getpid() and sig:
            signals = self.p.signals
            if signals.disposition(sig) not in (0, 1):
                signals.raise_signal(PendingSignal(sig, code, pid=os.getpid()))
                return 0
        os.kill(pid, sig)
        return 0

    @syscall(129, "kill")
    def sys_kill(self, pid: int, sig: int, *_: int) -> int:
        return self._signal_self_or_other(s32(pid), sig, SI_USER)

    @syscall(130, "tkill")
    def sys_tkill(self, tid: int, sig: int, *_: int) -> int:
        return self._signal_self_or_other(s32(tid), sig, SI_TKILL)

    @syscall(131, "tgkill")
    def sys_tgkill(self, tgid: int, tid: int, sig: int, *_: int) -> int:
        return self._signal_self_or_other(s32(tid), sig, SI_TKILL)

    @syscall(134, "rt_sigaction")
    def sys_rt_sigaction(self, sig: int, act: int, oldact: int, *_: int) -> int:
        return self.p.signals.sigaction(self, sig, act, oldact)

    @syscall(135, "rt_sigprocmask")
    def sys_rt_sigprocmask(self, how: int, new: int, old: int, size: int, *_: int) -> int:
        return self.p.signals.sigprocmask(self, how, new, old)

    @syscall(136, "rt_sigpending")
    def sys_rt_sigpending(self, out: int, *_: int) -> int:
        return self.p.signals.sigpending(self, out)

    @syscall(133, "rt_sigsuspend", blocking=True)
    def sys_rt_sigsuspend(self, mask: int, *_: int) -> int:
        return self.p.signals.sigsuspend(self, mask)

    @syscall(139, "rt_sigreturn")
    def sys_rt_sigreturn(self, *_: int) -> int:
        self.p.signals.sigreturn(self)
        return 0

    @syscall(132, "sigaltstack")
    def sys_sigaltstack(self, new: int, old: int, *_: int) -> int:
        return self.p.signals.sigaltstack(self, new, old, self.p.cpu.state[2])

    @syscall(102, "getitimer")
    def sys_getitimer(self, which: int, out: int, *_: int) -> int:
        self._write_itimer(out, *signal.getitimer(which))
        return 0

    @syscall(103, "setitimer")
    def sys_setitimer(self, which: int, new: int, old: int, *_: int) -> int:
        i_s, i_us, v_s, v_us = struct.unpack("<4q", self.mem.read(new, 32))
        previous = signal.setitimer(which, v_s + v_us / 1e6, i_s + i_us / 1e6)
        if old:
            self._write_itimer(old, *previous)
        return 0

    def _write_itimer(self, addr: int, value: float, interval: float) -> None:
        def tv(x: float) -> tuple[int, int]:
            us = round(x * 1e6)
            return us // 1_000_000, us % 1_000_000

        self.mem.write(addr, struct.pack("<4q", *tv(interval), *tv(value)))

    @syscall(167, "prctl")
    def sys_prctl(self, *_: int) -> int:
        return -errno.EINVAL

    @syscall(261, "prlimit64")
    def sys_prlimit64(self, pid: int, resource: int, new: int, old: int, *_: int) -> int:
        import resource as res

        if old:
            if resource == 3:  # RLIMIT_STACK: what the guest stack really has
                soft = hard = 8 << 20
            else:
                soft, hard = res.getrlimit(resource)
            conv = [structs.RLIM_INFINITY if v == res.RLIM_INFINITY else v for v in (soft, hard)]
            self.mem.write(old, structs.RLIMIT.pack(*conv))
        return 0

    @syscall(163, "getrlimit")
    def sys_getrlimit(self, resource: int, old: int, *_: int) -> int:
        return self.sys_prlimit64(0, resource, 0, old)

    @syscall(165, "getrusage")
    def sys_getrusage(self, who: int, buf: int, *_: int) -> int:
        self.mem.write(buf, bytes(144))
        return 0

    @syscall(220, "clone")
    def sys_clone(self, flags: int, stack: int, ptid: int, tls: int, ctid: int, *_: int) -> int:
        return self.p.clone(flags, stack, ptid, tls, ctid)

    @syscall(435, "clone3")
    def sys_clone3(self, *_: int) -> int:
        return -errno.ENOSYS  # glibc then falls back to clone

    @syscall(221, "execve")
    def sys_execve(self, path: int, argv: int, envp: int, *_: int) -> int:
        name = os.fsdecode(self.path(path))
        if not os.path.exists(name):
            return -errno.ENOENT
        if not os.access(name, os.X_OK):
            return -errno.EACCES
        raise ExecRequest(name, self._string_array(argv), self._string_array(envp))

    def _string_array(self, addr: int) -> list[bytes]:
        out = []
        while addr:
            ptr = self.mem.read_u64(addr)
            if not ptr:
                break
            out.append(self.mem.read_cstring(ptr))
            addr += 8
        return out

    @syscall(260, "wait4", blocking=True)
    def sys_wait4(self, pid: int, status: int, options: int, rusage: int, *_: int) -> int:
        got, st = hostcalls.wait4(s32(pid), options & 0xFF)
        if status and got:
            self.mem.write(status, struct.pack("<i", st))
        if rusage:
            self.mem.write(rusage, bytes(144))
        return got

    # -- time and system information -------------------------------------------------
    @syscall(113, "clock_gettime")
    def sys_clock_gettime(self, clock: int, tp: int, *_: int) -> int:
        ns = time.clock_gettime_ns(s32(clock))
        self.mem.write(tp, structs.TIMESPEC.pack(ns // 1_000_000_000, ns % 1_000_000_000))
        return 0

    @syscall(114, "clock_getres")
    def sys_clock_getres(self, clock: int, tp: int, *_: int) -> int:
        if tp:
            self.mem.write(tp, structs.TIMESPEC.pack(0, 1))
        return 0

    @syscall(169, "gettimeofday")
    def sys_gettimeofday(self, tv: int, tz: int, *_: int) -> int:
        ns = time.time_ns()
        if tv:
            self.mem.write(tv, structs.TIMEVAL.pack(ns // 1_000_000_000, ns // 1000 % 1_000_000))
        return 0

    @syscall(101, "nanosleep", blocking=True)
    def sys_nanosleep(self, req: int, rem: int, *_: int) -> int:
        return self.sys_clock_nanosleep(1, 0, req, rem)  # CLOCK_MONOTONIC, relative

    @syscall(115, "clock_nanosleep", blocking=True)
    def sys_clock_nanosleep(self, clock: int, flags: int, req: int, rem: int, *_: int) -> int:
        hostcalls.clock_nanosleep(s32(clock), flags, self.mem.read(req, 16))
        return 0

    @syscall(124, "sched_yield")
    def sys_sched_yield(self, *_: int) -> int:
        return 0

    @syscall(153, "times")
    def sys_times(self, buf: int, *_: int) -> int:
        t = os.times()
        if buf:
            ticks = [int(v * 100) for v in (t.user, t.system, t.children_user, t.children_system)]
            self.mem.write(buf, struct.pack("<4q", *ticks))
        return int(t.elapsed * 100) & M64

    @syscall(160, "uname")
    def sys_uname(self, buf: int, *_: int) -> int:
        u = os.uname()
        fields = [u.sysname, u.nodename, u.release, u.version, "riscv64", "(none)"]
        self.mem.write(buf, b"".join(f.encode()[:64].ljust(65, b"\0") for f in fields))
        return 0

    @syscall(179, "sysinfo")
    def sys_sysinfo(self, buf: int, *_: int) -> int:
        uptime = int(time.monotonic())
        total = self.p.space.size
        # struct sysinfo: uptime, loads[3], totalram, freeram, sharedram, bufferram,
        # totalswap, freeswap, procs (u16, padded), totalhigh, freehigh, mem_unit
        info = struct.pack("<q3Q6QH6xQQI", uptime, 0, 0, 0, total, total // 2, 0, 0, 0, 0,
                           1, 0, 0, 1)  # fmt: skip
        self.mem.write(buf, info.ljust(112, b"\0"))
        return 0

    @syscall(278, "getrandom")
    def sys_getrandom(self, buf: int, count: int, flags: int, *_: int) -> int:
        count = min(count, 1 << 20)
        self.mem.write(buf, os.urandom(count))
        return count

    @syscall(258, "riscv_hwprobe")
    def sys_riscv_hwprobe(self, *_: int) -> int:
        return -errno.ENOSYS


def diag_stream() -> int:
    """A private duplicate of stderr for the emulator's own messages."""
    import fcntl

    try:
        return fcntl.fcntl(sys.stderr.fileno(), fcntl.F_DUPFD_CLOEXEC, 1000)
    except (OSError, ValueError, AttributeError):
        return 2
