"""FDT encoder/decoder: blob layout, strings, phandles, reservations, round trips."""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest

from engine.hw.fdt import (
    FDT_MAGIC,
    DeviceTree,
    FdtNode,
    decode_dtb,
    node_at,
    strings,
    u32s,
    walk,
)


def sample() -> DeviceTree:
    dt = DeviceTree(boot_cpuid=3)
    root = dt.root
    root.set_u32("#address-cells", 2).set_u32("#size-cells", 2)
    root.set_string("model", "test,board")
    soc = dt.add_node("/soc")
    soc.set_empty("ranges")
    intc = soc.add_node("intc@1000")
    intc.set_empty("interrupt-controller").set_u32("#interrupt-cells", 1)
    dev = dt.add_node("/soc/dev@2000")
    dev.set_cells("reg", [0, 0x2000, 0, 0x100])
    dev.set_u32("interrupt-parent", dt.phandle(intc))
    dev.set_strings("compatible", ["vendor,dev2", "vendor,dev"])
    dev.set_u64("big", 0x1122334455667788)
    dev.set_bytes("blob", b"\x01\x02\x03")
    dt.reserve(0x8000_0000, 0x20_0000)
    dt.reserve(0x1_0000_0000, 0x1000)
    return dt


def test_header_and_layout() -> None:
    blob = sample().to_dtb(pad=64)
    fields = struct.unpack_from(">10I", blob)
    magic, total, off_struct, off_strings, off_rsv, version, last_comp, cpuid, ssize, tsize = fields
    assert magic == FDT_MAGIC
    assert total == len(blob)
    assert (version, last_comp, cpuid) == (17, 16, 3)
    assert off_rsv == 40 and off_rsv % 8 == 0
    assert off_struct == off_rsv + 16 * 3  # two entries and the terminator
    assert off_struct % 4 == 0 and off_strings == off_struct + tsize
    assert off_strings + ssize + 64 == total
    assert blob[off_struct + tsize - 4 : off_struct + tsize] == struct.pack(">I", 9)


def test_round_trip() -> None:
    decoded = decode_dtb(sample().to_dtb())
    assert decoded.boot_cpuid == 3
    assert decoded.reservations == [(0x8000_0000, 0x20_0000), (0x1_0000_0000, 0x1000)]
    root = decoded.root
    assert u32s(root["props"]["#address-cells"]) == [2]
    assert strings(root["props"]["model"]) == ["test,board"]
    dev = node_at(root, "/soc/dev@2000")
    assert u32s(dev["props"]["reg"]) == [0, 0x2000, 0, 0x100]
    assert strings(dev["props"]["compatible"]) == ["vendor,dev2", "vendor,dev"]
    assert dev["props"]["big"] == bytes.fromhex("1122334455667788")
    assert dev["props"]["blob"] == b"\x01\x02\x03"
    intc = node_at(root, "/soc/intc@1000")
    assert intc["props"]["interrupt-controller"] == b""
    assert u32s(intc["props"]["phandle"]) == u32s(dev["props"]["interrupt-parent"]) == [1]
    assert node_at(root, "/soc")["props"]["ranges"] == b""
    assert [path for path, _ in walk(root)] == ["/", "/soc", "/soc/intc@1000", "/soc/dev@2000"]


def test_strings_block_is_deduplicated() -> None:
    dt = DeviceTree()
    for i in range(5):
        node = dt.root.add_node(f"n{i}")
        node.set_u32("#address-cells", i).set_u32("address-cells", i).set_string("compatible", "x")
    blob = dt.to_dtb()
    off_strings, _, _, _, _, size_strings = struct.unpack_from(">6I", blob, 12)
    block = blob[off_strings : off_strings + size_strings]
    # "address-cells" is the tail of "#address-cells": both share its bytes.
    assert block == b"#address-cells\0compatible\0"
    node = decode_dtb(blob).root["children"]["n3"]
    assert u32s(node["props"]["address-cells"]) == [3]


def test_phandles_are_numbered_once() -> None:
    dt = DeviceTree()
    a, b = dt.root.add_node("a"), dt.root.add_node("b")
    assert dt.phandle(a) == 1
    assert dt.phandle(b) == 2
    assert dt.phandle(a) == 1


def test_bad_input_is_rejected() -> None:
    node = FdtNode("x")
    with pytest.raises(ValueError):
        node.add_node("bad name")
    node.add_node("ok@10")
    with pytest.raises(ValueError):
        node.add_node("ok@10")
    with pytest.raises(ValueError):
        node.set_u32("too big", 1)
    with pytest.raises(ValueError):
        node.set_u32("v", 1 << 32)
    with pytest.raises(ValueError):
        node.set_cells("v", [-1])
    with pytest.raises(ValueError):
        node.set_u64("v", 1 << 64)
    with pytest.raises(ValueError):
        node.set_string("s", "a\0b")
    with pytest.raises(KeyError):
        DeviceTree().node("/missing")


@pytest.mark.parametrize(
    "blob",
    [b"", b"\xd0\x0d\xfe\xed" + bytes(36), bytes(40), struct.pack(">I", FDT_MAGIC) + bytes(60)],
)
def test_decoder_rejects_garbage(blob: bytes) -> None:
    with pytest.raises((ValueError, struct.error)):
        decode_dtb(blob)


@pytest.mark.skipif(shutil.which("dtc") is None, reason="dtc (device-tree-compiler) not installed")
def test_dtc_reads_our_blob_like_we_do(tmp_path) -> None:
    ours = tmp_path / "ours.dtb"
    ours.write_bytes(sample().to_dtb())
    again = tmp_path / "again.dtb"
    run = subprocess.run(
        ["dtc", "-I", "dtb", "-O", "dtb", "-o", str(again), str(ours)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "ERROR" not in run.stderr
    mine, theirs = decode_dtb(ours.read_bytes()), decode_dtb(again.read_bytes())
    assert mine.root == theirs.root
    assert mine.reservations == theirs.reservations
    assert mine.boot_cpuid == theirs.boot_cpuid
    dts = subprocess.run(
        ["dtc", "-I", "dtb", "-O", "dts", str(ours)], capture_output=True, text=True, check=True
    ).stdout
    assert "/memreserve/\t0x0000000080000000 0x0000000000200000;" in dts
    assert "blob = [01 02 03];" in dts
    assert 'compatible = "vendor,dev2\\0vendor,dev";' in dts
    assert "big = <0x11223344 0x55667788>;" in dts
