"""Release archives (`invoke release`) and the native side of an unpacked release.

`make_release` packs ``dist/wasmemu-VERSION/`` (made by `invoke build`, see
dist.py) with its manifest into ``dist/wasmemu-VERSION-bundle.tar.gz`` and
writes ``dist/SHA256SUMS`` for it. The archive is reproducible: sorted
entries, fixed owner, mode and time, and a gzip header without a time.

The rest serves `wasmemu run` in an unpacked release: `verify_tree` checks
every file against the release's ``SHA256SUMS`` (as run.mjs does in
JavaScript) and `guest_from_bundle` reads firmware, kernel and initramfs out
of the bundle's guest package, checksums included. Only the standard library
is used here, because the wheel a user installs does not bring the
developers' tools.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any

from wasmemu_images.file_packager import PackageError, read_package

SUMS = "SHA256SUMS"
AGAIN = f"download the release again and check it with `sha256sum -c {SUMS}`"
BOOT_ROLES = ("bios", "kernel", "initrd")
_SUM_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


class ReleaseError(Exception):
    """A release or its dist/ is damaged, incomplete or stale; the message says what to do."""


def find_release(folder: Path) -> Path | None:
    """`folder` if it is an unpacked release (its sums and its bundle), else None."""
    if (folder / SUMS).is_file() and (folder / "bundle" / "bundle.json").is_file():
        return folder
    return None


def verify_tree(root: Path) -> int:
    """Check every file listed in ``root/SHA256SUMS``; returns how many were checked."""
    try:
        lines = (root / SUMS).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ReleaseError(f"cannot read {root / SUMS} ({e}); {AGAIN}") from None
    missing = []
    for line in filter(None, lines):
        match = _SUM_LINE.match(line)
        if not match or ".." in PurePosixPath(match[2]).parts or match[2].startswith("/"):
            raise ReleaseError(f"{root / SUMS} is damaged (line {line[:60]!r}); {AGAIN}")
        path = root / match[2]
        try:
            digest = sha256_file(path)
        except OSError:
            missing.append(match[2])
            continue
        if digest != match[1]:
            raise ReleaseError(f"checksum mismatch for {match[2]} in {root}; {AGAIN}")
    if missing:
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise ReleaseError(
            f"{len(missing)} file(s) of the release are missing ({shown}): it was not "
            f"unpacked completely; {AGAIN}"
        )
    return len(lines)


def guest_from_bundle(bundle: Path) -> tuple[dict[str, bytes], str]:
    """The bundle's boot files by role (bios, kernel, initrd) and its kernel command line."""
    try:
        doc = json.loads((bundle / "bundle.json").read_text(encoding="utf-8"))
        argv = doc["argv"]
        packages = [p["data"] for p in doc["packages"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ReleaseError(
            f"{bundle / 'bundle.json'} is missing or damaged ({e}); {AGAIN}"
        ) from None
    wanted = {argv[i][1:]: argv[i + 1] for i in range(0, len(argv) - 1, 2)}
    role_of = {wanted[role]: role for role in BOOT_ROLES if role in wanted}
    files: dict[str, bytes] = {}
    try:
        for data in packages:
            for name, view in read_package(bundle / data).items():
                if name in role_of:
                    files[role_of[name]] = bytes(view)
    except PackageError as e:
        raise ReleaseError(str(e)) from None
    lacking = [
        role for role in BOOT_ROLES if role not in files and (role in wanted or role == "bios")
    ]
    if lacking:
        raise ReleaseError(f"the bundle in {bundle} has no {', '.join(lacking)}; {AGAIN}")
    return files, wanted.get("append", "")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make_release(dist: Path, version: str, commit: str) -> Path:
    """Pack the release archive of `dist`, after checking it is whole and current."""
    manifest = _read_manifest(dist)
    source = manifest.get("source") or {}
    if manifest.get("version") != version or source.get("commit") != commit:
        built = f"wasmemu {manifest.get('version')} (commit {str(source.get('commit'))[:12]})"
        raise ReleaseError(
            f"{dist} holds a build of {built}, but the sources are wasmemu {version} "
            f"(commit {commit[:12]}); run `invoke build` first"
        )
    tree_name = f"wasmemu-{version}"
    listed = manifest.get("files") or {}
    on_disk = {p.relative_to(dist).as_posix() for p in (dist / tree_name).rglob("*") if p.is_file()}
    if not listed or set(listed) != on_disk:
        extra = sorted(on_disk - set(listed))[:3]
        gone = sorted(set(listed) - on_disk)[:3]
        raise ReleaseError(
            f"{dist} does not match its manifest.yaml (missing {gone}, not listed {extra}); "
            "run `invoke build` again"
        )
    for name, entry in listed.items():
        if sha256_file(dist / name) != entry.get("sha256"):
            raise ReleaseError(f"{dist / name} changed since `invoke build`; run it again")
    archive = dist / f"{tree_name}-bundle.tar.gz"
    epoch = int(source.get("time", 0))
    sources = {name: dist / name for name in listed}
    sources[f"{tree_name}/manifest.yaml"] = dist / "manifest.yaml"
    members = [(name, sources[name]) for name in sorted(sources, key=_archive_order)]
    tmp = archive.with_suffix(".tmp")
    with (
        open(tmp, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, path in members:
            _add(tar, name, path, epoch)
    tmp.replace(archive)
    (dist / SUMS).write_text(f"{sha256_file(archive)}  {archive.name}\n", encoding="utf-8")
    return archive


def _archive_order(name: str) -> tuple[int, str]:
    """Small files first: the runner and SHA256SUMS survive a truncated download and say so."""
    inner = name.split("/", 1)[1]
    if "/" not in inner and not inner.endswith(".whl"):
        return (0, name)
    return (1 if inner.startswith("web/") else 2, name)


def _add(tar: tarfile.TarFile, name: str, path: Path, epoch: int) -> None:
    info = tarfile.TarInfo(name)
    data = path.read_bytes()
    info.size = len(data)
    info.mtime = epoch
    info.mode = 0o755 if name.endswith((".py", "run.mjs")) else 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def _read_manifest(dist: Path) -> dict[str, Any]:
    import yaml  # a developer's task: the wheel's users never pack releases

    path = dist / "manifest.yaml"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError:
        raise ReleaseError(f"no {path}: run `invoke build` first") from None
    except yaml.YAMLError as e:
        raise ReleaseError(f"{path} is damaged ({e}); run `invoke build` again") from None
    if not isinstance(doc, dict) or doc.get("format") != 1:
        raise ReleaseError(f"{path} is not a manifest of this wasmemu; run `invoke build` again")
    return doc
