"""The persistent translation cache: blocks translated by an earlier run, reused.

Translating a block (decode, IR, optimization, the interpreter's Python
compile) costs about half a millisecond; loading the same block from here
about 30 µs. A record holds the optimized IR (engine.ir.serialize) and the
interpreter's code object (marshal), under the block's virtual pc, its
translation flags, and the length and BLAKE2b digest of the guest bytes it
was made from. A lookup hashes the current guest bytes, so a block is only
reused for exactly the code it was made from: a different kernel, a patched
page or another program at the same address simply misses.

The folder is one namespace per engine build (a digest of the engine's own
source files and the Python version, as code objects are version-specific).
A new engine build removes older builds' namespaces when it first writes.
Each run adds at most one segment file, written to a temporary name and
renamed, so concurrent runs never see half a file; segments are merged when
there are many. A segment that fails its checksum is ignored (and removed),
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
from collections.abc import Callable
from pathlib import Path
from types import CodeType

log = logging.getLogger(__name__)

FORMAT = 1
MAGIC = b"WASMEMU-TCACHE\0"
MERGE_AT = 8  # segments; more than this and the next run merges them into one
MAX_SEGMENT_BYTES = 1 << 30  # a file larger than this is not ours to load


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


Record = tuple[int, int, int, bytes, bytes, bytes | None]  # vpc, flags, size, digest, ir, code


class TranslationCache:
    def __init__(self, folder: Path | str, namespace: str = "system") -> None:
        # CPython and Pyodide share the folder; each Python keeps its own builds.
        tag = sys.implementation.cache_tag
        self.folder = Path(folder) / f"{namespace}-{tag}-{engine_digest()}"
        self.index: dict[tuple[int, int], list[Record]] = {}
        self.new: list[Record] = []
        self.hits = self.misses = self.rejected = self.stored = 0
        self.segments = 0
        self._load()

    # -- lookups -------------------------------------------------------------------------
    def lookup(
        self, vpc: int, flags: int, code_at: Callable[[int], bytes | None]
    ) -> tuple[bytes, CodeType | None] | None:
        """(serialized IR, interpreter code) of the block at vpc if its bytes are unchanged.

        `code_at(size)` returns the guest bytes [vpc, vpc + size) as they are now
        (None if they cannot be read without side effects).
        """
        for _vpc, _flags, size, digest, ir, code in self.index.get((vpc, flags), ()):
            current = code_at(size)
            if current is not None and code_digest(current) == digest:
                self.hits += 1
                try:
                    return ir, (marshal.loads(code) if code is not None else None)
                except (ValueError, EOFError, TypeError):
                    self.rejected += 1
                    return ir, None
        self.misses += 1
        return None

    def store(self, vpc: int, flags: int, code: bytes, ir: bytes,
              interp_code: CodeType | None) -> None:  # fmt: skip
        record = (vpc, flags, len(code), code_digest(code), ir,
                  marshal.dumps(interp_code) if interp_code is not None else None)  # fmt: skip
        self.new.append(record)
        self.stored += 1
        self.index.setdefault((vpc, flags), []).append(record)

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
            for record in records:
                self.index.setdefault((record[0], record[1]), []).append(record)

    def close(self) -> None:
        """Write what this run translated (and merge segments if there are many)."""
        if not self.new:
            return
        try:
            if not self.folder.exists():
                self._drop_older_builds()
            self.folder.mkdir(parents=True, exist_ok=True)
            paths = self._segment_paths()
            if len(paths) >= MERGE_AT:
                unique = {r[:4]: r for rs in self.index.values() for r in rs}
                records = list(unique.values())
                _write_segment(self.folder, records)
                for path in paths:
                    _unlink(path)
            else:
                _write_segment(self.folder, self.new)
        except OSError as exc:
            log.warning("translation cache: cannot write to %s: %s", self.folder, exc)
        self.new = []

    def _drop_older_builds(self) -> None:
        """A new engine build starts its namespace: the previous builds' are dead weight."""
        prefix = self.folder.name.rsplit("-", 1)[0] + "-"
        for sibling in self.folder.parent.glob(prefix + "*"):
            if sibling != self.folder and sibling.is_dir():
                shutil.rmtree(sibling, ignore_errors=True)

    def describe(self) -> dict[str, int]:
        return {"tcache_hits": self.hits, "tcache_misses": self.misses,
                "tcache_segments": self.segments, "tcache_stored": self.stored}  # fmt: skip


def _read_segment(path: Path) -> list[Record] | None:
    try:
        if path.stat().st_size > MAX_SEGMENT_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return []  # removed by a concurrent merge: nothing to load, nothing wrong
    head = len(MAGIC) + 32
    if len(data) < head or not data.startswith(MAGIC):
        return None
    body = memoryview(data)[head:]
    if hashlib.sha256(body).digest() != data[len(MAGIC) : head]:
        return None
    try:
        fmt, records = marshal.loads(body)
    except (ValueError, EOFError, TypeError):
        return None
    if fmt != FORMAT or not isinstance(records, list):
        return None
    return [r for r in records if isinstance(r, tuple) and len(r) == 6]


def _write_segment(folder: Path, records: list[Record]) -> None:
    body = marshal.dumps((FORMAT, records))
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + hashlib.sha256(body).digest() + body)
        os.replace(tmp, folder / f"{os.getpid()}-{os.urandom(6).hex()}.seg")
    except BaseException:
        _unlink(Path(tmp))
        raise


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
