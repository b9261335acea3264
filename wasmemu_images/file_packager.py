"""Guest files as Emscripten file packages: one ``.data`` blob plus JSON metadata.

Pyodide is an Emscripten program, so the guest's firmware, kernel, initramfs
and disks must end up in Emscripten's virtual filesystem (``pyodide.FS``).
Emscripten's own ``tools/file_packager.py --separate-metadata
--js-output=pkg.js`` writes ``pkg.data`` (the files' bytes, concatenated) and
``pkg.js.metadata``::

    {"files": [{"filename": "/boot/Image", "start": 0, "end": 31457280}, ...],
     "remote_package_size": 31457280, "package_uuid": "..."}

We write exactly that format ourselves, with the standard library only, so
building images needs no emsdk and the same code runs inside Pyodide. On top
of Emscripten's keys we add a ``sha256`` per file and one for the whole
``.data``; Emscripten's loader reads only ``filename``/``start``/``end``/
``audio``, ``remote_package_size`` and ``package_uuid`` and ignores the rest
(tests/images/test_file_packager.py runs its loader on our packages).
``package_uuid`` is ``sha256-<hex of .data>`` instead of a random UUID: it
only has to change when the content does (Emscripten's IndexedDB cache
compares it), and a random one would make builds irreproducible.

Output is deterministic: files are stored sorted by destination path, and
nothing depends on time, so the same inputs always give the same bytes.

``read_package`` checks everything a damaged or hostile package could get
wrong (bad JSON, truncated ``.data``, overlapping or out-of-range entries,
paths that escape the mount, checksums) and raises ``PackageError`` with a
message that says what to do. ``install_into_fs`` writes the files into any
object with Emscripten's ``mkdirTree``/``writeFile`` (``pyodide.FS`` through
Pyodide's proxies, or a fake in tests); ``packaging/node/file_package.mjs``
is the JavaScript twin the Node and browser runners use.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import os
import posixpath
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "METADATA_SUFFIX",
    "EmscriptenFS",
    "FileEntry",
    "PackageError",
    "PackageMetadata",
    "files_from_directory",
    "install_into_fs",
    "load_metadata",
    "main",
    "metadata_from_loader_js",
    "metadata_path_for",
    "read_package",
    "write_package",
]

# Emscripten names the metadata after the loader: --js-output=pkg.js gives
# pkg.js.metadata. We keep that name so its loader finds ours unchanged.
METADATA_SUFFIX = ".js.metadata"

_CHUNK = 1 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}")
_REBUILD = "rebuild it with `invoke images`"
_DAMAGED = f"the package is damaged — {_REBUILD}"


class PackageError(ValueError):
    """A package that cannot be written or read as asked; the message says why."""


@dataclasses.dataclass(frozen=True)
class FileEntry:
    """One file: its absolute path in the Emscripten FS and its byte range in ``.data``."""

    filename: str
    start: int
    end: int
    sha256: str | None = None

    @property
    def size(self) -> int:
        return self.end - self.start

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"filename": self.filename, "start": self.start, "end": self.end}
        if self.sha256 is not None:
            out["sha256"] = self.sha256
        return out


@dataclasses.dataclass(frozen=True)
class PackageMetadata:
    """The parsed metadata. ``sha256`` is the whole ``.data``'s; None in Emscripten's own."""

    files: tuple[FileEntry, ...]
    remote_package_size: int
    package_uuid: str = ""
    sha256: str | None = None

    def to_json(self) -> str:
        # Compact, fixed key order: what Emscripten writes, and stable bytes.
        doc: dict[str, Any] = {
            "files": [f.to_json() for f in self.files],
            "remote_package_size": self.remote_package_size,
            "package_uuid": self.package_uuid,
        }
        if self.sha256 is not None:
            doc["sha256"] = self.sha256
        return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def from_json(
        cls, text: str | bytes, *, source: str = "metadata", mount: str | None = None
    ) -> PackageMetadata:
        """Parse and validate metadata; ``mount`` also confines every file below it."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PackageError(
                f"{source}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
                f"{_DAMAGED}"
            ) from None
        except UnicodeDecodeError:
            raise PackageError(f"{source}: not UTF-8 text; {_DAMAGED}") from None
        return _metadata_from_doc(doc, source, mount)


class EmscriptenFS(Protocol):
    """The two calls of Emscripten's FS API that ``install_into_fs`` needs."""

    def mkdirTree(self, path: str) -> Any: ...  # Emscripten's names

    def writeFile(self, path: str, data: Any) -> Any: ...


def metadata_path_for(data_path: str | os.PathLike[str]) -> Path:
    """``pkg.data`` -> ``pkg.js.metadata``: the name Emscripten's loader fetches."""
    path = Path(data_path)
    return path.with_name((path.stem if path.suffix == ".data" else path.name) + METADATA_SUFFIX)


def write_package(
    files: Mapping[str, Path | bytes | bytearray | memoryview],
    data_path: str | os.PathLike[str],
    *,
    mount: str = "/",
) -> PackageMetadata:
    """Write ``data_path`` and its metadata (see ``metadata_path_for``); return the metadata.

    Keys are paths relative to ``mount`` (``"boot/Image"``); values are file
    paths, streamed so large disk images never sit in memory whole, or bytes.
    Both files are replaced atomically, the metadata last.
    """
    mount = _check_mount(mount)
    items = sorted(((_destination(mount, k), src) for k, src in files.items()), key=_first)
    _check_tree((dest for dest, _ in items), "write_package")
    data_path = Path(data_path)
    meta_path = metadata_path_for(data_path)
    data_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_data = data_path.with_name(f".{data_path.name}.{os.getpid()}.tmp")
    tmp_meta = meta_path.with_name(f".{meta_path.name}.{os.getpid()}.tmp")
    try:
        whole = hashlib.sha256()
        entries: list[FileEntry] = []
        offset = 0
        with open(tmp_data, "wb") as out:
            for dest, src in items:
                digest = hashlib.sha256()
                start = offset
                for chunk in _chunks(src, dest):
                    digest.update(chunk)
                    whole.update(chunk)
                    out.write(chunk)
                    offset += len(chunk)
                entries.append(FileEntry(dest, start, offset, digest.hexdigest()))
        total = whole.hexdigest()
        meta = PackageMetadata(tuple(entries), offset, f"sha256-{total}", total)
        tmp_meta.write_text(meta.to_json(), encoding="utf-8")
        os.replace(tmp_data, data_path)
        os.replace(tmp_meta, meta_path)
    finally:
        tmp_data.unlink(missing_ok=True)
        tmp_meta.unlink(missing_ok=True)
    return meta


def files_from_directory(root: str | os.PathLike[str]) -> dict[str, Path]:
    """Every regular file below ``root``, keyed by its path relative to ``root``, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise PackageError(f"{root}: not a directory")
    found: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            if name in dirnames and not path.is_symlink():
                continue
            if not path.is_file():
                # Dropping it silently would ship an image that lacks a file.
                raise PackageError(f"{path}: not a regular file; a package holds files only")
            found[path.relative_to(root).as_posix()] = path
    return dict(sorted(found.items()))


def load_metadata(
    metadata_path: str | os.PathLike[str], *, mount: str | None = None
) -> PackageMetadata:
    """Read and validate a ``.js.metadata`` file."""
    try:
        text = Path(metadata_path).read_bytes()
    except OSError as exc:
        raise PackageError(f"{metadata_path}: cannot read ({exc.strerror}); {_REBUILD}") from None
    return PackageMetadata.from_json(text, source=str(metadata_path), mount=mount)


def metadata_from_loader_js(
    js_text: str, *, source: str = "loader", mount: str | None = None
) -> PackageMetadata:
    """The metadata embedded in a loader from ``file_packager`` without ``--separate-metadata``.

    That loader ends with ``loadPackage({...});`` on one line, the JSON from
    Python's ``json.dumps``.
    """
    found = re.findall(r"^\s*loadPackage\((\{.*\})\);\s*$", js_text, re.MULTILINE)
    if len(found) != 1:
        raise PackageError(
            f"{source}: no embedded metadata (expected one `loadPackage({{...}});` line); "
            "was it written with --separate-metadata?"
        )
    return PackageMetadata.from_json(found[0], source=source, mount=mount)


def read_package(
    data_path: str | os.PathLike[str],
    metadata: str | os.PathLike[str] | PackageMetadata | None = None,
    *,
    mount: str | None = None,
    verify: bool = True,
) -> dict[str, memoryview]:
    """Every file of a package, keyed by absolute FS path, as views of one read of ``.data``.

    ``metadata`` is a path (default ``metadata_path_for(data_path)``) or
    parsed metadata. Sizes are always checked; with ``verify`` the SHA-256
    sums too, where the metadata has them (Emscripten's own has none).
    """
    if metadata is None:
        metadata = metadata_path_for(data_path)
    if isinstance(metadata, PackageMetadata):
        meta, meta_name = metadata, "its metadata"
        if mount is not None:
            mount = _check_mount(mount)
            for f in meta.files:
                problem = _fs_path_problem(f.filename, mount)
                if problem:
                    raise PackageError(f"{data_path}: {f.filename!r} {problem}; {_DAMAGED}")
    else:
        meta, meta_name = load_metadata(metadata, mount=mount), str(metadata)
    try:
        data = Path(data_path).read_bytes()
    except OSError as exc:
        raise PackageError(f"{data_path}: cannot read ({exc.strerror}); {_REBUILD}") from None
    if len(data) < meta.remote_package_size:
        raise PackageError(
            f"{data_path}: truncated: {len(data)} bytes, but {meta_name} expects "
            f"{meta.remote_package_size}; {_DAMAGED}"
        )
    if len(data) > meta.remote_package_size:
        raise PackageError(
            f"{data_path}: {len(data)} bytes, but {meta_name} expects "
            f"{meta.remote_package_size}: the .data and its metadata come from different "
            f"builds — {_REBUILD}"
        )
    view = memoryview(data)
    files = {f.filename: view[f.start : f.end] for f in meta.files}
    if verify:
        # Per file first, so the message names the damaged file.
        for f in meta.files:
            if f.sha256 is not None and hashlib.sha256(files[f.filename]).hexdigest() != f.sha256:
                raise PackageError(f"{data_path}: checksum mismatch for {f.filename}; {_DAMAGED}")
        if meta.sha256 is not None and hashlib.sha256(data).hexdigest() != meta.sha256:
            raise PackageError(
                f"{data_path}: checksum mismatch for the package as a whole; {_DAMAGED}"
            )
    return files


def install_into_fs(
    fs: EmscriptenFS,
    files: Mapping[str, bytes | bytearray | memoryview],
    *,
    convert: Callable[[memoryview], Any] | None = None,
) -> None:
    """Create each file (and its parent directories) in an Emscripten FS.

    In Pyodide pass ``fs=pyodide_js.FS`` and ``convert=pyodide.ffi.to_js``:
    Python bytes reach JavaScript as a proxy unless converted to a
    ``Uint8Array``. (Inside Pyodide, Python's own ``open()`` writes into the
    same FS too; this helper is for code that holds an FS object.)
    """
    _check_tree(files, "install_into_fs")
    made: set[str] = {"/"}
    for path in sorted(files):
        parent = posixpath.dirname(path)
        if parent not in made:
            fs.mkdirTree(parent)
            while parent not in made:
                made.add(parent)
                parent = posixpath.dirname(parent)
        data = memoryview(files[path])
        fs.writeFile(path, convert(data) if convert is not None else data)


# -- validation ------------------------------------------------------------------------------


def _metadata_from_doc(doc: Any, source: str, mount: str | None) -> PackageMetadata:
    def bad(what: str) -> PackageError:
        return PackageError(f"{source}: {what}; {_DAMAGED}")

    if mount is not None:
        mount = _check_mount(mount)
    if not isinstance(doc, dict):
        raise bad("the metadata is not a JSON object")
    size = doc.get("remote_package_size")
    if not _is_count(size):
        raise bad("`remote_package_size` is missing or not a non-negative integer")
    uuid = doc.get("package_uuid", "")
    if not isinstance(uuid, str):
        raise bad("`package_uuid` is not a string")
    whole = doc.get("sha256")
    if whole is not None and not (isinstance(whole, str) and _HEX64.fullmatch(whole)):
        raise bad("`sha256` is not 64 lowercase hex digits")
    raw_files = doc.get("files")
    if not isinstance(raw_files, list):
        raise bad("`files` is missing or not a list")
    entries = []
    for i, raw in enumerate(raw_files):
        if not isinstance(raw, dict):
            raise bad(f"files[{i}] is not an object")
        name = raw.get("filename")
        if not isinstance(name, str):
            raise bad(f"files[{i}] has no string `filename`")
        problem = _fs_path_problem(name, mount)
        if problem:
            raise bad(f"files[{i}] {name!r} {problem}")
        start, end = raw.get("start"), raw.get("end")
        if not (_is_count(start) and _is_count(end)):
            raise bad(f"{name}: `start`/`end` are not non-negative integers")
        if not start <= end <= size:
            raise bad(
                f"{name}: bytes {start}..{end} lie outside the {size}-byte package "
                "or end before they start"
            )
        digest = raw.get("sha256")
        if digest is not None and not (isinstance(digest, str) and _HEX64.fullmatch(digest)):
            raise bad(f"{name}: `sha256` is not 64 lowercase hex digits")
        entries.append(FileEntry(name, start, end, digest))
    try:
        _check_tree((e.filename for e in entries), source)
    except PackageError as exc:
        raise bad(str(exc).removeprefix(f"{source}: ")) from None
    # Emscripten hands each file a subarray: overlapping ranges would alias two files.
    spans = sorted((e.start, e.end, e.filename) for e in entries if e.end > e.start)
    for (_, end_a, name_a), (start_b, _, name_b) in itertools.pairwise(spans):
        if start_b < end_a:
            raise bad(f"{name_a} and {name_b} overlap in the .data")
    return PackageMetadata(tuple(entries), size, uuid, whole)


def _first(item: tuple[str, Any]) -> str:
    return item[0]


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_mount(mount: str) -> str:
    if not isinstance(mount, str):
        raise PackageError(f"mount {mount!r} is not a string")
    problem = _fs_path_problem(mount, None) if mount != "/" else None
    if problem:
        raise PackageError(f"mount {mount!r} {problem}")
    return mount


def _fs_path_problem(path: str, mount: str | None) -> str | None:
    """Why ``path`` is not a safe absolute file path (below ``mount``), or None."""
    if "\0" in path:
        return "contains a NUL byte"
    if not path.startswith("/"):
        return "is not an absolute path"
    parts = path[1:].split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "is not a normalized path (empty, `.` or `..` components)"
    if mount is not None and mount != "/" and not path.startswith(mount + "/"):
        return f"escapes the mount {mount}"
    return None


def _destination(mount: str, key: str) -> str:
    if not isinstance(key, str):
        raise PackageError(f"file name {key!r} is not a string")
    if key.startswith("/"):
        raise PackageError(f"{key!r}: give file names relative to the mount ({mount})")
    dest = posixpath.join(mount, key)
    problem = _fs_path_problem(dest, mount)
    if problem:
        raise PackageError(f"{key!r}: {problem}")
    return dest


def _check_tree(paths: Iterable[str], source: str) -> None:
    """No duplicates and no path that is both a file and another file's directory."""
    names: set[str] = set()
    for path in paths:
        problem = _fs_path_problem(path, None)
        if problem:
            raise PackageError(f"{source}: {path!r} {problem}")
        if path in names:
            raise PackageError(f"{source}: {path} appears twice")
        names.add(path)
    for path in names:
        parent = posixpath.dirname(path)
        while parent != "/":
            if parent in names:
                raise PackageError(f"{source}: {parent} is both a file and the directory of {path}")
            parent = posixpath.dirname(parent)


def _chunks(src: Path | bytes | bytearray | memoryview, dest: str) -> Iterable[bytes]:
    if isinstance(src, bytes | bytearray | memoryview):
        yield bytes(src)
        return
    if not isinstance(src, os.PathLike):
        # A str would be ambiguous: content or a file name?
        raise PackageError(f"{dest}: source must be a Path or bytes, not {type(src).__name__}")
    try:
        with open(src, "rb") as f:
            while chunk := f.read(_CHUNK):
                yield chunk
    except OSError as exc:
        raise PackageError(f"{dest}: cannot read {src} ({exc.strerror})") from None


# -- command line ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m wasmemu_images.file_packager pack|list|extract ...``"""
    parser = argparse.ArgumentParser(
        prog="python -m wasmemu_images.file_packager",
        description="Write, check and unpack Emscripten file packages (.data + .js.metadata).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    pack = sub.add_parser("pack", help="package every file below a directory")
    pack.add_argument("source", type=Path)
    pack.add_argument("data", type=Path, help="output NAME.data (NAME.js.metadata is written too)")
    pack.add_argument("--mount", default="/", help="FS directory the files appear under")
    for name, text in (("list", "verify a package and list its files"), ("extract", "")):
        cmd = sub.add_parser(name, help=text or "verify a package and write its files out")
        cmd.add_argument("data", type=Path)
        cmd.add_argument("--metadata", type=Path, help="default: NAME.js.metadata beside it")
        if name == "extract":
            cmd.add_argument("dest", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "pack":
            meta = write_package(files_from_directory(args.source), args.data, mount=args.mount)
            print(f"{args.data}: {len(meta.files)} files, {meta.remote_package_size} bytes")
            print(f"{metadata_path_for(args.data)}: sha256 {meta.sha256}")
            return 0
        meta_path = args.metadata or metadata_path_for(args.data)
        meta = load_metadata(meta_path)
        files = read_package(args.data, meta)
    except PackageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.command == "list":
        for f in meta.files:
            digest = (f.sha256 or "-")[:16]
            print(f"{f.start:>12} {f.size:>12}  {digest:16}  {f.filename}")
        checked = "checksums verified" if meta.sha256 else "sizes checked (no checksums)"
        print(f"{args.data}: {len(meta.files)} files, {meta.remote_package_size} bytes, {checked}")
        return 0
    for name, data in files.items():
        out = args.dest / name.lstrip("/")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    print(f"{args.dest}: {len(files)} files written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
