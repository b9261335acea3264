"""The pinned build container: made and used through the docker SDK, on Docker or Podman.

* `connect` finds an engine: ``DOCKER_HOST``, Docker's default socket, or the
  Podman service that `invoke container-engine start` runs for the session.
* `base_from_debian` makes the base image where no image registry is reachable:
  debootstrap of Debian 12 into a folder, imported as an image.
* `build_image` builds docker/emsdk-wasm-cross.docker on a base; the tag is a
  digest of everything the image is made from, so an unchanged image is reused.
* `build_in_container` runs `invoke build` inside, the sources mounted read-only
  at /src, the output folder at /out and the wasmemu cache (guest images) at
  /cache.

Podman runs here with runc and cgroupfs (crun fails on these machines) and
with ulimits no higher than this process's own hard limits (runc cannot raise
them); its images live in the wasmemu cache, so deleting the cache (after
`invoke container-engine stop`) removes them too.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wasmemu_images.cache import cache_dir, cache_root

PROJECT = Path(__file__).resolve().parent.parent
DOCKERFILE = "docker/emsdk-wasm-cross.docker"
IMAGE_INPUTS = (
    DOCKERFILE,
    "docker/install-apt-pins.sh",
    "docker/requirements.txt",
    "packaging/node/package.json",
    "packaging/node/package-lock.json",
)
DEFAULT_BASE = (
    "emscripten/emsdk:4.0.10"  # the Dockerfile's own default, for engines with a registry
)
DEBIAN_BASE = "localhost/wasmemu/debian-base:bookworm"
BUILD_REPOSITORY = "localhost/wasmemu/build"
CONTEXT_CA = Path("build/container-context/host-ca")
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")
DOCKER_SOCKET = Path("/var/run/docker.sock")
SETUP_HINT = (
    "start Podman's Docker-compatible service with `invoke container-engine start`, "
    "or point DOCKER_HOST at a Docker engine"
)


class ContainerError(Exception):
    """No engine, no base image, or a failed build; the message says what to do."""


# The session's Podman service


def podman_home() -> Path:
    """Configuration, socket and image storage of the Podman service we start."""
    return cache_root() / "podman"


def podman_socket() -> Path:
    return podman_home() / "podman.sock"


def _podman_env() -> dict[str, str]:
    home = podman_home()
    return {
        **os.environ,
        "CONTAINERS_CONF": str(home / "containers.conf"),
        "CONTAINERS_STORAGE_CONF": str(home / "storage.conf"),
        "TMPDIR": str(home / "tmp"),
    }


def write_podman_config() -> None:
    """containers.conf and storage.conf of our own, so /etc/containers stays untouched."""
    home = cache_dir("podman")
    for sub in ("storage", "run", "tmp", "networks"):
        (home / sub).mkdir(exist_ok=True)
    # runc refuses to raise a limit above the hard limit of the process that starts it.
    nofile = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 16384)
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 16384)
    (home / "containers.conf").write_text(
        f"""\
# Written by wasmemu (invoke container-engine); see wasmemu_images/container.py.
[containers]
default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]
netns = "host"
pids_limit = 0
log_driver = "k8s-file"

[network]
network_backend = "netavark"
network_config_dir = "{home}/networks"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{home}/run/events.log"
tmp_dir = "{home}/run/libpod"
static_dir = "{home}/storage/libpod"
volume_path = "{home}/storage/volumes"
image_copy_tmp_dir = "{home}/tmp"
""",
        encoding="utf-8",
    )
    (home / "storage.conf").write_text(
        f"""\
[storage]
driver = "overlay"
graphroot = "{home}/storage"
runroot = "{home}/run/storage"
""",
        encoding="utf-8",
    )


def start_engine(timeout: float = 30.0) -> Path:
    """Start ``podman system service`` in the background (unless it runs); returns the socket."""
    if engine_answers():
        return podman_socket()
    podman = shutil.which("podman")
    if podman is None:
        raise ContainerError(
            "Podman is not installed: `apt-get install podman runc` (Debian), then "
            "`invoke container-engine start` again"
        )
    write_podman_config()
    sock = podman_socket()
    sock.unlink(missing_ok=True)
    log = open(podman_home() / "service.log", "ab")  # noqa: SIM115 - handed to the service
    process = subprocess.Popen(
        [podman, "system", "service", "--time=0", f"unix://{sock}"],
        env=_podman_env(), stdout=log, stderr=log, stdin=subprocess.DEVNULL,
        start_new_session=True,  # outlives this command, as a session's service should
    )  # fmt: skip
    log.close()
    (podman_home() / "service.pid").write_text(f"{process.pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ContainerError(
                f"podman system service exited with status {process.returncode}; "
                f"see {podman_home() / 'service.log'}"
            )
        if engine_answers():
            return sock
        time.sleep(0.2)
    raise ContainerError(f"podman system service did not answer on {sock} in {timeout:.0f} s")


def stop_engine() -> bool:
    """Stop the service `start_engine` started; False if none was running."""
    pid_file = podman_home() / "service.pid"
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return False
    pid_file.unlink(missing_ok=True)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    podman_socket().unlink(missing_ok=True)
    return True


def engine_answers() -> bool:
    import docker

    if not podman_socket().exists():
        return False
    try:
        docker.DockerClient(base_url=f"unix://{podman_socket()}", timeout=5).close()
    except docker.errors.DockerException:
        return False
    return True


# Engines and images


def connect(timeout: int = 1800) -> Any:
    """A docker SDK client for the first engine found (see the module's doc)."""
    import docker

    if os.environ.get("DOCKER_HOST"):
        url, where = os.environ["DOCKER_HOST"], "DOCKER_HOST"
    elif DOCKER_SOCKET.exists():
        url, where = f"unix://{DOCKER_SOCKET}", "Docker's socket"
    elif podman_socket().exists():
        url, where = f"unix://{podman_socket()}", "wasmemu's Podman service"
    else:
        raise ContainerError(f"no container engine is running; {SETUP_HINT}")
    try:
        return docker.DockerClient(base_url=url, timeout=timeout)
    except docker.errors.DockerException as e:
        raise ContainerError(
            f"the container engine at {url} ({where}) does not answer ({_reason(e)}); {SETUP_HINT}"
        ) from None


def _reason(error: Exception) -> str:
    text = str(error)
    return text.split("(", 1)[-1].rstrip(")") if "Connection aborted" in text else text[:200]


def has_image(client: Any, name: str) -> bool:
    import docker

    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        return False
    return True


def base_from_debian(client: Any, tag: str = DEBIAN_BASE, suite: str = "bookworm") -> str:
    """Debian `suite` from the host's mirror (debootstrap), imported as image `tag`."""
    from wasmemu_images.debian import FetchError, host_debian_source

    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not os.path.exists(debootstrap):
        raise ContainerError("debootstrap is not installed: `apt-get install debootstrap`")
    if os.geteuid() != 0:
        raise ContainerError(
            "debootstrap needs root: run `invoke container --base-from-debian` as root"
        )
    try:
        mirror = host_debian_source().uri
    except FetchError as e:
        raise ContainerError(str(e)) from None
    with tempfile.TemporaryDirectory(prefix="debootstrap-", dir=cache_dir("podman")) as tmp:
        root = Path(tmp) / "rootfs"
        print(f"wasmemu: debootstrap {suite} from {mirror} (a few minutes)", file=sys.stderr)
        result = subprocess.run(
            [debootstrap, "--variant=minbase", suite, str(root), mirror],
            capture_output=True, text=True,
        )  # fmt: skip
        if result.returncode != 0:
            tail = " / ".join(result.stdout.strip().splitlines()[-3:])
            raise ContainerError(f"debootstrap failed: {tail}")
        archive = Path(tmp) / "rootfs.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(root, arcname=".", filter=_rootfs_filter)
        # Podman ignores import's tag argument: the whole name goes in `repository`.
        client.api.import_image(
            src=str(archive), repository=tag, changes=['CMD ["/bin/bash"]', "ENV LANG=C.UTF-8"]
        )
    if not has_image(client, tag):
        raise ContainerError(f"importing the Debian root into the engine as {tag} failed")
    return tag


_EMPTIED = {"dev", "proc", "sys", "run", "tmp", "var/cache/apt/archives", "var/lib/apt/lists"}


def _rootfs_filter(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """Keep the folders the engine mounts over, but not what is in them (nor host files)."""
    name = info.name.removeprefix("./")
    if name in ("etc/hostname", "etc/resolv.conf"):
        return None
    parent = name.rsplit("/", 1)[0] if "/" in name else ""
    if any(parent == d or parent.startswith(d + "/") for d in _EMPTIED):
        return None
    return info


def image_tag(base: str, base_id: str) -> str:
    """The build image's tag: a digest of its inputs, the base and the trusted CAs."""
    h = hashlib.sha256(f"{base}\0{base_id}\0".encode())
    for rel in IMAGE_INPUTS:
        h.update(rel.encode() + b"\0" + (PROJECT / rel).read_bytes())
    for pin in sorted((PROJECT / "docker" / "apt-pins").glob("*.txt")):
        h.update(pin.name.encode() + b"\0" + pin.read_bytes())
    for ca in _host_cas():
        h.update(ca.read_bytes())
    return f"{BUILD_REPOSITORY}:{h.hexdigest()[:16]}"


def _host_cas() -> list[Path]:
    return sorted(HOST_CA_DIR.glob("*.crt")) if HOST_CA_DIR.is_dir() else []


def build_image(client: Any, base: str) -> str:
    """Build (or reuse) the build image on `base`; returns its tag."""
    import docker

    try:
        base_id = client.images.get(base).id
    except docker.errors.ImageNotFound:
        base_id = _pull(client, base)
    tag = image_tag(base, base_id)
    if has_image(client, tag):
        return tag
    context_ca = PROJECT / CONTEXT_CA
    shutil.rmtree(context_ca, ignore_errors=True)
    context_ca.mkdir(parents=True)
    (context_ca / "README").write_text("The build machine's own CAs, copied by invoke container.\n")
    for ca in _host_cas():
        shutil.copyfile(ca, context_ca / ca.name)
    print(f"wasmemu: building {tag} on {base}", file=sys.stderr)
    stream = client.api.build(
        path=str(PROJECT), dockerfile=DOCKERFILE, tag=tag, buildargs={"BASE_IMAGE": base},
        network_mode="host", rm=True, forcerm=True, decode=True,
    )  # fmt: skip
    _follow(stream, "building the image")
    return tag


def _pull(client: Any, base: str) -> str:
    import docker

    try:
        return client.images.pull(base).id
    except docker.errors.DockerException as e:
        raise ContainerError(
            f"the base image {base} is not here and cannot be pulled ({str(e)[:160]}); "
            "where no image registry is reachable, make one from Debian packages with "
            "`invoke container --base-from-debian`"
        ) from None


def _follow(stream: Iterator[dict[str, Any]], what: str) -> None:
    for chunk in stream:
        if "stream" in chunk:
            sys.stderr.write(chunk["stream"])
        elif "error" in chunk:
            raise ContainerError(f"{what} failed: {chunk['error'].strip()}")


def choose_base(client: Any) -> str:
    """The local Debian base if one was made, else the Dockerfile's default."""
    return DEBIAN_BASE if has_image(client, DEBIAN_BASE) else DEFAULT_BASE


def run_build(client: Any, image: str, dest: Path, command: list[str] | None = None) -> str:
    """Run `command` (default: `invoke build --dest /out`) in `image`; returns its output."""
    import docker

    dest.mkdir(parents=True, exist_ok=True)
    volumes = {
        str(PROJECT): {"bind": "/src", "mode": "ro"},
        str(dest.resolve()): {"bind": "/out", "mode": "rw"},
        str(cache_dir()): {"bind": "/cache", "mode": "rw"},
    }
    user = f"{os.getuid()}:{os.getgid()}"
    container = client.containers.create(
        image, command or ["python3", "-m", "invoke", "build", "--dest", "/out"],
        volumes=volumes, network_mode="host", user=user, working_dir="/src",
        environment={"HOME": "/tmp"},
    )  # fmt: skip
    try:
        container.start()
        status = container.wait()["StatusCode"]
        out = container.logs(stdout=True, stderr=True).decode(errors="replace")
    finally:
        with contextlib.suppress(docker.errors.DockerException):
            container.remove(force=True)
    if status != 0:
        tail = "\n".join(out.strip().splitlines()[-8:])
        raise ContainerError(f"the build in the container ended with status {status}:\n{tail}")
    return out


def build_in_container(dest: str | Path) -> Path:
    """`invoke build --container`: the image (made if needed), then the build in it."""
    client = connect()
    try:
        image = build_image(client, choose_base(client))
        print(run_build(client, image, Path(dest)), end="")
    finally:
        client.close()
    return Path(dest) / "manifest.yaml"
