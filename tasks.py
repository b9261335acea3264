"""Developer tasks: `invoke --list`. Each task is thin; the work lives in library code."""

from __future__ import annotations

import os
import random
import sys

from invoke import Context, task

PY = sys.executable


@task
def busybox(c: Context) -> None:
    """Fetch Debian's riscv64 busybox-static into the cache and print its path."""
    from wasmemu_images.guest_tools import busybox_path

    print(busybox_path(progress=True))


@task(
    help={
        "force": "rebuild even if a current image is cached",
        "name": "recipe name",
        "rootfs": "also build the ext4 root disk (rootfs.ext4; needs e2fsprogs)",
    }
)
def images(c: Context, force: bool = False, name: str = "default", rootfs: bool = False) -> None:
    """Build the guest image (Debian riscv64 kernel, OpenSBI, busybox initramfs)."""
    from wasmemu_images.cli import images_command

    images_command(name=name, force=force, rootfs=rootfs)


@task(
    help={
        "options": "more options for wasmemu run, e.g. '--wasm wasm32 -m 1G'",
        "node": "run the engine under Pyodide in Node.js (packaging/node/run.mjs)",
        "node_binary": "the node to use with --node (default: node on PATH)",
        "browser": "serve the browser page and open it",
    }
)
def run(
    c: Context, options: str = "", node: bool = False, node_binary: str = "node",
    browser: bool = False,
) -> None:  # fmt: skip
    """Boot the default Debian riscv64 guest to a shell (building its image first if needed)."""
    if node:
        from wasmemu_images.runners import run_on_node

        run_on_node(options.split(), node_binary)
    if browser:
        from wasmemu_images.runners import serve as serve_page

        serve_page(open_browser=True)
        return
    from wasmemu_images.cli import images_command

    images_command()  # builds the image on first use, with progress; verifies it after
    os.execv(PY, [PY, "-m", "engine", "run", *options.split()])


@task(help={"port": "TCP port (default 8080)", "host": "address to listen on"})
def serve(c: Context, port: int = 8080, host: str = "127.0.0.1") -> None:
    """Serve the browser page (xterm.js terminal, VM in a Worker) with COOP/COEP headers."""
    from wasmemu_images.runners import serve as serve_page

    serve_page(host, port)


@task(name="node-setup")
def node_setup(c: Context) -> None:
    """Install the pinned npm packages of the Node.js runner and the page (npm ci)."""
    from wasmemu_images.node_setup import NodeSetupError, ensure_node_modules

    try:
        print(ensure_node_modules())
    except NodeSetupError as e:
        raise SystemExit(f"wasmemu: {e}") from None


@task(help={"args": "command line for busybox (default: an interactive shell)"})
def user(c: Context, args: str = "sh") -> None:
    """Run Debian's riscv64 busybox in user mode, like qemu-riscv64 (default: a shell)."""
    from wasmemu_images.guest_tools import busybox_path

    path = busybox_path(progress=True)
    os.execv(PY, [PY, "-m", "engine", "user", str(path), *args.split()])


@task
def lint(c: Context) -> None:
    """ruff: lint and formatting check."""
    c.run(f"{PY} -m ruff check .")
    c.run(f"{PY} -m ruff format --check .")


@task(help={"k": "only tests matching this pytest -k expression", "jobs": "parallel workers"})
def test(c: Context, k: str = "", jobs: int = 2) -> None:
    """Run the test suite (fetches the riscv64 guest tools first, once)."""
    from wasmemu_images.cli import images_command
    from wasmemu_images.guest_tools import busybox_path

    # Warm the cache before the workers start in parallel.
    busybox_path(progress=True)
    images_command()
    select = f"-k {k!r}" if k else ""
    parallel = f"-n {jobs} --dist loadgroup" if jobs > 1 else ""
    c.run(f"{PY} -m pytest {parallel} {select}", pty=False)


@task(
    help={
        "suite": "all (default), cpu, applets, tiering or boot",
        "quick": "smoke run",
        "node": "boot under Node.js too (--no-node leaves out those rows, ~45 minutes)",
    }
)
def bench(c: Context, suite: str = "all", quick: bool = False, node: bool = True) -> None:
    """Benchmarks, reported as ratios against native qemu measured in the same run, and charted."""
    from bench.suites import run_suites

    run_suites(suite, quick, node)


@task(help={"cases": "number of random sequences", "seed": "first seed (default: random)"})
def fuzz(c: Context, cases: int = 20000, seed: int = -1) -> None:
    """Differential fuzzing against unicorn, many more cases than CI runs."""
    first = seed if seed >= 0 else random.randrange(1 << 30)
    print(f"fuzz: seeds {first}..{first + cases - 1}")
    env = {"FUZZ_CASES": str(cases), "FUZZ_SEED": str(first)}
    c.run(f"{PY} -m pytest -n 2 -q tests/fuzz/test_fuzz_unicorn.py", env=env)


@task(
    help={
        "dest": "output folder (default: dist)",
        "container": "build inside the pinned build container (docker/emsdk-wasm-cross.docker)",
    }
)
def build(c: Context, dest: str = "dist", container: bool = False) -> None:
    """Build dist/: engine wheel, Node.js runner, page, guest bundle, manifest.yaml."""
    if container:
        from wasmemu_images.container import ContainerError, build_in_container

        try:
            build_in_container(dest)
        except ContainerError as e:
            raise SystemExit(f"wasmemu: {e}") from None
        return
    from pathlib import Path

    from wasmemu_images.cli import images_command
    from wasmemu_images.dist import DistError, build_dist

    images_command()
    try:
        print(build_dist(Path(dest)))
    except DistError as e:
        raise SystemExit(f"wasmemu: {e}") from None


@task(help={"dist": "the folder `invoke build` wrote (default: dist)"})
def release(c: Context, dist: str = "dist") -> None:
    """Pack dist/ into wasmemu-VERSION-bundle.tar.gz with SHA256SUMS (after `invoke build`)."""
    from pathlib import Path

    from wasmemu_images.dist import project_version, source_state
    from wasmemu_images.release import ReleaseError, make_release

    try:
        archive = make_release(Path(dist), project_version(), source_state()["commit"])
    except ReleaseError as e:
        raise SystemExit(f"wasmemu: {e}") from None
    print(archive)
    print(archive.with_name("SHA256SUMS"))


@task(
    help={
        "base_from_debian": "first make the base image from Debian packages (debootstrap), "
        "for machines without an image registry",
        "base": "base image (default: the local Debian base if made, else the emsdk release)",
    }
)
def container(c: Context, base_from_debian: bool = False, base: str = "") -> None:
    """Build the pinned build image (docker/emsdk-wasm-cross.docker) through the docker SDK."""
    from wasmemu_images import container as ct

    try:
        client = ct.connect()
        if base_from_debian:
            base = ct.base_from_debian(client)
        print(ct.build_image(client, base or ct.choose_base(client)))
    except ct.ContainerError as e:
        raise SystemExit(f"wasmemu: {e}") from None


@task(name="container-engine", help={"action": "start (default), stop or status"})
def container_engine(c: Context, action: str = "start") -> None:
    """Run Podman's Docker-compatible service for this session (runc, cgroupfs, own storage)."""
    from wasmemu_images import container as ct

    try:
        if action == "start":
            print(f"DOCKER_HOST=unix://{ct.start_engine()}")
        elif action == "stop":
            print("stopped" if ct.stop_engine() else "not running")
        elif action == "status":
            print(f"running: unix://{ct.podman_socket()}" if ct.engine_answers() else "not running")
        else:
            raise SystemExit(f"wasmemu: unknown action '{action}'; use start, stop or status")
    except ct.ContainerError as e:
        raise SystemExit(f"wasmemu: {e}") from None
