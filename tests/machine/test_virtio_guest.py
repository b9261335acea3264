"""Linux on the virt board uses our virtio disks, 9p shares and entropy device.

Three boots of the default guest, driven over pipes like a user would:

1. a fresh ext4 disk and a shared folder: the guest writes a file to the
   disk, reads a host file over 9p, writes one back, and fails to read a
   canary outside the share through `..`-style and absolute symlinks;
2. the same disk again (wasm32 this time): the file written in boot 1 is
   there — nothing was lost at power-off;
3. the image's ext4 root filesystem with root=/dev/vda and snapshot=on: the
   guest runs from the disk and writes to it, and the file stays
   byte-for-byte unchanged.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.machine.guest import answer, run_guest

CANARY = "canary-outside-the-share-7f3a"
APPEND = "console=ttyS0 quiet panic=-1"


@pytest.fixture(scope="module")
def image():
    pytest.importorskip("yaml")
    from wasmemu_images.image import ensure_image

    return ensure_image()


@pytest.fixture(scope="module")
def data_disk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    mke2fs = shutil.which("mke2fs") or "/usr/sbin/mke2fs"
    if not Path(mke2fs).exists():
        pytest.skip("mke2fs (e2fsprogs) is not installed")
    disk = tmp_path_factory.mktemp("disk") / "data.ext4"
    subprocess.run([mke2fs, "-q", "-F", "-t", "ext4", str(disk), "16M"], check=True)
    return disk


@pytest.fixture(scope="module")
def share(tmp_path_factory: pytest.TempPathFactory) -> Path:
    top = tmp_path_factory.mktemp("9p")
    outside = top / "outside"
    outside.mkdir()
    (outside / "canary.txt").write_text(CANARY + "\n")
    folder = top / "share"
    folder.mkdir()
    (folder / "hello.txt").write_text("hello from the host\n")
    (folder / "escape-rel").symlink_to("../outside/canary.txt")
    (folder / "escape-abs").symlink_to(outside / "canary.txt")
    return folder


@pytest.fixture(scope="module")
def first_boot(image, data_disk: Path, share: Path) -> str:
    commands = "\n".join([
        "mkdir -p /mnt/d && mount /dev/vda /mnt/d && echo persisted-$((6*7)) > /mnt/d/note.txt"
        " && umount /mnt/d && echo disk-ok",
        "cat /mnt/host0/hello.txt",
        "echo written-by-guest > /mnt/host0/from-guest.txt && echo 9p-write-ok",
        "cat /mnt/host0/escape-rel /mnt/host0/escape-abs /mnt/host0/../outside/canary.txt; echo",
        "ls /mnt/host0/.. | wc -l",
        "cat /sys/class/misc/hw_random/rng_current",
        "poweroff -f",
    ]) + "\n"  # fmt: skip
    status, out = run_guest(
        "-drive", f"if=virtio,format=raw,file={data_disk}",
        "-virtfs", f"local,path={share},mount_tag=host0,security_model=none",
        commands=commands,
    )  # fmt: skip
    assert status == 0, out[-3000:]
    return out


def test_the_guest_writes_to_its_disk(first_boot: str) -> None:
    assert answer(first_boot, "umount /mnt/d && echo disk-ok") == "disk-ok", first_boot[-3000:]


def test_a_host_file_is_read_over_9p(first_boot: str) -> None:
    assert "wasmemu: 9p share host0 on /mnt/host0" in first_boot
    assert answer(first_boot, "cat /mnt/host0/hello.txt") == "hello from the host"


def test_a_file_written_over_9p_appears_on_the_host(first_boot: str, share: Path) -> None:
    assert answer(first_boot, "echo written-by-guest > /mnt/host0/from-guest.txt && echo "
                  "9p-write-ok") == "9p-write-ok"  # fmt: skip
    assert (share / "from-guest.txt").read_text() == "written-by-guest\n"


def test_nothing_outside_the_share_is_reachable(first_boot: str, share: Path) -> None:
    # Symlinks resolve in the guest's own namespace, `..` of the mount is the guest's /mnt.
    assert CANARY not in first_boot
    assert (share.parent / "outside" / "canary.txt").read_text() == CANARY + "\n"
    assert sorted(p.name for p in share.iterdir()) == [
        "escape-abs", "escape-rel", "from-guest.txt", "hello.txt",
    ]  # fmt: skip


def test_the_guest_has_a_virtio_entropy_source(first_boot: str) -> None:
    assert answer(first_boot, "cat /sys/class/misc/hw_random/rng_current").startswith("virtio_rng")


def test_the_disk_keeps_what_the_guest_wrote(first_boot: str, data_disk: Path) -> None:
    commands = "mkdir -p /mnt/d && mount /dev/vda /mnt/d && cat /mnt/d/note.txt\npoweroff -f\n"
    status, out = run_guest(
        "--wasm", "wasm32", "-drive", f"if=virtio,format=raw,file={data_disk}",
        commands=commands,
    )  # fmt: skip
    assert status == 0, out[-3000:]
    assert answer(out, "mount /dev/vda /mnt/d && cat /mnt/d/note.txt") == "persisted-42"


def test_root_on_disk_with_snapshot_leaves_the_image_unchanged(image, tmp_path: Path) -> None:
    from wasmemu_images.image import copy_rootfs

    rootfs = copy_rootfs(tmp_path / "rootfs.ext4")
    before = hashlib.sha256(rootfs.read_bytes()).hexdigest()
    commands = "echo changed > /root/x && sync && cat /root/x\ncat /proc/mounts | grep -c vda\n"
    commands += "poweroff -f\n"
    status, out = run_guest(
        "-drive", f"if=virtio,format=raw,file={rootfs},snapshot=on",
        "-append", f"{APPEND} root=/dev/vda",
        commands=commands,
    )  # fmt: skip
    assert status == 0, out[-3000:]
    assert "rootfs on /dev/vda" in out, out[-3000:]
    assert answer(out, "echo changed > /root/x && sync && cat /root/x") == "changed"
    assert answer(out, "cat /proc/mounts | grep -c vda") == "1"
    assert hashlib.sha256(rootfs.read_bytes()).hexdigest() == before
