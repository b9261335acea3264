"""`invoke build` and `invoke release` as a user meets them: a download, unpacked and booted.

The module builds ``dist/`` once, packs the release archive, and unpacks it
in an empty folder with the system's ``tar``. The boot tests then start the
guest from there with the release's one command: ``node run.mjs`` (Pyodide)
and, after ``pip install`` of the wheel inside into a fresh venv, ``wasmemu
run``. The bad-input tests damage copies of the unpacked release or of dist/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.machine.guest import answer
from tests.pyodide_harness import require_node
from wasmemu_images.dist import build_dist, project_version, source_state, tree_name
from wasmemu_images.image import ensure_image
from wasmemu_images.release import ReleaseError, make_release, verify_tree

COMMANDS = ["uname -m", "echo release-$((6*7))"]
SCRIPT = "".join(f"{c}\n" for c in [*COMMANDS, "poweroff -f"])
BOOT_TIMEOUT = 1800
VERSION = project_version()


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_node()
    ensure_image()
    folder = tmp_path_factory.mktemp("dist")
    build_dist(folder)
    make_release(folder, VERSION, source_state()["commit"])
    return folder


@pytest.fixture(scope="module")
def unpacked(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The archive, checked with sha256sum and unpacked with tar, as its README says."""
    subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=dist, check=True)
    empty = tmp_path_factory.mktemp("download")
    archive = dist / f"{tree_name(VERSION)}-bundle.tar.gz"
    subprocess.run(["tar", "xzf", str(archive), "-C", str(empty)], check=True)
    return empty / tree_name(VERSION)


def check_boot(result: subprocess.CompletedProcess[bytes]) -> None:
    console = result.stdout.decode(errors="replace")
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    assert answer(console, "uname -m") == "riscv64"
    assert answer(console, "echo release-$((6*7))") == "release-42"
    assert "reboot: Power down" in console


def copy_of(unpacked: Path, tmp_path: Path) -> Path:
    target = tmp_path / unpacked.name
    shutil.copytree(unpacked, target)
    return target


def test_the_manifest_lists_every_file_and_the_inputs(dist: Path, unpacked: Path) -> None:
    manifest = yaml.safe_load((dist / "manifest.yaml").read_text())
    files = {p.relative_to(unpacked.parent).as_posix() for p in unpacked.rglob("*") if p.is_file()}
    assert set(manifest["files"]) | {f"{unpacked.name}/manifest.yaml"} == files
    assert manifest["version"] == VERSION
    assert set(manifest["variants"]) == {"wasm64", "wasm32"}
    inputs = manifest["inputs"]
    assert inputs["npm"]["pyodide"] and inputs["wheel"]["runs_on"]["wasmtime"]
    assert any(name.startswith("linux-image-") for name in inputs["guest"]["debian"])
    assert verify_tree(unpacked) == len(manifest["files"]) - 1  # all but SHA256SUMS itself


def test_two_builds_from_the_same_inputs_give_the_same_manifest_and_archive(
    dist: Path, tmp_path: Path
) -> None:
    build_dist(tmp_path)
    make_release(tmp_path, VERSION, source_state()["commit"])
    assert (tmp_path / "manifest.yaml").read_bytes() == (dist / "manifest.yaml").read_bytes()
    assert (tmp_path / "SHA256SUMS").read_bytes() == (dist / "SHA256SUMS").read_bytes()


@pytest.mark.xdist_group("pyodide-translation-cache")
def test_the_unpacked_release_boots_with_node_run_mjs(unpacked: Path) -> None:
    result = subprocess.run(
        ["node", "run.mjs"], cwd=unpacked, input=SCRIPT.encode(), capture_output=True,
        timeout=BOOT_TIMEOUT,
    )  # fmt: skip
    check_boot(result)


def test_the_unpacked_release_boots_natively_after_pip_install(
    unpacked: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    wheel = next(unpacked.glob("wasmemu-*.whl"))
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, str(wheel)], check=True, capture_output=True)
    result = subprocess.run(
        [str(venv / "bin" / "wasmemu"), "run"], cwd=unpacked, input=SCRIPT.encode(),
        capture_output=True, timeout=BOOT_TIMEOUT,
    )  # fmt: skip
    check_boot(result)
    assert b"booting the guest of the release in this folder" in result.stderr


def test_serve_py_serves_the_page_with_isolation_headers(unpacked: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "serve.py", "--port", "0"], cwd=unpacked,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = server.stderr.readline()
        assert "serving the page at http://" in line, line
        url = line.split(" at ", 1)[1].split()[0]
        for path in ("", "page.mjs", "node/vm-worker.mjs", "pyodide/pyodide.mjs",
                     "xterm/lib/xterm.mjs", "bundle/bundle.json"):  # fmt: skip
            with urllib.request.urlopen(url + path) as response:
                assert response.status == 200
                assert response.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    finally:
        server.terminate()
        server.wait(timeout=30)


# Bad input


def run_node(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", "run.mjs"], cwd=folder, input="poweroff -f\n", capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def test_a_changed_file_is_refused_before_booting(unpacked: Path, tmp_path: Path) -> None:
    release = copy_of(unpacked, tmp_path)
    page = release / "web" / "page.mjs"
    page.write_text(page.read_text() + "\n// changed\n")
    for result in (run_node(release), run_wasmemu(release)):
        assert result.returncode == 1
        assert "checksum mismatch for web/page.mjs" in result.stderr
        assert "sha256sum -c SHA256SUMS" in result.stderr and "Traceback" not in result.stderr


def run_wasmemu(folder: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run(
        [sys.executable, "-m", "engine", "run"], cwd=folder, input="poweroff -f\n",
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


def test_a_truncated_download_is_named_as_such(dist: Path, tmp_path: Path) -> None:
    archive = dist / f"{tree_name(VERSION)}-bundle.tar.gz"
    cut = tmp_path / archive.name
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size * 3 // 4])
    check = subprocess.run(
        ["sha256sum", "-c", str(dist / "SHA256SUMS")], cwd=tmp_path, capture_output=True
    )
    assert check.returncode != 0  # what the README asks users to run first
    subprocess.run(["tar", "xzf", str(cut)], cwd=tmp_path, capture_output=True)  # fails part way
    result = run_node(tmp_path / tree_name(VERSION))
    assert result.returncode == 1
    assert "not unpacked completely" in result.stderr or "checksum mismatch" in result.stderr
    assert "download the release again" in result.stderr


def test_release_refuses_a_dist_from_another_version(dist: Path, tmp_path: Path) -> None:
    other = tmp_path / "dist"
    shutil.copytree(dist, other)
    manifest = other / "manifest.yaml"
    manifest.write_text(manifest.read_text().replace(f"version: {VERSION}", "version: 0.0.1"))
    with pytest.raises(ReleaseError, match=r"wasmemu 0\.0\.1 .*run `invoke build` first"):
        make_release(other, VERSION, source_state()["commit"])


def test_release_refuses_a_dist_changed_after_the_build(dist: Path, tmp_path: Path) -> None:
    other = tmp_path / "dist"
    shutil.copytree(dist, other)
    (other / tree_name(VERSION) / "run.mjs").write_text("// not the runner\n")
    with pytest.raises(ReleaseError, match=r"run\.mjs changed since `invoke build`"):
        make_release(other, VERSION, source_state()["commit"])
    (other / tree_name(VERSION) / "stray.txt").write_text("?")
    with pytest.raises(ReleaseError, match=r"does not match its manifest\.yaml"):
        make_release(other, VERSION, source_state()["commit"])


def test_the_archive_puts_the_checks_first_and_owns_nothing_of_the_machine(dist: Path) -> None:
    archive = dist / f"{tree_name(VERSION)}-bundle.tar.gz"
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
    names = [m.name.split("/", 1)[1] for m in members]
    assert names.index("SHA256SUMS") < names.index("bundle/guest-default.data")
    assert names.index("run.mjs") < names.index("node_modules/pyodide/pyodide.asm.wasm")
    assert {(m.uid, m.gid, m.uname) for m in members} == {(0, 0, "")}
    assert len({m.mtime for m in members}) == 1
