"""Which processes let wasmtime compile on its thread pool, and why user mode must not.

`wasmemu user` emulates a guest fork() with a host fork(). wasmtime's compile
pool is threads, and threads do not survive fork(): a child whose engine
compiled on the pool waits forever for its first module. The virt board never
forks, so it takes the pool (a batch of TBs compiles in a little over half the
time on two cores).
"""

from __future__ import annotations

import os
import signal
import time

import wasmtime

from engine.linux_user.execution import ExecutionOptions, create_process_image
from engine.machine.console import PipeConsole
from engine.machine.virt import MachineConfig, VirtMachine
from engine.target.riscv.cpu import TierConfig

# Many functions, so that a pool would have work to hand out.
MODULE = wasmtime.wat2wasm(
    "(module "
    + "".join(
        f'(func (export "f{k}") (param i64) (result i64) local.get 0 i64.const {k} i64.mul)'
        for k in range(64)
    )
    + ")"
)


def compiles_in_a_forked_child(host, timeout: float = 60.0) -> bool:
    """Whether a fork of this process can still compile and instantiate a module."""
    host.instantiate(MODULE, [])  # the parent compiles first, as a guest does before fork()
    pid = os.fork()
    if pid == 0:
        try:
            host.instantiate(MODULE, [])
        finally:
            os._exit(0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) == 0
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return False


def test_user_mode_compiles_on_its_own_thread_and_survives_fork() -> None:
    _space, cpu = create_process_image(64 << 20, ExecutionOptions(TierConfig(tier="wasm")))
    host = cpu.jit.host
    assert host.compile_threads is False
    assert compiles_in_a_forked_child(host)


def test_the_virt_board_compiles_on_the_pool() -> None:
    config = MachineConfig(ram_size=16 << 20, bios=b"\x73\x00\x00\x00",
                           tier=TierConfig(tier="wasm"))  # fmt: skip
    machine = VirtMachine(config, PipeConsole())
    assert machine.host.compile_threads is True
