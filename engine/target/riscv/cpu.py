"""A RISC-V hart: its state, its translation cache, and the loops that run TBs.

`run()` executes translated blocks until one reports a synchronous exception
(ecall included); the caller (user-mode runner or system board) handles it
and calls `run()` again.

Tiers: `interp` runs every TB as a Python function. `wasm` compiles every TB
before it first runs. `auto` runs a TB on the interpreter until it has been
executed `threshold` times, then queues it; queued TBs are compiled together
in one module once `batch` of them wait, or once the interpreter has run
`patience` more TBs, so a lone hot loop does not wait for company forever.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from time import perf_counter
from typing import Any

from engine.backend.interp import InterpBackend
from engine.backend.wasm.jit import EXIT_BUDGET
from engine.ir.core import Block, Exit, Opc
from engine.ir.optimize import optimize
from engine.ir.serialize import SerializeError, load_block
from engine.target.riscv import state as st
from engine.target.riscv.exceptions import GuestException
from engine.target.riscv.translate import RiscvTranslator
from engine.tcache import BlockKey

TIERS = ("interp", "wasm", "auto")
# Runs of a TB evaluated from its IR before it gets an interpreter function. Of
# the blocks a Debian boot translates, 29% run once and 8% twice; a function
# costs about as much to make as ten evaluations (docs/performance.md).
EVALUATED_RUNS = 2
# Evaluations a block may have in all once it waits in the compile queue. A
# queued block that uses them up is hot: instead of getting an interpreter
# function that would serve only until its batch fills, it releases the batch
# at once if the batch is big enough (CompileQueue.ran, TierConfig.hot_batch).
EVALUATED_WHILE_QUEUED = 10
# A booted machine compiles every block that runs twice (`wasmemu run`; user mode
# keeps TierConfig's 50). What a boot compiles, the next boot loads already
# compiled from the translation cache, so an early compile pays back in every
# later boot; and the first boot itself was not slower, since blocks that run
# a few times then never get an interpreter function (docs/performance.md).
BOOT_THRESHOLD = 2
DISPATCH_BUDGET = 1 << 20
# Reported in exc_cause when run() stopped because the host asked (not a guest trap).
HOST_INTERRUPT = 1 << 16


@dataclass(frozen=True)
class TierConfig:
    tier: str = "interp"
    threshold: int = 50
    batch: int = 64
    patience: int = 20_000
    # A queue of at least this many blocks is released early when one of them is hot
    # (CompileQueue.ran). Smaller batches would make more modules, and V8 in Node 20
    # pays for every module it loads: 875 of them took 8.7 s to load in a warm boot,
    # 1,451 took 16.3 s (docs/performance.md).
    hot_batch: int = 16
    # In the wasm tier, how many statically reachable TBs to compile along with a missing one.
    region: int = 16


class CompileQueue:
    """Tier auto's policy: count each TB's runs on the interpreter, queue it when it
    becomes hot, and release the queue as one batch when it is full, has waited
    `patience` interpreted TBs, or holds `hot_batch` blocks and one whose next run
    would make it an interpreter function (so a hot loop is not kept waiting on
    the interpreter)."""

    def __init__(self, config: TierConfig) -> None:
        self.config = config
        self.queue: list[TB] = []
        self.since_queued = 0

    def ran(self, tb: TB) -> list[TB] | None:
        """Note one interpreted run of tb; returns a batch to compile now, if one is due."""
        config = self.config
        tb.count += 1
        if tb.count == max(config.threshold, 1):
            self.queue.append(tb)
            tb.evaluations = EVALUATED_WHILE_QUEUED  # unless it has its function already
        if not self.queue:
            return None
        self.since_queued += 1
        queued = len(self.queue)
        due = (
            queued >= config.batch
            or self.since_queued >= config.patience
            # or a queued block is hot: its next run would make it a function
            or (
                queued >= config.hot_batch
                and tb.count >= config.threshold
                and tb.out_of_evaluations
            )
        )
        if not due:
            return None
        batch, self.queue, self.since_queued = self.queue, [], 0
        return batch

    def clear(self) -> None:
        self.queue.clear()
        self.since_queued = 0


class Stats:
    """Counters for benchmarks and `--stats`: work done, and every return to the host.

    An exit is a return from the Wasm dispatcher to Python (a lookup miss, the
    budget, a host request, a trap) or a trap that ends the hart's run loop
    from interpreted code; `exit_causes` splits them by reason. `host_calls`
    counts the calls generated code makes into Python helpers, which return
    to Wasm afterwards.
    """

    __slots__ = (
        "compile_seconds", "exit_causes", "exits", "host_calls", "insns_translated",
        "modules_compiled_before", "tbs_compiled", "tbs_compiled_before", "tbs_translated",
        "translate_seconds", "wasm_seconds",
    )  # fmt: skip

    def __init__(self) -> None:
        self.tbs_translated = 0  # from guest code or from the persistent cache
        self.insns_translated = 0  # guest instructions decoded: cache hits are not counted
        self.tbs_compiled = 0
        # Blocks that came already compiled from an earlier run, and the modules loaded for them.
        self.tbs_compiled_before = 0
        self.modules_compiled_before = 0
        self.exits = 0
        # Why generated code returned to Python (see exit_cause), and how often it
        # called into Python for each helper: the two ways Wasm leaves for the host.
        self.exit_causes: Counter[str] = Counter()
        self.host_calls: Counter[str] = Counter()
        # Decode, IR, optimization, and making interpreter functions (on a block's
        # third run, see TB.fn).
        self.translate_seconds = 0.0
        self.compile_seconds = 0.0  # Wasm codegen, compilation, instantiation
        # In the dispatcher and the blocks it runs, helper calls from them included:
        # the rest of a run's time is the host's (interpreted blocks, exits, devices).
        self.wasm_seconds = 0.0

    def exit(self, cause: str) -> None:
        self.exits += 1
        self.exit_causes[cause] += 1

    def run_wasm(self, jit: Any, budget: int) -> int:
        """jit.run(budget), its time counted in wasm_seconds (a trap raised from it too)."""
        start = perf_counter()
        try:
            return jit.run(budget)
        finally:
            self.wasm_seconds += perf_counter() - start

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in self.__slots__}
        out["exit_causes"] = dict(self.exit_causes.most_common())
        out["host_calls"] = dict(self.host_calls.most_common())
        return out


def optimize_for_wasm(blocks: list[Block], stats: Stats) -> None:
    """Optimize the IR of blocks about to be compiled to Wasm, as part of translation.

    Under tiers auto and wasm the interpreter runs blocks as translated: most
    never get hot, and for them the optimizer (about a third of a block's
    translation time) costs more than it saves their few interpreted runs.
    """
    start = perf_counter()
    for block in blocks:
        optimize(block)
    stats.translate_seconds += perf_counter() - start


class TB:
    """A translated block: its interpreter function, how often it ran, its IR until compiled.

    Its first EVALUATED_RUNS runs evaluate the IR (engine.backend.evaluate);
    the interpreter function is made for the run after, so the many blocks
    that run only once or twice never pay for one, and TBs that the Wasm tier
    compiles before they ever run never need one. A block queued for
    compilation before it has a function is evaluated up to
    EVALUATED_WHILE_QUEUED times, and then releases its batch if that is big
    enough (CompileQueue). A block from the persistent translation cache keeps
    its IR serialized until something asks for it: most of them never get hot
    enough to be compiled, and a warm boot would otherwise spend seconds
    rebuilding IR that nothing reads.
    """

    __slots__ = (
        "_block", "_fn", "_ir", "backend", "count", "evaluated", "evaluations", "key", "origin",
        "pc", "second_page", "slot",
    )  # fmt: skip

    def __init__(
        self, pc: int, block: Block | None, backend: InterpBackend, ir: bytes | None = None
    ) -> None:
        self.pc = pc
        self._block: Block | None = block
        self._ir = ir  # the block serialized (engine.ir.serialize), until first needed
        self.backend = backend
        self._fn: Callable[[], int] | None = None
        self.count = 0
        self.evaluated = 0  # runs on the IR evaluator
        self.evaluations = EVALUATED_RUNS  # how many before it gets a function
        self.slot: int | None = None  # its function's index in the Wasm table, once compiled
        # What it was made from, when a persistent cache keeps it.
        self.key: BlockKey | None = None
        # Where it was translated from (system mode: physical page and flags), for
        # direct calls between TBs of a batch (engine.target.riscv.tb_links).
        self.origin: tuple[int, int] | None = None
        # System mode: the physical page the second half of a block's only
        # instruction comes from, when that instruction straddles two pages.
        self.second_page: int | None = None

    @property
    def block(self) -> Block | None:
        """The IR, or None once it is no longer needed (compiled) or cannot be read."""
        if self._ir is not None:
            ir, self._ir = self._ir, None
            try:
                self._block = load_block(ir)
            except SerializeError:
                self._block = None  # it stays on the interpreter, which has its code
        return self._block

    @block.setter
    def block(self, value: Block | None) -> None:
        self._block, self._ir = value, None

    @property
    def out_of_evaluations(self) -> bool:
        """Whether its next interpreted run would make it an interpreter function."""
        return self._fn is None and self.evaluated >= self.evaluations

    @property
    def fn(self) -> Callable[[], int]:
        """What runs the block once (on the interpreter tier) and returns its Exit code."""
        fn = self._fn
        if fn is None:
            block = self.block
            if self.evaluated < self.evaluations and block is not None:
                self.evaluated += 1
                return partial(self.backend.evaluate, block)
            fn = self._fn = self.backend.function(self, block)
        return fn


class RiscvCpu:
    def __init__(
        self,
        memory: Any,
        state: memoryview | None = None,
        optimize_ir: bool = True,
        config: TierConfig | None = None,
        jit: Any = None,
    ) -> None:
        self.memory = memory
        if state is None:
            state = memoryview(bytearray(st.STATE_BYTES)).cast("Q")
        self.state = state
        self.state[st.RES_ADDR] = st.NO_RESERVATION
        self.translator = RiscvTranslator(memory.fetch16)
        self.backend = InterpBackend(self, self.state, memory, st.PC)
        self.backend.on_code = self._function_made
        self.optimize_ir = optimize_ir
        self.config = config or TierConfig()
        self.jit = jit
        if self.config.tier != "interp" and jit is None:
            raise ValueError(f"tier {self.config.tier} needs a Wasm JIT")
        self.tbs: dict[int, TB] = {}
        self.compiled: dict[int, int] = {}  # pc -> table slot
        self.queue = CompileQueue(self.config)
        self.stats = Stats()
        if jit is not None:
            self.stats.host_calls = jit.host_calls
        # Set from host signal handlers: stop at the next block boundary.
        self.exit_request = False

    # -- registers, for loaders and system calls ------------------------------------
    @property
    def pc(self) -> int:
        return self.state[st.PC]

    @pc.setter
    def pc(self, value: int) -> None:
        self.state[st.PC] = value & 0xFFFF_FFFF_FFFF_FFFF

    def x(self, r: int) -> int:
        return self.state[r]

    def set_x(self, r: int, value: int) -> None:
        if r:
            self.state[r] = value & 0xFFFF_FFFF_FFFF_FFFF

    # -- translation cache -------------------------------------------------------------
    def request_tb_flush(self) -> None:
        # Safe while a TB runs: its function stays alive until it returns.
        self.tbs.clear()
        self.compiled.clear()
        self.queue.clear()
        if self.jit is not None:
            self.jit.clear_lookup()

    def translate_block(self, pc: int) -> Block:
        """The IR of the block at pc as translated, before optimization (`-d op` shows it)."""
        return self.translator.translate(pc)

    def _function_made(self, tb: TB, _code: object, seconds: float) -> None:
        self.stats.translate_seconds += seconds
        if self.jit is None:
            tb.block = None  # nothing will compile it

    def _translate(self, pc: int) -> TB:
        start = perf_counter()
        try:
            block = self.translate_block(pc)
        except GuestException as e:
            e.pc = pc  # the fetch of the TB's first instruction faulted
            raise
        if self.optimize_ir and self.config.tier == "interp":
            optimize(block)  # the interpreter is its last tier: see optimize_for_wasm
        tb = TB(pc, block, self.backend)
        self.stats.translate_seconds += perf_counter() - start
        self.tbs[pc] = tb
        self.stats.tbs_translated += 1
        self.stats.insns_translated += block.n_insns
        return tb

    def _compile(self, tbs: list[TB]) -> None:
        blocks = [tb.block for tb in tbs]
        if self.optimize_ir:
            optimize_for_wasm(blocks, self.stats)
        start = perf_counter()
        slots = self.jit.compile(blocks)
        self.stats.compile_seconds += perf_counter() - start
        for tb, slot in zip(tbs, slots, strict=True):
            self.compiled[tb.pc] = slot
            self.jit.set_lookup(tb.pc, slot)
            tb.block = None
        self.stats.tbs_compiled += len(tbs)

    def _region(self, tb: TB) -> list[TB]:
        """tb plus up to config.region untranslated TBs reachable by constant jumps."""
        region, frontier, seen = [tb], [tb], {tb.pc}
        while frontier and len(region) < self.config.region:
            block = frontier.pop(0).block
            for op in block.ops if block else ():
                if op.opc != Opc.GOTO_TB:
                    continue
                target = op.args[0]
                if target in seen or target in self.compiled or len(region) >= self.config.region:
                    continue
                seen.add(target)
                other = self.tbs.get(target)
                if other is None:
                    try:
                        other = self._translate(target)
                    except GuestException:
                        continue  # not code (yet): leave it for when it runs
                if other.block is not None:
                    region.append(other)
                    frontier.append(other)
        return region

    # -- execution -----------------------------------------------------------------------
    def _record_trap(self, exc: GuestException) -> None:
        state = self.state
        if exc.pc is not None:
            state[st.PC] = exc.pc
        state[st.EXC_CAUSE] = exc.cause
        state[st.EXC_TVAL] = exc.tval & 0xFFFF_FFFF_FFFF_FFFF

    def run(self) -> None:
        """Run until a synchronous exception; its cause and tval are in the state."""
        try:
            if self.jit is None:
                self._run_interp()
            else:
                self._run_tiered()
        except GuestException as exc:
            self._record_trap(exc)

    def _host_interrupt(self) -> bool:
        if not self.exit_request:
            return False
        self.exit_request = False
        self.state[st.EXC_CAUSE] = HOST_INTERRUPT
        return True

    def _run_interp(self) -> None:
        state = self.state
        get = self.tbs.get
        translate = self._translate
        while True:
            pc = state[st.PC]
            tb = get(pc) or translate(pc)
            if tb.fn():
                self.stats.exit("exception (interpreted)")
                return
            if self.exit_request and self._host_interrupt():
                self.stats.exit("signal")
                return

    def _run_tiered(self) -> None:
        jit, stats = self.jit, self.stats
        while True:
            try:
                code = stats.run_wasm(jit, DISPATCH_BUDGET)
            except GuestException:
                stats.exit("trap in a helper")
                raise
            if code == Exit.EXCEPTION:
                stats.exit("exception")
                return
            if self._host_interrupt():
                stats.exit("signal")
                return
            if code == EXIT_BUDGET:
                stats.exit("budget")
                continue
            stats.exit("lookup miss")
            if self._interpret_until_compiled():
                stats.exit("exception (interpreted)")
                return

    def _interpret_until_compiled(self) -> bool:
        """Run TBs on the interpreter until the next one is compiled; True on an exception."""
        state, compiled = self.state, self.compiled
        eager = self.config.tier == "wasm"
        while True:
            pc = state[st.PC]
            slot = compiled.get(pc)
            if slot is not None:
                self.jit.set_lookup(pc, slot)
                return False
            tb = self.tbs.get(pc) or self._translate(pc)
            if eager:
                self._compile(self._region(tb))
                continue
            batch = self.queue.ran(tb)
            if batch:
                self._compile(batch)
                if tb.pc in compiled:
                    continue
            if tb.fn() or self._host_interrupt():
                return True
