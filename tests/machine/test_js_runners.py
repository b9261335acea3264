"""The engine under Pyodide: the Node.js runner (Node 20 and 24) and the browser page.

Each boot test starts the default guest the way a user does (`node run.mjs`
over pipes, or the page in headless Chromium), types commands, checks the
answers and powers the guest off. The bad-input tests check that a damaged
package, a missing bundle, a missing WebAssembly feature and a page without
cross-origin isolation each end in words, not a traceback or a blank page.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.target.riscv.cpu import BOOT_THRESHOLD
from tests.machine.guest import answer
from tests.pyodide_harness import require_node
from wasmemu_images.cache import cache_root
from wasmemu_images.image import ensure_image
from wasmemu_images.web_bundle import build_bundle
from wasmemu_images.web_server import PageServer

ROOT = Path(__file__).resolve().parents[2]
RUN_MJS = ROOT / "packaging" / "node" / "run.mjs"
DRIVE_PAGE = ROOT / "tests" / "web" / "drive_page.mjs"
ARTIFACTS = ROOT / "build" / "test-artifacts"
COMMANDS = ["uname -m", "echo js-$((6*7))", "cat /sys/class/tty/ttyS0/type"]
BOOT_TIMEOUT = 1800


@pytest.fixture(scope="module")
def bundle() -> Path:
    require_node()
    return build_bundle(ensure_image())


def node_run(node: str, bundle: Path, *options: str, stdin: str = "", timeout: int = 120):
    return subprocess.run(
        [node, str(RUN_MJS), "--bundle", str(bundle), *options],
        input=stdin.encode(), capture_output=True, timeout=timeout,
    )  # fmt: skip


def check_boot(result: subprocess.CompletedProcess[bytes]) -> None:
    console = result.stdout.decode(errors="replace")
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    assert answer(console, "uname -m") == "riscv64"
    assert answer(console, "echo js-$((6*7))") == "js-42"
    assert answer(console, "cat /sys/class/tty/ttyS0/type") == "4"  # PORT_16550A
    assert "reboot: Power down" in console


def script(commands: list[str]) -> str:
    return "".join(f"{c}\n" for c in [*commands, "poweroff -f"])


# One worker boots both Nodes in turn, so the second finds the first's translations
# in the shared cache folder (the cold Pyodide boot is the slowest test of all).
@pytest.mark.xdist_group("pyodide-translation-cache")
def test_node20_boots_the_default_guest_on_wasm32(bundle: Path) -> None:
    check_boot(node_run("node", bundle, stdin=script(COMMANDS), timeout=BOOT_TIMEOUT))


@pytest.mark.xdist_group("pyodide-translation-cache")
def test_node24_boots_the_default_guest_on_wasm64(bundle: Path) -> None:
    from wasmemu_images.node_setup import node24_binary

    node24 = str(node24_binary())
    # The runner mounts its cache folder at /cache; the stats say which variant ran.
    stats = cache_root() / "test-node24-stats.json"
    stats.unlink(missing_ok=True)
    result = node_run(node24, bundle, "--stats", "/cache/" + stats.name,
                      stdin=script(COMMANDS), timeout=BOOT_TIMEOUT)  # fmt: skip
    check_boot(result)
    ran = json.loads(stats.read_text())
    stats.unlink()
    assert ran["wasm"] == "wasm64", "Node 24 has memory64 and multi-memory: auto is wasm64"
    assert ran["ram_apart"], "under Pyodide, wasm64 keeps guest RAM in a memory of its own"
    assert (ran["tier"], ran["tb_threshold"]) == ("auto", BOOT_THRESHOLD), "the boot's own policy"


def test_wasm64_is_refused_in_words_without_memory64(bundle: Path) -> None:
    result = node_run("node", bundle, "--wasm", "wasm64", stdin=script([]))
    err = result.stderr.decode()
    assert result.returncode == 1
    assert "lacks" in err and "memory64" in err and "--wasm wasm32" in err
    assert "Traceback" not in err


def test_a_damaged_guest_package_is_refused_before_booting(bundle: Path, tmp_path: Path) -> None:
    for item in bundle.iterdir():
        shutil.copy(item, tmp_path / item.name)
    data = tmp_path / "guest-default.data"
    blob = bytearray(data.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    data.write_bytes(bytes(blob))
    result = node_run("node", tmp_path, stdin=script([]))
    err = result.stderr.decode()
    assert result.returncode == 1
    assert "checksum mismatch" in err and "invoke images" in err and "Traceback" not in err


def test_a_missing_bundle_says_how_to_build_one(tmp_path: Path) -> None:
    require_node()
    result = node_run("node", tmp_path / "nothing-here")
    assert result.returncode == 1
    assert b"invoke run --node" in result.stderr


# -- the browser page ------------------------------------------------------------------------
@pytest.fixture
def page_server(bundle: Path) -> Iterator[PageServer]:
    server = PageServer(bundle, port=0)
    server.start_in_background()
    yield server
    server.shutdown()
    server.server_close()


def drive_page(
    url: str, screenshot: Path, timeout: int, commands: list[str], options: tuple[str, ...] = ()
) -> dict:
    """One visit of the page (drive_page.mjs); `options` go to drive_page.mjs."""
    if shutil.which("chromium") is None:
        pytest.fail("Debian's chromium is not installed; scripts/bootstrap installs it")
    result = subprocess.run(
        ["node", str(DRIVE_PAGE), *options, url, str(screenshot), str(timeout), *commands],
        capture_output=True, text=True, timeout=timeout + 120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_chromium_boots_the_default_guest_in_the_page_and_faster_the_second_visit(
    page_server: PageServer, tmp_path: Path
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    profile = ("--profile", str(tmp_path / "browser-profile"))
    # The first visit boots from nothing and is closed like a tab, without a power-off:
    # the translations it keeps are the ones saved while the guest sat at its prompt.
    first_shot = ARTIFACTS / "page-boot.png"
    first = drive_page(page_server.url, first_shot, BOOT_TIMEOUT, COMMANDS,
                       (*profile, "--until-cache-saved"))  # fmt: skip
    assert first["isolated"] is True
    assert first["exitStatus"] is None and not first["failed"], first
    assert answer(first["screen"], "uname -m") == "riscv64"
    assert answer(first["screen"], "echo js-$((6*7))") == "js-42"
    assert first["cache"]["restoredBytes"] == 0
    assert first["cache"]["saves"] >= 1 and first["cache"]["savedBytes"] > 1 << 20, first["cache"]
    assert first_shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    second = drive_page(page_server.url, ARTIFACTS / "page-boot-again.png", BOOT_TIMEOUT,
                        [*COMMANDS, "poweroff -f"], profile)  # fmt: skip
    assert second["exitStatus"] == 0, second
    assert answer(second["screen"], "uname -m") == "riscv64"
    assert second["status"] == "The guest powered off."
    assert second["cache"]["restoredBytes"] == first["cache"]["savedBytes"]
    stats = second["stats"]
    assert stats["modules_compiled_before"] > 100, stats  # the first visit's compiled code
    assert stats["tcache_hits"] > 10_000, stats


class _NotIsolated(PageServer):
    """The page served like any static site: without the COOP/COEP headers."""

    headers: dict[str, str] = {}


def test_a_page_without_cross_origin_isolation_says_so(bundle: Path, tmp_path: Path) -> None:
    server = _NotIsolated(bundle, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        got = drive_page(server.url, tmp_path / "plain.png", 60, [])
    finally:
        server.shutdown()
        server.server_close()
    assert got["isolated"] is False and got["failed"] is True
    assert "not cross-origin isolated" in got["status"] and "invoke serve" in got["status"]
