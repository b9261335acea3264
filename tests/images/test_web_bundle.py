"""The web bundle: engine and guest as file packages, and the options that boot them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wasmemu_images.file_packager import load_metadata, metadata_path_for, read_package
from wasmemu_images.image import ensure_image
from wasmemu_images.web_bundle import ENGINE_PACKAGE, build_bundle, engine_files


@pytest.fixture(scope="module")
def image():
    return ensure_image()


def test_the_bundle_holds_the_engine_and_the_guest_and_boots_from_them(
    image, tmp_path: Path
) -> None:
    folder = build_bundle(image, tmp_path)
    doc = json.loads((folder / "bundle.json").read_text())
    datas = [p["data"] for p in doc["packages"]]
    assert datas == [ENGINE_PACKAGE, "guest-default.data"]
    engine = read_package(
        folder / ENGINE_PACKAGE, load_metadata(metadata_path_for(folder / ENGINE_PACKAGE))
    )
    assert "/wasmemu/engine/pyodide_main.py" in engine
    assert not any("__pycache__" in name for name in engine)
    guest_data = folder / "guest-default.data"
    guest = read_package(guest_data, load_metadata(metadata_path_for(guest_data)))
    assert guest["/guest/Image"] == image.kernel.read_bytes()
    argv = doc["argv"]
    for option, path in zip(argv[0:6:2], argv[1:6:2], strict=True):
        assert option in ("-bios", "-kernel", "-initrd") and path in guest
    assert argv[6:] == ["-append", image.append]


def test_an_unchanged_bundle_is_reused_and_a_changed_engine_repackaged(
    image, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = build_bundle(image, tmp_path)
    guest_mtime = (folder / "guest-default.data").stat().st_mtime_ns
    engine_mtime = (folder / ENGINE_PACKAGE).stat().st_mtime_ns
    build_bundle(image, tmp_path)
    assert (folder / "guest-default.data").stat().st_mtime_ns == guest_mtime
    assert (folder / ENGINE_PACKAGE).stat().st_mtime_ns == engine_mtime
    # A changed engine source: only the engine package is written again.
    fake = tmp_path / "engine-src"
    (fake / "sub").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "sub" / "mod.py").write_text("X = 1\n")
    import wasmemu_images.web_bundle as web_bundle

    monkeypatch.setattr(web_bundle, "engine_files", lambda: engine_files(fake))
    build_bundle(image, tmp_path)
    assert (folder / "guest-default.data").stat().st_mtime_ns == guest_mtime
    meta = load_metadata(metadata_path_for(folder / ENGINE_PACKAGE))
    assert [f.filename for f in meta.files] == [
        "/wasmemu/engine/__init__.py",
        "/wasmemu/engine/sub/mod.py",
    ]
