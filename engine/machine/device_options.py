"""QEMU's device options for the virt board: -drive, -virtfs, -device, -snapshot.

Accepted forms (QEMU's spelling, so command lines carry over):

    -drive if=virtio,format=raw,file=FILE[,readonly=on][,snapshot=on][,serial=S]
    -drive if=none,id=ID,file=FILE,...  plus  -device virtio-blk-device,drive=ID
    -virtfs local,path=DIR,mount_tag=TAG,security_model=none[,readonly=on]
    -device virtio-rng-device
    -snapshot                              (snapshot=on for every drive)

Devices take transports in command-line order, so the first disk named is
/dev/vda. An entropy device is added last unless one was asked for (or
`-device virtio-rng-device` appears), so the guest has entropy early.
Parsing only records what was asked; `build` opens files and reports every
problem as a `DeviceOptionError` naming the option and the fix.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from engine.hw.virtio.blk import VirtioBlk
from engine.hw.virtio.device import VirtioDevice
from engine.hw.virtio.disk import Disk, DriveError, DriveOptions
from engine.hw.virtio.p9 import MAX_TAG, Virtio9p
from engine.hw.virtio.rng import VirtioRng

ON, OFF = ("on", "true", "yes", "1"), ("off", "false", "no", "0")


class DeviceOptionError(Exception):
    """A device option that cannot be honoured; the message says why and what to do."""


@dataclass(frozen=True)
class ShareOptions:
    path: str
    tag: str
    readonly: bool = False


@dataclass
class DeviceRequests:
    """What the command line asked for, in order, before any file is opened."""

    items: list[DriveOptions | ShareOptions | str] = field(default_factory=list)
    unattached: dict[str, DriveOptions] = field(default_factory=dict)  # if=none drives by id
    snapshot_all: bool = False
    rng: bool = True

    def add(self, option: str, text: str) -> None:
        if option == "-drive":
            self._drive(text)
        elif option == "-virtfs":
            self._virtfs(text)
        elif option == "-device":
            self._device(text)
        else:
            raise ValueError(option)

    def _drive(self, text: str) -> None:
        opts = parse_keyvals("-drive", text)
        interface = opts.pop("if", "virtio")
        ident = opts.pop("id", "")
        if interface not in ("virtio", "none"):
            raise DeviceOptionError(f"-drive if={interface}: the virt board has virtio disks only "
                                    "(use if=virtio)")  # fmt: skip
        file = opts.pop("file", "")
        if not file:
            raise DeviceOptionError("-drive needs file=PATH (a raw disk image)")
        drive = DriveOptions(
            file=file,
            format=opts.pop("format", "raw"),
            readonly=flag("-drive", opts, "readonly"),
            snapshot=flag("-drive", opts, "snapshot"),
            serial=opts.pop("serial", ""),
        )
        if opts.pop("media", "disk") != "disk":
            raise DeviceOptionError("-drive media=cdrom: the virt board has disks only")
        opts.pop("cache", None)  # host caching policy: writes always go straight to the file
        unknown(opts, "-drive")
        if interface == "none":
            if not ident:
                raise DeviceOptionError("-drive if=none needs id=NAME for -device ...,drive=NAME")
            self.unattached[ident] = drive
        else:
            self.items.append(drive)

    def _virtfs(self, text: str) -> None:
        driver, _, rest = text.partition(",")
        if driver != "local":
            raise DeviceOptionError(
                f"-virtfs {driver}: only the 'local' driver exists "
                "(-virtfs local,path=DIR,mount_tag=TAG,security_model=none)"
            )
        opts = parse_keyvals("-virtfs", rest)
        path, tag = opts.pop("path", ""), opts.pop("mount_tag", "")
        if not path or not tag:
            raise DeviceOptionError("-virtfs needs path=DIR and mount_tag=TAG")
        if not 0 < len(tag.encode()) <= MAX_TAG:
            raise DeviceOptionError(f"-virtfs mount_tag must be 1 to {MAX_TAG} bytes")
        model = opts.pop("security_model", "none")
        if model not in ("none", "passthrough"):
            raise DeviceOptionError(f"-virtfs security_model={model}: wasmemu shares files as "
                                    "they are (security_model=none)")  # fmt: skip
        readonly = flag("-virtfs", opts, "readonly")
        opts.pop("id", None)
        unknown(opts, "-virtfs")
        self.items.append(ShareOptions(path, tag, readonly))

    def _device(self, text: str) -> None:
        driver, _, rest = text.partition(",")
        opts = parse_keyvals("-device", rest)
        if driver in ("virtio-rng-device", "virtio-rng"):
            opts.pop("id", None)
            unknown(opts, "-device " + driver)
            self.items.append("rng")
            self.rng = False  # it is placed where it was asked for; no default one
        elif driver in ("virtio-blk-device", "virtio-blk"):
            name = opts.pop("drive", "")
            opts.pop("id", None)
            serial = opts.pop("serial", None)
            unknown(opts, "-device " + driver)
            drive = self.unattached.pop(name, None)
            if drive is None:
                raise DeviceOptionError(f"-device {driver}: no -drive if=none,id={name} before it")
            if serial is not None:
                drive = dataclasses.replace(drive, serial=serial)
            self.items.append(drive)
        else:
            raise DeviceOptionError(
                f"-device {driver}: unknown device; the virt board has "
                "virtio-blk-device and virtio-rng-device (and -virtfs)"
            )

    def build(self) -> list[VirtioDevice]:
        """Open every file and create the devices, in transport order."""
        if self.unattached:
            name = next(iter(self.unattached))
            raise DeviceOptionError(f"-drive id={name} is never attached; add "
                                    f"-device virtio-blk-device,drive={name}")  # fmt: skip

        devices: list[VirtioDevice] = []
        try:
            for item in self.items + (["rng"] if self.rng else []):
                devices.append(self._create(item))
        except BaseException:
            for device in devices:
                device.close()
            raise
        return devices

    def _create(self, item: DriveOptions | ShareOptions | str) -> VirtioDevice:
        from engine.hw.virtio.ninep import NinePConfigError, NinePServer

        try:
            if isinstance(item, DriveOptions):
                if self.snapshot_all:
                    item = dataclasses.replace(item, snapshot=True)
                return VirtioBlk(Disk(item), item.serial)
            if isinstance(item, ShareOptions):
                if not os.path.isdir(item.path):
                    raise DeviceOptionError(f"-virtfs path={item.path}: no such directory")
                return Virtio9p(NinePServer(item.path, readonly=item.readonly), item.tag)
        except (DriveError, NinePConfigError) as exc:
            raise DeviceOptionError(str(exc)) from None
        return VirtioRng()


def parse_keyvals(option: str, text: str) -> dict[str, str]:
    """QEMU's key=value,key=value syntax, where ",," is a literal comma."""
    out: dict[str, str] = {}
    if not text:
        return out
    parts, current, i = [], [], 0
    while i < len(text):
        if text[i] == ",":
            if text[i + 1 : i + 2] == ",":
                current.append(",")
                i += 2
                continue
            parts.append("".join(current))
            current = []
        else:
            current.append(text[i])
        i += 1
    parts.append("".join(current))
    for part in parts:
        key, eq, val = part.partition("=")
        if not eq:
            raise DeviceOptionError(f"{option}: '{part}' is not key=value")
        out[key] = val
    return out


def flag(option: str, opts: dict[str, str], key: str) -> bool:
    value = opts.pop(key, "off")
    if value in ON:
        return True
    if value in OFF:
        return False
    raise DeviceOptionError(f"{option} {key}={value}: say on or off")


def unknown(opts: dict[str, str], option: str) -> None:
    if opts:
        raise DeviceOptionError(f"{option}: unknown parameter '{next(iter(opts))}'")
