"""Command-line front ends for the image builder (used by ``invoke images``)."""

from __future__ import annotations

from rich.console import Console

from wasmemu_images.debian import FetchError
from wasmemu_images.image import ImageError, ensure_image
from wasmemu_images.progress import BuildProgress
from wasmemu_images.recipe import RecipeError

__all__ = ["images_command"]


def images_command(name: str = "default", *, force: bool = False, rootfs: bool = False) -> None:
    """Build (or reuse) image ``name`` with a progress display and print a summary.

    ``rootfs`` also makes (or checks) the image's ext4 root disk.
    """
    console = Console(stderr=True)
    try:
        with BuildProgress(console) as progress:
            image = ensure_image(name, progress=progress, force=force, rootfs=rootfs)
    except (ImageError, RecipeError, FetchError) as exc:
        console.print(f"[red]images: {exc}", highlight=False)
        raise SystemExit(1) from None
    print(f"image {image.name}: {image.path}")
    for package, version in image.packages.items():
        print(f"  package  {package} {version}")
    for file, entry in image.manifest["files"].items():
        if file == image.manifest["boot"].get("rootfs") and image.rootfs is None:
            continue  # not verified this time, so not vouched for
        print(f"  file     {file:<20} {entry['size']:>10} bytes  sha256 {entry['sha256'][:16]}")
    print(f"  append   {image.append}")
    if image.rootfs is not None:
        print(f"  rootfs   {image.rootfs} (a template: boot a copy)")
