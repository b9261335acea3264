"""Our file packager writes and reads Emscripten's file-package format.

Compatibility is shown both ways with Debian's emscripten: packages from its
``tools/file_packager.py`` read back with ``read_package``, and its generated
loader (.js) runs under Node on packages we wrote — once with a minimal
``Module`` that records the FS calls, once inside a real Emscripten runtime
whose C ``main`` reads the files through libc. ``packaging/node/file_package.mjs``
(what the Node and browser runners use) is run the same ways.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from wasmemu_images.file_packager import (
    PackageError,
    PackageMetadata,
    files_from_directory,
    install_into_fs,
    load_metadata,
    main,
    metadata_from_loader_js,
    metadata_path_for,
    read_package,
    write_package,
)

REPO = Path(__file__).resolve().parents[2]
MJS = REPO / "packaging" / "node" / "file_package.mjs"
MOUNT = "/img"
REBUILD = "rebuild it with `invoke images`"


def _tree() -> dict[str, bytes]:
    rng = random.Random(20261121)
    return {
        "Image": rng.randbytes(300_000),
        "fw_dynamic.bin": rng.randbytes(4096 + 7),
        "initramfs.cpio.gz": rng.randbytes(50_001),
        "disks/empty.img": b"",
        "disks/deep/er/tiny": b"\x00",
        'odd names/sp ace\'s "q" é.txt': "zürich\n".encode(),
    }


TREE = _tree()


def _sha(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def _fnv1a64(data: bytes) -> str:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def _materialize(root: Path, tree: dict[str, bytes] = TREE) -> Path:
    for rel, data in tree.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _expected(mount: str = MOUNT) -> dict[str, str]:
    return {f"{mount.rstrip('/')}/{rel}": _sha(data) for rel, data in TREE.items()}


# -- the tools ---------------------------------------------------------------------------------


@functools.cache
def _node() -> str | None:
    return shutil.which("node")


@functools.cache
def _emscripten_root() -> Path | None:
    emcc = shutil.which("emcc")
    candidates = [Path(os.path.realpath(emcc)).parent] if emcc else []
    candidates.append(Path("/usr/share/emscripten"))
    return next((c for c in candidates if (c / "tools" / "file_packager.py").is_file()), None)


def need_node() -> str:
    node = _node()
    if node is None:
        pytest.skip("node is not installed (scripts/bootstrap installs it with emscripten)")
    return node


def need_emscripten() -> Path:
    root = _emscripten_root()
    if root is None:
        pytest.skip("Emscripten is not installed (Debian package `emscripten`; scripts/bootstrap)")
    return root


def _run(cmd: list[str], *, cwd: Path, timeout: float = 120, **kw) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, **kw)
    assert proc.returncode == 0, (
        f"{cmd[:3]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    )
    return proc.stdout


def emscripten_package(workdir: Path, src: Path, *, separate: bool = True) -> Path:
    """Run Emscripten's file_packager on ``src`` (mounted at MOUNT); return pkg.js."""
    packager = need_emscripten() / "tools" / "file_packager.py"
    cmd = [sys.executable, str(packager), "pkg.data", "--preload", f"{src}@{MOUNT}"]
    cmd += ["--js-output=pkg.js", *(["--separate-metadata"] if separate else [])]
    _run(cmd, cwd=workdir)
    return workdir / "pkg.js"


def run_node_json(script: str, workdir: Path, *args: str, suffix: str = ".mjs") -> object:
    """Run a Node script; its last stdout line is JSON."""
    path = workdir / f"driver{suffix}"
    path.write_text(script)
    out = _run([need_node(), str(path), *args], cwd=workdir, timeout=60)
    return json.loads(out.strip().splitlines()[-1])


# -- our writer and reader ---------------------------------------------------------------------


def test_round_trip_names_and_schema(tmp_path: Path) -> None:
    src = _materialize(tmp_path / "src")
    files = files_from_directory(src)
    assert list(files) == sorted(TREE)
    meta = write_package(files, tmp_path / "out" / "pkg.data", mount=MOUNT)

    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["pkg.data", "pkg.js.metadata"]
    assert metadata_path_for(tmp_path / "pkg.data") == tmp_path / "pkg.js.metadata"
    doc = json.loads((tmp_path / "out" / "pkg.js.metadata").read_text())
    assert set(doc) == {"files", "remote_package_size", "package_uuid", "sha256"}
    assert doc["remote_package_size"] == sum(map(len, TREE.values()))
    assert doc["package_uuid"] == "sha256-" + doc["sha256"]
    assert doc["sha256"] == _sha((tmp_path / "out" / "pkg.data").read_bytes())
    assert [set(f) for f in doc["files"]] == [{"filename", "start", "end", "sha256"}] * len(TREE)
    assert [f["filename"] for f in doc["files"]] == sorted(_expected())
    assert load_metadata(tmp_path / "out" / "pkg.js.metadata") == meta

    got = read_package(tmp_path / "out" / "pkg.data", mount=MOUNT)
    assert {k: _sha(v) for k, v in got.items()} == _expected()


def test_output_is_deterministic(tmp_path: Path) -> None:
    src = _materialize(tmp_path / "src")
    from_paths = files_from_directory(src)
    from_bytes = {k: TREE[k] for k in reversed(list(TREE))}  # other order, other source kind
    write_package(from_paths, tmp_path / "a" / "pkg.data", mount=MOUNT)
    write_package(from_bytes, tmp_path / "b" / "pkg.data", mount=MOUNT)
    for name in ("pkg.data", "pkg.js.metadata"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("../etc/passwd", "not a normalized path"),
        ("boot/./Image", "not a normalized path"),
        ("/boot/Image", "relative to the mount"),
        ("a\0b", "NUL"),
        ("dir/", "not a normalized path"),
    ],
)
def test_writer_rejects_unsafe_names(tmp_path: Path, key: str, message: str) -> None:
    with pytest.raises(PackageError, match=message):
        write_package({key: b"x"}, tmp_path / "pkg.data", mount=MOUNT)
    assert not list(tmp_path.iterdir()), "nothing is written for a refused package"


def test_writer_rejects_file_that_is_also_a_directory(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="both a file and the directory"):
        write_package({"boot": b"x", "boot/Image": b"y"}, tmp_path / "pkg.data")


def test_writer_reports_missing_source(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match=r"/Image: cannot read .*missing"):
        write_package({"Image": tmp_path / "missing"}, tmp_path / "pkg.data")
    assert not list(tmp_path.iterdir())


def test_install_into_fs_uses_mkdirtree_and_writefile() -> None:
    class FakeFS:
        def __init__(self) -> None:
            self.dirs = {"/"}
            self.files: dict[str, bytes] = {}

        def mkdirTree(self, path: str) -> None:  # Emscripten's name
            parts = path.strip("/").split("/")
            self.dirs.update("/" + "/".join(parts[: i + 1]) for i in range(len(parts)))

        def writeFile(self, path: str, data: object) -> None:
            assert (path.rsplit("/", 1)[0] or "/") in self.dirs, f"ENOENT {path}"
            self.files[path] = bytes(data)  # type: ignore[call-overload]

    fs = FakeFS()
    files = {f"{MOUNT}/{k}": v for k, v in TREE.items()}
    install_into_fs(fs, files, convert=lambda view: view.tobytes())
    assert fs.files == files
    assert {"/img", "/img/disks/deep/er", "/img/odd names"} <= fs.dirs
    with pytest.raises(PackageError, match="not a normalized path"):
        install_into_fs(fs, {"/img/../x": b""})


def test_cli_lists_and_extracts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _materialize(tmp_path / "src")
    assert main(["pack", str(src), str(tmp_path / "pkg.data"), "--mount", MOUNT]) == 0
    assert main(["list", str(tmp_path / "pkg.data")]) == 0
    listing = capsys.readouterr().out
    assert f"{MOUNT}/Image" in listing and "checksums verified" in listing
    assert main(["extract", str(tmp_path / "pkg.data"), str(tmp_path / "x")]) == 0
    assert files_from_directory(tmp_path / "x" / "img").keys() == TREE.keys()
    (tmp_path / "pkg.data").write_bytes(b"")
    assert main(["list", str(tmp_path / "pkg.data")]) == 1
    assert "truncated" in capsys.readouterr().err


# -- damaged packages: the same cases for Python and for file_package.mjs -----------------------


def _edit_entry(index: int, **changes: object) -> Callable[[bytes, dict], tuple[bytes, object]]:
    def edit(data: bytes, doc: dict) -> tuple[bytes, object]:
        doc["files"][index].update(changes)
        return data, doc

    return edit


def _flip_in_image(data: bytes, doc: dict) -> tuple[bytes, object]:
    start = next(f["start"] for f in doc["files"] if f["filename"] == f"{MOUNT}/Image")
    data = bytearray(data)
    data[start + 1234] ^= 0x40
    return bytes(data), doc


def _flip_without_file_sums(data: bytes, doc: dict) -> tuple[bytes, object]:
    data, doc = _flip_in_image(data, doc)
    for f in doc["files"]:
        del f["sha256"]
    return data, doc


def _overlap(data: bytes, doc: dict) -> tuple[bytes, object]:
    doc["files"][1]["start"] = doc["files"][0]["end"] - 1
    return data, doc


# name -> (edit of the good .data and metadata document, text the error must contain)
DAMAGE: dict[str, tuple[Callable[[bytes, dict], tuple[bytes, object]], str]] = {
    "truncated": (lambda d, m: (d[:-100], m), "truncated: "),
    "longer": (lambda d, m: (d + b"\0", m), "come from different builds"),
    "flipped-byte": (_flip_in_image, f"checksum mismatch for {MOUNT}/Image"),
    "flipped-byte-whole-sum-only": (_flip_without_file_sums, "checksum mismatch for the package"),
    "bad-json": (lambda d, m: (d, json.dumps(m)[:-7]), "not valid JSON"),
    "not-an-object": (lambda d, m: (d, "[1, 2]"), "not a JSON object"),
    "no-files": (lambda d, m: (d, {"remote_package_size": len(d)}), "`files` is missing"),
    "dot-dot": (_edit_entry(0, filename=f"{MOUNT}/../etc/passwd"), "not a normalized path"),
    "outside-mount": (_edit_entry(0, filename="/etc/passwd"), f"escapes the mount {MOUNT}"),
    "relative": (_edit_entry(0, filename="img/Image"), "not an absolute path"),
    "nul": (_edit_entry(0, filename=f"{MOUNT}/a\0b"), "NUL byte"),
    "duplicate": (_edit_entry(1, filename=f"{MOUNT}/Image"), "appears twice"),
    "out-of-range": (_edit_entry(-1, end=10**9), "lie outside"),
    "negative": (_edit_entry(0, start=-1), "not non-negative integers"),
    "overlap": (_overlap, "overlap in the .data"),
    "bad-sum": (_edit_entry(0, sha256="XYZ"), "not 64 lowercase hex digits"),
}


@pytest.fixture
def good_package(tmp_path: Path) -> Path:
    write_package(TREE, tmp_path / "good" / "pkg.data", mount=MOUNT)
    return tmp_path / "good" / "pkg.data"


def _damaged(good: Path, case: str, dest: Path) -> Path:
    edit = DAMAGE[case][0]
    data, doc = edit(good.read_bytes(), json.loads(metadata_path_for(good).read_text()))
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "pkg.data").write_bytes(data)
    text = doc if isinstance(doc, str) else json.dumps(doc)
    (dest / "pkg.js.metadata").write_text(text)
    return dest / "pkg.data"


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_read_package_rejects_damage(good_package: Path, tmp_path: Path, case: str) -> None:
    damaged = _damaged(good_package, case, tmp_path / case)
    with pytest.raises(PackageError) as info:
        read_package(damaged, mount=MOUNT)
    message = str(info.value)
    assert DAMAGE[case][1] in message
    assert str(damaged.parent) in message and REBUILD in message


def test_mjs_rejects_damage(good_package: Path, tmp_path: Path) -> None:
    need_node()
    for case in DAMAGE:
        _damaged(good_package, case, tmp_path / case)
    script = f"""
import {{ loadFilePackage, FilePackageError }} from {json.dumps(MJS.as_uri())};
const out = {{}};
for (const c of {json.dumps(sorted(DAMAGE))}) {{
  try {{
    await loadFilePackage(`${{c}}/pkg.data`, {{ mount: {json.dumps(MOUNT)} }});
    out[c] = 'accepted';
  }} catch (e) {{
    out[c] = (e instanceof FilePackageError ? '' : 'WRONG CLASS ') + e.message;
  }}
}}
console.log(JSON.stringify(out));
"""
    out = run_node_json(script, tmp_path)
    assert isinstance(out, dict)
    for case, (_, text) in DAMAGE.items():
        assert text in out[case] and REBUILD in out[case], (case, out[case])


# -- Emscripten's packages, read by us ---------------------------------------------------------


def test_reads_emscripten_package_with_separate_metadata(tmp_path: Path) -> None:
    loader = emscripten_package(tmp_path, _materialize(tmp_path / "src"))
    meta = load_metadata(tmp_path / "pkg.js.metadata", mount=MOUNT)
    assert meta.sha256 is None and all(f.sha256 is None for f in meta.files)
    got = read_package(tmp_path / "pkg.data", mount=MOUNT)
    assert {k: _sha(v) for k, v in got.items()} == _expected()
    assert loader.with_name("pkg.js.metadata") == metadata_path_for(tmp_path / "pkg.data")


def test_reads_emscripten_package_with_embedded_metadata(tmp_path: Path) -> None:
    loader = emscripten_package(tmp_path, _materialize(tmp_path / "src"), separate=False)
    meta = metadata_from_loader_js(loader.read_text(), source=str(loader), mount=MOUNT)
    got = read_package(tmp_path / "pkg.data", meta, mount=MOUNT)
    assert {k: _sha(v) for k, v in got.items()} == _expected()
    with pytest.raises(PackageError, match="no embedded metadata"):
        metadata_from_loader_js("loadPackage(metadata);")


def test_rejects_emscripten_package_truncated(tmp_path: Path) -> None:
    emscripten_package(tmp_path, _materialize(tmp_path / "src"))
    data = tmp_path / "pkg.data"
    data.write_bytes(data.read_bytes()[:-1])
    with pytest.raises(PackageError, match="truncated"):
        read_package(data)


# -- our packages, loaded by Emscripten's loader -----------------------------------------------

# Emscripten's loader calls these Module hooks; the fake FS checks what a real one would
# (parents exist, no file created twice) and records the bytes. The loader fetches the
# metadata with XMLHttpRequest, which Node lacks: a shim reads it from disk.
XHR_SHIM = """
if (typeof XMLHttpRequest === 'undefined') {
  globalThis.XMLHttpRequest = class {
    open(method, url) { this.url = url; }
    overrideMimeType() {}
    send() {
      require('fs').readFile(this.url, 'utf8', (err, text) => {
        if (err) console.error('XMLHttpRequest shim: ' + err.message);
        this.readyState = 4; this.status = err ? 404 : 200; this.responseText = text;
        this.onreadystatechange();
      });
    }
  };
}
"""

FAKE_MODULE_DRIVER = (
    XHR_SHIM
    + """
const fs = require('fs'), path = require('path'), vm = require('vm'), crypto = require('crypto');
const loader = process.argv[2];
const dirs = new Set(['/']), files = {}, deps = new Set(), events = [];
const join = (a, b) => (a === '/' ? '' : a) + '/' + b;
const timer = setTimeout(() => {
  console.error('stuck, waiting for', [...deps]);
  process.exit(2);
}, 20000);
globalThis.Module = {
  calledRun: true,  // the FS is up: the loader runs at once
  FS_createPath(parent, name) {
    if (!dirs.has(parent)) throw new Error('ENOENT ' + parent);
    dirs.add(join(parent, name));
  },
  FS_createDataFile(parent, name, data, canRead, canWrite, canOwn) {
    const p = name ? join(parent, name) : parent;
    if (!dirs.has(path.posix.dirname(p))) throw new Error('ENOENT parent of ' + p);
    if (p in files) throw new Error('EEXIST ' + p);
    if (!(data instanceof Uint8Array)) throw new Error('not a Uint8Array: ' + p);
    files[p] = crypto.createHash('sha256').update(data).digest('hex');
    events.push([canRead, canWrite, canOwn]);
  },
  addRunDependency(id) { deps.add(id); },
  removeRunDependency(id) {
    if (!deps.delete(id)) throw new Error('unknown run dependency ' + id);
    if (deps.size === 0) {
      clearTimeout(timer);
      console.log(JSON.stringify({ dirs: [...dirs].sort(), files, events }));
    }
  },
};
globalThis.require = require;  // the loader's Node branch reads the .data with require('fs')
vm.runInThisContext(fs.readFileSync(loader, 'utf8'), { filename: loader });
"""
)


def test_emscripten_loader_reads_our_package(tmp_path: Path) -> None:
    need_node()
    loader = emscripten_package(tmp_path, _materialize(tmp_path / "src"))
    baseline = run_node_json(FAKE_MODULE_DRIVER, tmp_path, str(loader), suffix=".cjs")
    assert isinstance(baseline, dict) and baseline["files"] == _expected()  # the harness works

    # Same layout, our .data and metadata in place of Emscripten's.
    (tmp_path / "pkg.data").unlink()
    (tmp_path / "pkg.js.metadata").unlink()
    ours = write_package(TREE, tmp_path / "pkg.data", mount=MOUNT)
    assert ours.sha256 is not None  # keys Emscripten's loader must ignore
    result = run_node_json(FAKE_MODULE_DRIVER, tmp_path, str(loader), suffix=".cjs")
    assert isinstance(result, dict)
    assert result["files"] == _expected()
    assert result["dirs"] == baseline["dirs"]
    assert result["events"] == [[True, True, True]] * len(TREE)


READER_C = r"""
#include <stdint.h>
#include <stdio.h>
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    FILE *f = fopen(argv[i], "rb");
    if (!f) { printf("%s missing\n", argv[i]); continue; }
    uint64_t h = 0xcbf29ce484222325ull, n = 0;
    int c;
    while ((c = fgetc(f)) != EOF) { h = (h ^ (uint64_t)c) * 0x100000001b3ull; n++; }
    fclose(f);
    printf("%s %llu %016llx\n", argv[i], (unsigned long long)n, (unsigned long long)h);
  }
  return 0;
}
"""


def _reader_lines() -> list[str]:
    return sorted(f"{MOUNT}/{k} {len(v)} {_fnv1a64(v)}" for k, v in TREE.items())


def _emcc(workdir: Path, out: str, *flags: str) -> Path:
    need_emscripten()
    emcc = shutil.which("emcc")
    if emcc is None:
        pytest.skip("emcc is not on PATH")
    (workdir / "reader.c").write_text(READER_C)
    # Emscripten 3.1.6 (Debian 12) fetch()es the .wasm by file path whenever fetch exists,
    # which fails on Node >= 18; synchronous compilation reads it with fs instead.
    cmd = [emcc, "reader.c", "-O1", "-o", out, "-sFORCE_FILESYSTEM", "-sWASM_ASYNC_COMPILATION=0"]
    _run([*cmd, *flags], cwd=workdir, timeout=300)
    return workdir / out


def test_emscripten_runtime_boots_with_our_package(tmp_path: Path) -> None:
    """Emscripten's loader, linked into a real Emscripten program, installs our package
    before main() runs; main reads every file back through libc."""
    node = need_node()
    emscripten_package(tmp_path, _materialize(tmp_path / "src"))
    write_package(TREE, tmp_path / "pkg.data", mount=MOUNT)  # replaces Emscripten's files
    (tmp_path / "shim.js").write_text(XHR_SHIM)
    app = _emcc(tmp_path, "app.js", "--pre-js", "shim.js", "--pre-js", "pkg.js")
    paths = sorted(f"{MOUNT}/{k}" for k in TREE)
    out = _run([node, str(app), *paths], cwd=tmp_path, timeout=60)
    assert sorted(out.splitlines()) == _reader_lines()


# -- file_package.mjs --------------------------------------------------------------------------

MJS_FAKE_FS_DRIVER = f"""
import {{ installFilePackage }} from {json.dumps(MJS.as_uri())};
import {{ createHash }} from 'node:crypto';
class FakeFS {{
  dirs = new Set(['/']); files = {{}}; calls = [];
  mkdirTree(p) {{
    this.calls.push('mkdirTree ' + p);
    let d = '';
    for (const part of p.split('/').filter(Boolean)) {{
      d += '/' + part;
      if (d in this.files) throw new Error('ENOTDIR ' + d);
      this.dirs.add(d);
    }}
  }}
  writeFile(p, data, opts) {{
    if (!this.dirs.has(p.slice(0, p.lastIndexOf('/')) || '/')) throw new Error('ENOENT ' + p);
    if (!(data instanceof Uint8Array)) throw new Error('not a Uint8Array: ' + p);
    if (!opts?.canOwn) throw new Error('expected canOwn');
    this.files[p] = createHash('sha256').update(data).digest('hex');
  }}
}}
const result = {{}};
for (const location of process.argv.slice(2)) {{
  const fs = new FakeFS();
  const metadata = await installFilePackage(fs, location, {{ mount: {json.dumps(MOUNT)} }});
  result[location] = {{ files: fs.files, calls: fs.calls, uuid: metadata.package_uuid }};
}}
console.log(JSON.stringify(result));
"""


def test_mjs_installs_ours_and_emscriptens_into_a_fake_fs(tmp_path: Path) -> None:
    need_node()
    write_package(TREE, tmp_path / "ours" / "pkg.data", mount=MOUNT)
    locations = [str(tmp_path / "ours" / "pkg.data"), (tmp_path / "ours" / "pkg.data").as_uri()]
    if _emscripten_root() is not None:
        (tmp_path / "em").mkdir()
        emscripten_package(tmp_path / "em", _materialize(tmp_path / "src"))
        locations.append(str(tmp_path / "em" / "pkg.data"))
    result = run_node_json(MJS_FAKE_FS_DRIVER, tmp_path, *locations)
    assert isinstance(result, dict)
    for location in locations:
        assert result[location]["files"] == _expected(), location
        # mkdirTree only for directories not made yet (/img/disks comes with deep/er).
        dirs = ["/img", "/img/disks/deep/er", "/img/odd names"]
        assert sorted(result[location]["calls"]) == [f"mkdirTree {d}" for d in dirs]
    assert result[locations[0]]["uuid"].startswith("sha256-")


def test_mjs_installs_into_a_real_emscripten_fs(tmp_path: Path) -> None:
    need_node()
    reader = _emcc(
        tmp_path,
        "reader.js",
        "-sMODULARIZE",
        "-sEXPORT_NAME=createReader",
        "-sINVOKE_RUN=0",
        "-sEXPORTED_RUNTIME_METHODS=FS,callMain",
    )
    write_package(TREE, tmp_path / "pkg" / "pkg.data", mount=MOUNT)
    paths = sorted(f"{MOUNT}/{k}" for k in TREE)
    script = f"""
import {{ createRequire }} from 'node:module';
import {{ installFilePackage }} from {json.dumps(MJS.as_uri())};
const createReader = createRequire(import.meta.url)({json.dumps(str(reader))});
const lines = [];
const mod = await createReader({{ print: (s) => lines.push(s), printErr: (s) => lines.push(s) }});
await installFilePackage(mod.FS, 'pkg/pkg.data', {{ mount: {json.dumps(MOUNT)} }});
mod.callMain({json.dumps(paths)});
console.log(JSON.stringify(lines));
"""
    lines = run_node_json(script, tmp_path)
    assert isinstance(lines, list)
    assert sorted(lines) == _reader_lines()


def test_metadata_round_trips_through_json() -> None:
    meta = PackageMetadata.from_json(
        '{"files":[{"filename":"/a","start":0,"end":1,"audio":1}],'
        '"remote_package_size":1,"package_uuid":"u","extra":true}'
    )
    assert meta.files[0].filename == "/a" and meta.files[0].sha256 is None
    assert PackageMetadata.from_json(meta.to_json()) == meta
