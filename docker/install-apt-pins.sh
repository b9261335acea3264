#!/bin/sh
# Installs the build tools from the base image's own distribution, at the versions
# pinned for it in apt-pins/<ID>-<VERSION_CODENAME>.txt ("package=version" per line).
# A base with no pin list stops the build: unpinned tools would make builds differ.
set -eu
. /etc/os-release
pins="/opt/wasmemu/apt-pins/${ID}-${VERSION_CODENAME:-unknown}.txt"
if [ ! -f "$pins" ]; then
    echo "wasmemu: no pinned package list for ${ID} ${VERSION_CODENAME:-?} ($pins);" >&2
    echo "  write one (package=version per line, like debian-bookworm.txt), or build on a" >&2
    echo "  Debian 12 base: invoke container --base-from-debian (no registry needed) or" >&2
    echo "  invoke container --base debian:12-slim" >&2
    exit 1
fi
apt-get update -q
# shellcheck disable=SC2046
apt-get install -y -q --no-install-recommends $(grep -v '^#' "$pins")
rm -rf /var/lib/apt/lists/*
