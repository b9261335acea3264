"""Blocking host system calls that report EINTR instead of retrying.

Python's os functions retry after a signal (PEP 475), and raising from a
signal handler to stop them can lose a result the call already produced (a
reaped child, read bytes). These wrappers call libc directly: CPython installs
its handlers without SA_RESTART, so a guest-handled signal makes the call
return EINTR, which becomes `Interrupted` for the guest's system call.
"""

from __future__ import annotations

import ctypes
import errno
import os

from engine.linux_user.signals import Interrupted

_libc = ctypes.CDLL(None, use_errno=True)
_libc.read.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
_libc.read.restype = ctypes.c_ssize_t
_libc.write.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
_libc.write.restype = ctypes.c_ssize_t
_libc.wait4.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.c_int, ctypes.c_void_p]
_libc.ppoll.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_void_p]
_libc.clock_nanosleep.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]


def _check(result: int) -> int:
    if result < 0:
        err = ctypes.get_errno()
        if err == errno.EINTR:
            raise Interrupted
        raise OSError(err, os.strerror(err))
    return result


def read(fd: int, count: int) -> bytes:
    buf = ctypes.create_string_buffer(count)
    n = _check(_libc.read(fd, buf, count))
    return buf.raw[:n]


def write(fd: int, data: bytes) -> int:
    return _check(_libc.write(fd, data, len(data)))


def wait4(pid: int, options: int) -> tuple[int, int]:
    status = ctypes.c_int(0)
    got = _check(_libc.wait4(pid, ctypes.byref(status), options, None))
    return got, status.value


def ppoll(fds: bytes, nfds: int, timeout: bytes | None) -> tuple[int, bytes]:
    """fds: packed struct pollfd array; timeout: packed timespec or None. Returns (n, fds)."""
    buf = ctypes.create_string_buffer(fds, len(fds) or 1)
    tmo = ctypes.create_string_buffer(timeout, 16) if timeout is not None else None
    n = _check(_libc.ppoll(buf, nfds, tmo, None))
    return n, buf.raw[: len(fds)]


def clock_nanosleep(clock: int, flags: int, request: bytes) -> None:
    # Unlike most libc calls, clock_nanosleep returns the error number itself.
    err = _libc.clock_nanosleep(clock, flags, ctypes.create_string_buffer(request, 16), None)
    if err == errno.EINTR:
        raise Interrupted
    if err:
        raise OSError(err, os.strerror(err))


def pause() -> None:
    _libc.pause()
    raise Interrupted
