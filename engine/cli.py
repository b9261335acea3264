"""The `wasmemu` command line.

`wasmemu user [options] PROGRAM [ARGS...]` runs a static riscv64 Linux
program, with qemu-riscv64's option spelling where an option exists there.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from engine.host.choice import resolve_wasm_mode
from engine.target.riscv.cpu import BOOT_THRESHOLD, TierConfig

USER_USAGE = """\
usage: wasmemu user [options] PROGRAM [ARGS...]

Run a static riscv64 Linux executable (like qemu-riscv64).

options:
  --tier TIER         interp: Python interpreter only; wasm: compile every block
                      to WebAssembly before it runs; auto (default): interpreter
                      first, blocks run more than --tb-threshold times compiled
  --wasm MODE         wasm64 (memory64) or wasm32 (32-bit memory, for engines
                      without memory64; guest space below 4 GiB); auto (default)
                      picks the host's best: wasm64 natively, wasm32 under Pyodide
  --tb-threshold N    executions before a block is compiled in tier auto (default 50)
  -d ITEMS            debug output, comma separated: unimp (report unsupported
                      system calls once), op (print the IR of each new TB)
  -R SIZE             guest address space size, e.g. 1G (default), 256M, 4G
  -0 ARGV0            argv[0] for the program (default: PROGRAM)
  -E VAR=VALUE        set an environment variable for the program
  -U VAR              remove an environment variable for the program
  --stats FILE        write execution counters (instructions, translations,
                      host exits, time spent translating) to FILE as JSON
  -h, --help          show this help
"""

TIERS = ("interp", "wasm", "auto")
WASM_MODES = ("auto", "wasm64", "wasm32")


class UsageError(Exception):
    pass


@dataclass
class TierChoice:
    """--tier, --wasm and --tb-threshold, shared by `user` and `run`."""

    tier: str = "auto"
    wasm: str = "auto"
    threshold: int = TierConfig.threshold

    def parse(self, opt: str, value: Callable[[], str]) -> bool:
        """Take `opt` (calling value() for its argument) if it is one of ours."""
        if opt == "--tier":
            self.tier = value()
            if self.tier not in TIERS:
                raise UsageError(f"unknown tier '{self.tier}'; choose one of: {', '.join(TIERS)}")
        elif opt == "--wasm":
            self.wasm = value()
            if self.wasm not in WASM_MODES:
                raise UsageError(f"unknown Wasm mode '{self.wasm}'; choose auto, wasm64 or wasm32")
        elif opt == "--tb-threshold":
            text = value()
            if not text.isdigit():
                raise UsageError(f"--tb-threshold needs a whole number, not '{text}'")
            self.threshold = int(text)
        else:
            return False
        return True


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    t = text.strip().upper().removesuffix("B")
    mult = 1
    if t and t[-1] in units:
        mult, t = units[t[-1]], t[:-1]
    try:
        value = int(t, 0) * mult
    except ValueError:
        raise UsageError(
            f"'{text}' is not a size; use a number with K, M or G, e.g. 512M"
        ) from None
    if value <= 0:
        raise UsageError(f"size '{text}' must be positive")
    return value


def _user(argv: Sequence[str]) -> int:
    from engine.linux_user.elf import ElfError
    from engine.linux_user.execution import ExecutionOptions
    from engine.linux_user.process import Options, Process

    options = Options()
    tiers = TierChoice()
    env = dict(os.environb) if hasattr(os, "environb") else {}
    argv0: str | None = None
    debug_ops = False
    stats_file: str | None = None
    args = list(argv)
    i = 0

    def value() -> str:
        nonlocal i
        if i + 1 >= len(args):
            raise UsageError(f"option {args[i]} needs a value")
        i += 1
        return args[i]

    while i < len(args) and args[i].startswith("-"):
        opt = args[i]
        if opt in ("-h", "--help"):
            sys.stdout.write(USER_USAGE)
            return 0
        if opt == "--":
            i += 1
            break
        if tiers.parse(opt, value):
            pass
        elif opt == "-d":
            for item in value().split(","):
                if item == "unimp":
                    options.log_unimplemented = True
                elif item == "op":
                    debug_ops = True
                else:
                    raise UsageError(f"unknown -d item '{item}'; known: unimp, op")
        elif opt == "-R":
            options.address_space = parse_size(value())
        elif opt == "-0":
            argv0 = value()
        elif opt == "--stats":
            stats_file = value()
        elif opt == "-E":
            k, sep, v = value().partition("=")
            if not sep:
                raise UsageError("-E needs VAR=VALUE")
            env[os.fsencode(k)] = os.fsencode(v)
        elif opt == "-U":
            env.pop(os.fsencode(value()), None)
        else:
            raise UsageError(f"unknown option '{opt}' (see wasmemu user --help)")
        i += 1
    if i >= len(args):
        raise UsageError("no program given (see wasmemu user --help)")
    options.execution = ExecutionOptions(
        TierConfig(tier=tiers.tier, threshold=tiers.threshold), resolve_wasm_mode(tiers.wasm)
    )
    program = args[i]
    guest_argv = [os.fsencode(argv0 or program)] + [os.fsencode(a) for a in args[i + 1 :]]
    envp = [k + b"=" + v for k, v in env.items()]

    if not os.path.exists(program):
        print(f"wasmemu: {program}: no such file", file=sys.stderr)
        return 127
    # Until the guest says otherwise, signals take their default action on the
    # emulator as they would on the native program (Ctrl-C ends it, a write to a
    # closed pipe kills it with SIGPIPE).
    for name in ("SIGPIPE", "SIGINT"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    try:
        process = Process(program, guest_argv, envp, options)
    except ElfError as e:
        print(f"wasmemu: {e}", file=sys.stderr)
        return 126
    except (OSError, ValueError) as e:
        print(f"wasmemu: cannot load {program}: {e}", file=sys.stderr)
        return 126
    if debug_ops:
        _trace_translations(process)
    start = time.perf_counter()
    status = process.run()
    if stats_file:
        import json

        counters = process.stats()
        counters["seconds"] = time.perf_counter() - start
        with open(stats_file, "w") as f:
            json.dump(counters, f, indent=1)
    return status


def _trace_translations(process: object) -> None:
    cpu = process.cpu  # type: ignore[attr-defined]
    original = cpu.translate_block

    def traced(pc: int):
        block = original(pc)
        sys.stderr.write(block.dump() + "\n\n")
        return block

    cpu.translate_block = traced


RUN_USAGE = f"""\
usage: wasmemu run [options]

Boot a RISC-V machine (like qemu-system-riscv64 -M virt -nographic). With no
-bios/-kernel, boots the default Debian guest image (built on first use).

options:
  -M virt            the machine (virt is the only one)
  -m SIZE            RAM size, e.g. 512M (default), 1G
  -bios FILE         firmware loaded at the start of RAM (OpenSBI fw_dynamic/fw_jump)
  -kernel FILE       a RISC-V Linux kernel Image
  -initrd FILE       an initial RAM disk
  -append STRING     the kernel command line
  -drive if=virtio,format=raw,file=FILE[,readonly=on][,snapshot=on]
                     a virtio disk (the first is /dev/vda); several may be given;
                     also -drive if=none,id=ID,... with -device virtio-blk-device,drive=ID
  -snapshot          snapshot=on for every drive: the image files stay unchanged
  -virtfs local,path=DIR,mount_tag=TAG,security_model=none[,readonly=on]
                     share DIR with the guest (mount -t 9p -o trans=virtio TAG /mnt)
  -device virtio-rng-device
                     place the entropy device (one is added by default)
  -nographic         accepted: the serial console is always stdin/stdout
  -smp 1             accepted: one hart
  --stats FILE       write execution counters to FILE as JSON at power-off
  --bundle DIR       boot the guest of a web bundle (a release's bundle/ folder; in an
                     unpacked release, its own is the default)
  --tcache DIR|off   keep translated blocks in DIR for the next boot (default: the
                     wasmemu cache folder's tcache/; safe to delete), or not at all
  --tier TIER        auto (default), wasm or interp, as for wasmemu user
  --wasm MODE        auto (default), wasm64 or wasm32, as for wasmemu user
  --tb-threshold N   executions before a block is compiled (default {BOOT_THRESHOLD})
  -h, --help         show this help

On a terminal: Ctrl-A X quits, Ctrl-A H lists the keys.
"""


def _run(
    argv: Sequence[str], console: Any = None, tcache_saved: Callable[[], None] | None = None
) -> int:
    """`console`: the machine's console (default: the terminal or pipes of this process);
    `tcache_saved`: called after each save of the translation cache."""
    from engine.machine.boot import BootError
    from engine.machine.device_options import DeviceOptionError, DeviceRequests
    from engine.machine.virt import MachineConfig, VirtMachine
    from engine.target.riscv.state import INSTRET

    args = list(argv)
    files: dict[str, str] = {}
    config = MachineConfig()
    tiers = TierChoice(threshold=BOOT_THRESHOLD)
    devices = DeviceRequests()
    stats_file: str | None = None
    tcache: str | None = ""  # "": the default folder
    bundle: str | None = None
    i = 0

    def value() -> str:
        nonlocal i
        if i + 1 >= len(args):
            raise UsageError(f"option {args[i]} needs a value")
        i += 1
        return args[i]

    while i < len(args):
        opt = args[i]
        if opt in ("-h", "--help"):
            sys.stdout.write(RUN_USAGE)
            return 0
        if opt == "-M":
            machine = value().split(",")[0]
            if machine != "virt":
                raise UsageError(f"unknown machine '{machine}'; wasmemu emulates -M virt")
        elif opt == "-m":
            config.ram_size = parse_size(value().removeprefix("size="))
            if config.ram_size < 64 << 20 or config.ram_size > 2 << 30 or config.ram_size % 4096:
                raise UsageError("-m must be between 64M and 2G (a multiple of 4K)")
        elif opt in ("-bios", "-kernel", "-initrd"):
            files[opt[1:]] = value()
        elif opt == "-append":
            config.append = value()
        elif opt == "--stats":
            stats_file = value()
        elif opt == "--bundle":
            bundle = value()
        elif opt in ("-drive", "-virtfs", "-device"):
            try:
                devices.add(opt, value())
            except DeviceOptionError as e:
                raise UsageError(str(e)) from None
        elif opt == "-snapshot":
            devices.snapshot_all = True
        elif opt == "--tcache":
            text = value()
            tcache = None if text == "off" else text
        elif opt in ("-nographic",):
            pass
        elif opt == "-smp":
            if value().split(",")[0] != "1":
                raise UsageError("-smp: wasmemu emulates one hart")
        elif tiers.parse(opt, value):
            pass
        else:
            raise UsageError(f"unknown option '{opt}' (see wasmemu run --help)")
        i += 1
    config.tier = TierConfig(tier=tiers.tier, threshold=tiers.threshold)
    config.wasm = resolve_wasm_mode(tiers.wasm)
    if tcache == "":
        from wasmemu_images.cache import cache_root

        tcache = str(cache_root() / "tcache")
    config.tcache_dir = tcache
    config.tcache_saved = tcache_saved
    try:  # before the image: a typo in a path should not wait for a build
        config.virtio = devices.build()
    except DeviceOptionError as e:
        print(f"wasmemu: {e}", file=sys.stderr)
        return 1
    if bundle is not None and files:
        raise UsageError("--bundle brings its own guest; leave out -bios, -kernel and -initrd")
    guest = _bundled_guest(bundle) if not files else None
    if guest is not None:
        contents, append = guest
        for role, data in contents.items():
            setattr(config, role, data)
        config.append = config.append or append
    elif not files:
        from wasmemu_images.image import ensure_image

        image = ensure_image()
        files = {"bios": str(image.bios), "kernel": str(image.kernel), "initrd": str(image.initrd)}
        config.append = config.append or image.append
    if "bios" not in files and not config.bios:
        raise UsageError("-bios FILE is needed (e.g. OpenSBI's fw_dynamic.bin)")
    for role, path in files.items():
        try:
            with open(path, "rb") as f:
                setattr(config, role, f.read())
        except OSError as e:
            print(f"wasmemu: cannot read the {role} file {path}: {e.strerror}", file=sys.stderr)
            return 1
    try:
        machine_console = contextlib.nullcontext(console) if console is not None else _console()
        with machine_console as console:
            machine = VirtMachine(config, console)
            start = time.perf_counter()
            try:
                status = machine.run()
            finally:
                machine.close()
        if stats_file:
            import json

            counters = machine.cpu.stats.as_dict()
            if machine.tcache is not None:
                counters.update(machine.tcache.describe())
            host = machine.host
            if host is not None and host.module_cache is not None:
                counters["module_cache_hits"] = host.module_cache_hits
                counters["module_cache_misses"] = host.module_cache_misses
            counters["instret"] = machine.state[INSTRET]
            counters["seconds"] = time.perf_counter() - start
            counters["wasm"] = None if host is None else config.wasm
            counters["ram_apart"] = machine.ram_apart
            counters["tier"] = config.tier.tier
            counters["tb_threshold"] = config.tier.threshold
            if machine.cpu.jit is not None:  # kept modules are reused only under the same one
                counters["code_identity"] = machine.cpu.jit.code_identity
            with open(stats_file, "w") as f:
                json.dump(counters, f, indent=1)
        return status
    except BootError as e:
        print(f"wasmemu: {e}", file=sys.stderr)
        return 1


def _bundled_guest(bundle: str | None) -> tuple[dict[str, bytes], str] | None:
    """The guest of ``--bundle DIR``, or of the unpacked release in the current folder.

    A release is checked file by file against its SHA256SUMS first.
    """
    from pathlib import Path

    from wasmemu_images.release import find_release, guest_from_bundle, verify_tree

    if bundle is None:
        release = find_release(Path.cwd())
        if release is None:
            return None
        verify_tree(release)
        print("wasmemu: booting the guest of the release in this folder", file=sys.stderr)
        return guest_from_bundle(release / "bundle")
    folder = Path(bundle)
    release = find_release(folder.parent)
    if release is not None and release / "bundle" == folder:
        verify_tree(release)
    return guest_from_bundle(folder)


def _console() -> Any:
    from engine.machine.console import PipeConsole, TerminalConsole

    if os.isatty(0):
        return TerminalConsole()
    return contextlib.nullcontext(PipeConsole())


COMMANDS = {"user": _user, "run": _run}
MAIN_USAGE = """\
usage: wasmemu COMMAND [options] ...

commands:
  user PROGRAM [ARGS...]   run a static riscv64 Linux program
  run [options]            boot a RISC-V virt machine (default: the Debian guest)
"""


def _quit_request() -> type[Exception]:
    from engine.machine.console import QuitRequested

    return QuitRequested


def _user_errors() -> tuple[type[Exception], ...]:
    """Errors whose message already tells the user what is wrong and what to do."""
    from engine.host.js_host import HostError
    from engine.machine.boot import BootError

    errors: list[type[Exception]] = [BootError, HostError]
    try:
        from wasmemu_images.release import ReleaseError

        errors.append(ReleaseError)
        from wasmemu_images.debian import FetchError
        from wasmemu_images.image import ImageError
        from wasmemu_images.recipe import RecipeError

        errors += [FetchError, ImageError, RecipeError]
    except ImportError:  # the image tools (and PyYAML) are not there under Pyodide
        pass
    return tuple(errors)


# Allocations between two runs of CPython's youngest-generation collector
# (default 700). A boot keeps hundreds of thousands of long-lived objects
# (blocks, their IR, the translation cache) and allocates millions of
# short-lived ones, so at the default the collector runs tens of thousands of
# times and its older-generation passes rescan that heap: about 1.4 s of a
# 15 s warm boot (docs/performance.md). Fewer runs only delay freeing cycles.
GC_YOUNG_THRESHOLD = 50_000


def main(
    argv: Sequence[str] | None = None,
    console: Any = None,
    tcache_saved: Callable[[], None] | None = None,
) -> int:
    """`console` replaces the process's terminal for `run`, and `tcache_saved` is called
    after each save of its translation cache (the JavaScript runners use both)."""
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(MAIN_USAGE)
        return 0 if args else 2
    command = COMMANDS.get(args[0])
    if command is None:
        print(f"wasmemu: unknown command '{args[0]}'\n{MAIN_USAGE}", file=sys.stderr, end="")
        return 2
    try:
        if command is _run:
            return _run(args[1:], console, tcache_saved)
        return command(args[1:])
    except UsageError as e:
        print(f"wasmemu: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except _quit_request():
        return 0
    except _user_errors() as e:
        print(f"wasmemu: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # the last line of defence: a message, never a traceback
        if os.environ.get("WASMEMU_DEBUG"):
            raise
        print(
            f"wasmemu: internal error: {type(e).__name__}: {e}\n"
            "wasmemu: this is a bug in wasmemu; rerun with WASMEMU_DEBUG=1 for details",
            file=sys.stderr,
        )
        return 70
