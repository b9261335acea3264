"""Fixtures for the image tests: isolated image caches that share the Debian downloads.

Each test cache is a temporary folder whose ``debian/`` is a link to the real
cache's, so packages are fetched once per machine while every test builds
into (and may damage) images of its own.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from wasmemu_images.cache import cache_dir
from wasmemu_images.debian import FetchError
from wasmemu_images.image import Image
from wasmemu_images.recipe import recipe_path


@pytest.fixture(scope="session")
def new_image_cache(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], Path]:
    """Make an empty cache root that reuses the shared Debian package cache."""

    def make() -> Path:
        root = tmp_path_factory.mktemp("cache")
        os.symlink(cache_dir("debian"), root / "debian")
        return root

    return make


@pytest.fixture(scope="session")
def build_default() -> Callable[..., Image]:
    """``build_default(cache, rootfs=False)`` builds the default image there, or
    skips the test when its packages are not cached and the Debian archive is
    out of reach (or, for the root disk, e2fsprogs is not installed)."""
    from wasmemu_images.build import build_image

    def build(cache: Path, rootfs: bool = False) -> Image:
        if rootfs and not shutil.which("mke2fs", path=f"{os.environ['PATH']}:/usr/sbin:/sbin"):
            pytest.skip("mke2fs not installed (Debian package e2fsprogs)")
        try:
            return build_image(recipe_path("default"), cache=cache, rootfs=rootfs)
        except FetchError as exc:
            if exc.reason in ("network", "tool-missing", "no-mirror"):
                pytest.skip(
                    "the default image's packages are not cached and the Debian archive "
                    f"cannot be used here ({exc.reason}): {exc}"
                )
            raise

    return build


@pytest.fixture(scope="session")
def default_image(
    new_image_cache: Callable[[], Path], build_default: Callable[..., Image]
) -> Image:
    """The default image, built once per session into a private cache."""
    return build_default(new_image_cache())


@pytest.fixture(scope="session")
def rootfs_image(new_image_cache: Callable[[], Path], build_default: Callable[..., Image]) -> Image:
    """The default image with its ext4 root disk, built once per session."""
    return build_default(new_image_cache(), rootfs=True)
