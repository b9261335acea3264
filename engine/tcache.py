"""The persistent translation cache: blocks translated by an earlier run, reused.

Translating a block (decode, IR, the interpreter's Python source and
compile) costs most of a millisecond; finding the same block here costs a
few microseconds. A record holds the block's IR (engine.ir.serialize; as
translated, or optimized under tier interp) and, once the block has run
often enough to get one, the interpreter's code object (marshal), under the
block's virtual pc, its translation flags, and the length and BLAKE2b digest
of the guest bytes it was made from. A hit binds the code object at once;
the IR stays serialized in the TB until the block gets hot enough to
compile, which most never do. A lookup hashes the current guest bytes, so a
block is only reused for exactly the code it was made from: a different
kernel, a patched page or another program at the same address simply misses.

The IR may be serialized when the cache is written rather than when the
block is stored, and a block kept in a compiled module by then is kept
without it: later runs reach it through its module, and a run that cannot
use the module translates it afresh.

Compiled code is kept too: each Wasm module a run builds from a batch of
blocks, with the keys of the blocks its functions were made from. A later
run that meets one of those blocks (same key, so the same bytes) instantiates
the whole module at once and runs the block in Wasm straight away, without
translating, interpreting or compiling it again, provided every block its
function reaches through direct calls (the module's links) has its bytes
there too: SystemCpu checks that before it reuses a function. Module bytes
do not depend on where their functions land in the table; they do depend on addresses the
machine bakes into generated code, so each module record names the code
identity (`WasmJit.code_identity`) it is valid under.

The folder is one namespace per engine build (a digest of the engine's own
source files and the Python version, as code objects are version-specific).
A new engine build removes older builds' namespaces when it first writes.
Each save adds one segment file, written to a temporary name and renamed, so
concurrent runs never see half a file; segments are merged when there are
many. A board saves when its guest sits idle at a prompt (so a run that is
killed, or a browser tab that is closed, keeps its boot's translations) and
when it stops. A segment that fails its checksum is ignored (and removed),
never trusted. Deleting the folder at any time costs only the next run's speed.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import marshal
import os
import shutil
import sys
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from types import CodeType
from typing import NamedTuple

log = logging.getLogger(__name__)

FORMAT = 4
# A segment's checksum finds damaged files (truncated, bits flipped), not
# tampering: the folder is the user's own. CRC-32 rather than SHA-256, which
# under Pyodide took 0.55 s for a warm boot's 134 MB segment against 0.07 s.
CHECKSUM_BYTES = 4
MAGIC = b"WASMEMU-TCACHE\0"
MERGE_AT = 8  # segments; more than this and the next run merges them into one
MAX_SEGMENT_BYTES = 1 << 30  # a file larger than this is not ours to load
# Blocks whose IR store() may serialize later; past this many it serializes them
# all at once, so that IR objects the hart has let go of do not pile up.
MAX_DEFERRED_IR = 65_536


@functools.cache
def engine_digest() -> str:
    """What a record depends on besides guest bytes: this engine's code and the Python."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256(f"{FORMAT} {sys.implementation.cache_tag}".encode())
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:20]


def code_digest(code: bytes) -> bytes:
    return hashlib.blake2b(code, digest_size=16).digest()


# vpc, flags, size, digest, ir (None: not kept), code (None: not made)
Record = tuple[int, int, int, bytes, bytes | None, bytes | None]
BlockKey = tuple[int, int, int, bytes]  # vpc, flags, size, digest: what a block is made from
# code identity, module bytes, helper names it imports, the key of each function's
# block, and for each function the functions it calls directly (WasmJit.build_module's
# links): a block's function is only right where those blocks' bytes are the same
ModuleRecord = tuple[
    str, bytes, tuple[str, ...], tuple[BlockKey | None, ...], tuple[tuple[int, ...], ...]
]


class Hit(NamedTuple):
    ir: bytes | None  # None: the block was compiled, and only its module was kept
    code: bytes | None  # the interpreter's function body (marshalled), if it was kept
    key: BlockKey


class TranslationCache:
    def __init__(self, folder: Path | str, namespace: str = "system") -> None:
        # CPython and Pyodide share the folder; each Python keeps its own builds.
        tag = sys.implementation.cache_tag
        self.folder = Path(folder) / f"{namespace}-{tag}-{engine_digest()}"
        self.index: dict[tuple[int, int], list[Record]] = {}
        self.new: list[Record] = []
        self._new_position: dict[BlockKey, int] = {}  # where a key's record is in `new`
        self._ir_later: dict[BlockKey, Callable[[], bytes]] = {}  # see store()
        self.modules: list[ModuleRecord] = []
        self.new_modules: list[ModuleRecord] = []
        self.compiled: dict[tuple[str, BlockKey], int] = {}  # -> index into self.modules
        self.hits = self.misses = self.rejected = self.stored = 0
        self.modules_stored = 0
        self.segments = 0
        # Called after a segment is written: the JavaScript runners copy the folder
        # to storage of their own (the browser's lives in memory otherwise).
        self.on_write: Callable[[], None] | None = None
        self._load()

    # -- lookups -------------------------------------------------------------------------
    def lookup(self, vpc: int, flags: int, code_at: Callable[[int], bytes | None]) -> Hit | None:
        """The block at vpc as an earlier run translated it, if its bytes are unchanged.

        `code_at(size)` returns the guest bytes [vpc, vpc + size) as they are now
        (None if they cannot be read without side effects).
        """
        for _vpc, _flags, size, digest, ir, code in self.index.get((vpc, flags), ()):
            current = code_at(size)
            if current is not None and code_digest(current) == digest:
                self.hits += 1
                return Hit(ir, code, (vpc, flags, size, digest))
        self.misses += 1
        return None

    def code_object(self, hit: Hit) -> CodeType | None:
        """The hit's interpreter code, unmarshalled only when asked for: a block that
        an earlier run compiled to Wasm never needs it."""
        if hit.code is None:
            return None
        try:
            return marshal.loads(hit.code)
        except (ValueError, EOFError, TypeError):
            self.rejected += 1
            return None

    def store(self, vpc: int, flags: int, code: bytes, ir: bytes | Callable[[], bytes]) -> BlockKey:
        """Keep a block translated from guest bytes `code`; returns its key. Its
        interpreter code, made on a later run, joins it through add_code.

        `ir` may be a function that serializes the IR later, when the cache is
        written, unless store_module keeps the block compiled first: serializing
        costs about 20 µs a block, and a first boot compiles most of its blocks.
        """
        key = (vpc, flags, len(code), code_digest(code))
        if callable(ir):
            self._ir_later[key] = ir
            ir = None
        else:
            self._ir_later.pop(key, None)
        self._keep_new((*key, ir, None))
        if len(self._ir_later) > MAX_DEFERRED_IR:
            self._make_deferred_ir()
        self.stored += 1
        return key

    def add_code(self, key: BlockKey, interp_code: CodeType) -> None:
        """Give the stored block `key` its interpreter code object, made after it was stored."""
        for old in self.index.get((key[0], key[1]), ()):
            if old[:4] == key:
                if old[5] is None:
                    self._keep_new((*key, old[4], marshal.dumps(interp_code)))
                return

    def _keep_new(self, record: Record) -> None:
        """Index a record this run made and have close() write it, in place of an
        earlier one for the same key."""
        self._index_record(record)
        key: BlockKey = record[:4]  # type: ignore[assignment]
        position = self._new_position.get(key)
        if position is None:
            self._new_position[key] = len(self.new)
            self.new.append(record)
        else:
            self.new[position] = record

    def _make_deferred_ir(self) -> None:
        """Give this run's records the IR that store() was asked to make later."""
        for key, make_ir in self._ir_later.items():
            code = self.new[self._new_position[key]][5]
            self._keep_new((*key, make_ir(), code))
        self._ir_later.clear()

    def _index_record(self, record: Record) -> None:
        """One record per key, with the IR and the code object of whichever records
        have them, whatever order segments load in."""
        records = self.index.setdefault((record[0], record[1]), [])
        for i, old in enumerate(records):
            if old[:4] == record[:4]:
                ir = old[4] if old[4] is not None else record[4]
                code = old[5] if old[5] is not None else record[5]
                if ir is not old[4] or code is not old[5]:
                    records[i] = (*old[:4], ir, code)
                return
        records.append(record)

    # -- compiled modules --------------------------------------------------------------
    def compiled_module(self, identity: str, key: BlockKey) -> ModuleRecord | None:
        """A module an earlier run compiled with the block `key` in it, under `identity`."""
        index = self.compiled.get((identity, key))
        return self.modules[index] if index is not None else None

    def store_module(self, identity: str, wasm: bytes, helpers: tuple[str, ...],
                     keys: tuple[BlockKey | None, ...],
                     links: tuple[tuple[int, ...], ...] | None = None) -> ModuleRecord:  # fmt: skip
        """Keep a compiled batch; `keys[i]` is function i's block (None: not reusable),
        and `links[i]` the functions it calls directly. Those blocks' IR, if store()
        was to serialize it later, is not kept."""
        for key in keys:
            if key is not None:
                self._ir_later.pop(key, None)
        record = (identity, wasm, helpers, keys, links or ((),) * len(keys))
        self.new_modules.append(record)
        self.modules_stored += 1
        self._index_module(record)
        return record

    def _index_module(self, record: ModuleRecord) -> None:
        self.modules.append(record)
        index = len(self.modules) - 1
        identity = record[0]
        for key in record[3]:
            if key is not None:
                self.compiled.setdefault((identity, key), index)

    # -- files ---------------------------------------------------------------------------
    def _segment_paths(self) -> list[Path]:
        try:
            return sorted(self.folder.glob("*.seg"))
        except OSError:
            return []

    def _load(self) -> None:
        for path in self._segment_paths():
            records = _read_segment(path)
            if records is None:
                log.warning("translation cache: ignoring damaged %s", path)
                _unlink(path)
                continue
            self.segments += 1
            blocks, modules = records
            for record in blocks:
                self._index_record(record)
            for module in modules:
                self._index_module(module)

    @property
    def unsaved(self) -> int:
        """How many block records and modules this run made that no segment holds yet."""
        return len(self.new) + len(self.new_modules)

    def close(self) -> None:
        """Write what this run translated (and merge segments if there are many)."""
        self.save()

    def save(self) -> None:
        """Write the records made since the last save as a segment (merging segments if
        there are many); the run goes on, and a later save writes only what follows.
        `on_write` is called after each segment is in place."""
        if not self.unsaved:
            return
        self._make_deferred_ir()
        try:
            if not self.folder.exists():
                self._drop_older_builds()
            self.folder.mkdir(parents=True, exist_ok=True)
            paths = self._segment_paths()
            if len(paths) >= MERGE_AT:
                unique = {r[:4]: r for rs in self.index.values() for r in rs}
                modules = {(m[0], m[1]): m for m in self.modules}
                _write_segment(self.folder, list(unique.values()), list(modules.values()))
                for path in paths:
                    _unlink(path)
            else:
                _write_segment(self.folder, self.new, self.new_modules)
        except OSError as exc:
            log.warning("translation cache: cannot write to %s: %s", self.folder, exc)
        else:
            if self.on_write is not None:
                self.on_write()
        self.new = []
        self._new_position.clear()
        self.new_modules = []

    def _drop_older_builds(self) -> None:
        """A new engine build starts its namespace: the previous builds' are dead weight."""
        prefix = self.folder.name.rsplit("-", 1)[0] + "-"
        for sibling in self.folder.parent.glob(prefix + "*"):
            if sibling != self.folder and sibling.is_dir():
                shutil.rmtree(sibling, ignore_errors=True)

    def describe(self) -> dict[str, int]:
        return {"tcache_hits": self.hits, "tcache_misses": self.misses,
                "tcache_segments": self.segments, "tcache_stored": self.stored,
                "tcache_modules_stored": self.modules_stored}  # fmt: skip


def _read_segment(path: Path) -> tuple[list[Record], list[ModuleRecord]] | None:
    try:
        if path.stat().st_size > MAX_SEGMENT_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return [], []  # removed by a concurrent merge: nothing to load, nothing wrong
    head = len(MAGIC) + CHECKSUM_BYTES
    if len(data) < head or not data.startswith(MAGIC):
        return None
    body = memoryview(data)[head:]
    if _checksum(body) != data[len(MAGIC) : head]:
        return None
    try:
        fmt, records, modules = marshal.loads(body)
    except (ValueError, EOFError, TypeError):
        return None
    if fmt != FORMAT or not isinstance(records, list) or not isinstance(modules, list):
        return None
    return (
        [r for r in records if isinstance(r, tuple) and len(r) == 6],
        [m for m in modules if isinstance(m, tuple) and len(m) == 5],
    )


def _write_segment(folder: Path, records: list[Record], modules: list[ModuleRecord]) -> None:
    body = marshal.dumps((FORMAT, records, modules))
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + _checksum(body) + body)
        os.replace(tmp, folder / f"{os.getpid()}-{os.urandom(6).hex()}.seg")
    except BaseException:
        _unlink(Path(tmp))
        raise


def _checksum(body: bytes | memoryview) -> bytes:
    return zlib.crc32(body).to_bytes(CHECKSUM_BYTES, "little")


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
