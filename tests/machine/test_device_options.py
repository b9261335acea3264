"""QEMU's -drive/-virtfs/-device spellings, and the clear errors for what cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.hw.virtio.blk import VirtioBlk
from engine.hw.virtio.p9 import Virtio9p
from engine.hw.virtio.rng import VirtioRng
from engine.machine.device_options import DeviceOptionError, DeviceRequests, parse_keyvals


@pytest.fixture
def disk(tmp_path: Path) -> Path:
    path = tmp_path / "a.img"
    path.write_bytes(bytes(4096))
    return path


def build(*options: tuple[str, str]) -> list:
    requests = DeviceRequests()
    for option, text in options:
        requests.add(option, text)
    return requests.build()


def test_keyvals_follow_qemu_comma_escaping() -> None:
    assert parse_keyvals("-drive", "file=a,,b.img,format=raw") == {
        "file": "a,b.img",
        "format": "raw",
    }
    with pytest.raises(DeviceOptionError, match="'oops' is not key=value"):
        parse_keyvals("-drive", "file=a,oops")


def test_devices_in_command_line_order_with_entropy_last(disk: Path, tmp_path: Path) -> None:
    devices = build(
        ("-drive", f"if=virtio,format=raw,file={disk}"),
        ("-virtfs", f"local,path={tmp_path},mount_tag=host0,security_model=none"),
        ("-drive", f"file={disk},readonly=on"),
    )
    assert [type(d) for d in devices] == [VirtioBlk, Virtio9p, VirtioBlk, VirtioRng]
    assert devices[2].disk.readonly and devices[1].tag == "host0"


def test_qemus_long_form_and_an_explicit_rng(disk: Path) -> None:
    devices = build(
        ("-device", "virtio-rng-device"),
        ("-drive", f"if=none,id=hd0,format=raw,file={disk}"),
        ("-device", "virtio-blk-device,drive=hd0,serial=abc"),
    )
    assert [type(d) for d in devices] == [VirtioRng, VirtioBlk]
    assert devices[1].serial == b"abc"


def test_snapshot_everywhere(disk: Path) -> None:
    requests = DeviceRequests()
    requests.add("-drive", f"file={disk}")
    requests.snapshot_all = True
    [blk, _rng] = requests.build()
    assert blk.disk.overlay == {}


@pytest.mark.parametrize(
    ("option", "text", "message"),
    [
        ("-drive", "if=ide,file=x", "virtio disks only"),
        ("-drive", "format=raw", "needs file=PATH"),
        ("-drive", "file=x,readonly=maybe", "say on or off"),
        ("-drive", "file=x,bogus=1", "unknown parameter 'bogus'"),
        ("-drive", "if=none,file=x", "needs id=NAME"),
        ("-virtfs", "proxy,path=/,mount_tag=t", "only the 'local' driver"),
        ("-virtfs", "local,path=/tmp", "needs path=DIR and mount_tag=TAG"),
        ("-virtfs", "local,path=/tmp,mount_tag=t,security_model=mapped-xattr", "security_model"),
        ("-device", "e1000", "unknown device"),
        ("-device", "virtio-blk-device,drive=nope", "no -drive if=none,id=nope"),
    ],
)
def test_bad_options_say_what_is_wrong(option: str, text: str, message: str) -> None:
    with pytest.raises(DeviceOptionError, match=message):
        DeviceRequests().add(option, text)


def test_problems_found_when_opening(tmp_path: Path, disk: Path) -> None:
    with pytest.raises(DeviceOptionError, match="no such file"):
        build(("-drive", f"file={tmp_path / 'missing.img'}"))
    with pytest.raises(DeviceOptionError, match="format 'qcow2'"):
        build(("-drive", f"file={disk},format=qcow2"))
    with pytest.raises(DeviceOptionError, match="no such directory"):
        build(("-virtfs", f"local,path={tmp_path / 'nope'},mount_tag=t"))
    requests = DeviceRequests()
    requests.add("-drive", f"if=none,id=lonely,file={disk}")
    with pytest.raises(DeviceOptionError, match="drive=lonely"):
        requests.build()
