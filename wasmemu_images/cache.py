"""The single cache folder for everything wasmemu downloads or builds.

Location, first match wins:

1. ``$WASMEMU_CACHE``
2. ``$XDG_CACHE_HOME/wasmemu`` (only if ``XDG_CACHE_HOME`` is an absolute path,
   as the XDG base directory specification asks)
3. ``~/.cache/wasmemu``

Everything below it can be re-created (Debian indexes and packages are fetched
again, test programs are recompiled), so the whole folder may be deleted at any
time, also between two test runs. Code that writes here must therefore never
assume a file it created earlier still exists, and should write files
atomically (temporary name, then ``os.replace``) because several pytest-xdist
workers may fill the cache at the same moment.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "cache_root"]


def cache_root() -> Path:
    """Return the cache folder (not created)."""
    explicit = os.environ.get("WASMEMU_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "wasmemu"
    return Path.home() / ".cache" / "wasmemu"


def cache_dir(*parts: str) -> Path:
    """Return ``cache_root()/parts...``, creating the folders as needed."""
    for part in parts:
        # A part such as "../x" or "/abs" would escape the cache, and deleting
        # the cache would then no longer remove everything we created.
        if not part or part in (".", "..") or "/" in part or os.sep in part:
            raise ValueError(f"invalid cache path component: {part!r}")
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
