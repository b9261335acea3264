"""Fetch Debian packages of another suite or architecture without touching the
host's apt state.

The host may run any Debian release (the development machines run bookworm,
which has no riscv64 port); the guest images come from trixie. We drive the
host's own ``apt-get``/``apt-cache`` with a private configuration that lives in
the wasmemu cache (see :mod:`wasmemu_images.cache`):

* its own ``sources.list`` naming the suite we want, with the mirror URI read
  at run time from the host's apt sources (deb822 ``*.sources`` files and the
  one-line ``sources.list`` format) -- never a host name written in code;
  ``$WASMEMU_DEBIAN_MIRROR`` overrides it;
* its own lists, archives and package-cache folders, an empty dpkg status file
  (so nothing the host has installed influences resolution), no preferences,
  and ``APT::Architectures`` = the host architecture plus the requested ones;
* of the host configuration only the ``Acquire::`` network settings (proxies,
  retries, TLS, and for example ``Check-Valid-Until`` on hosts whose mirror is
  a frozen snapshot) are copied, so that the private apt reaches the mirror
  exactly as the host's apt does; security settings are then forced back to
  strict (no insecure or unsigned repositories).

Trust
-----
Every index is verified by apt against an OpenPGP keyring given with
``signed-by`` -- never disabled. The keyring is, in order: the ``keyring``
argument; a keyring bootstrapped earlier (below); the ``Signed-By`` of the host
source the mirror was taken from; ``/usr/share/keyrings/debian-archive-keyring.gpg``.

Checked on a bookworm host (debian-archive-keyring 2023.3+deb12u2) against the
trixie 13.x archive: trixie's InRelease carries three signatures -- "Debian
Archive Automatic Signing Key (12/bookworm)" (...6ED0E7B82643E131), "(13/trixie)"
(...78DBA3BC47EF2265) and "Debian Stable Release Key (13/trixie)"
(...762F67A0B2C39DE4) -- and the host keyring verifies all three (``gpgv
--keyring /usr/share/keyrings/debian-archive-keyring.gpg`` on the fetched
InRelease). The trixie keys reached bookworm through a stable update of the
keyring package; a bookworm keyring without them would still verify trixie
through the bookworm automatic key, for as long as Debian keeps signing with
the previous release's automatic key.

If the host keyring cannot verify the suite (an older host, or a future suite
signed only by newer keys), apt reports ``NO_PUBKEY`` and we bootstrap along a
verified chain instead of trusting anything unverified: with the host keyring
we fetch the host's *own* suites one at a time (their Release files are what
the host keyring exists to verify), take the newest ``debian-archive-keyring``
package from the signed indexes of those that verify (its SHA-256 is checked
against that index), and use the keyring it ships. Debian adds the next
release's keys to stable's keyring package in point releases, so this reaches
one release ahead. Tested by handing the code a host keyring holding only the
bookworm stable release key: bookworm verified, bookworm-updates did not (it is
signed by the automatic keys only) and was skipped, the keyring from bookworm
(2023.3+deb12u2) then verified trixie. If no keyring reached this way can verify
the suite, we stop with :class:`FetchError` (reason ``"keyring"``); the fix is
to pass ``keyring=`` a keyring obtained through a channel you trust. An explicit
``keyring=`` is never replaced by a bootstrapped one. We never take the target
suite's keyring from the target suite itself: that would trust the very thing
being verified.

Packages are then verified by SHA-256 against the signed index, both by
``apt-get download`` and again here before a cached ``.deb`` is reused.

Freshness and offline use
-------------------------
``update()`` runs ``apt-get update`` only when the private indexes are older
than ``max_age`` (24 h by default) or the configuration changed. When the
mirror cannot be reached but indexes (or already-extracted packages) are
cached, they are used and a warning is issued, so tests run offline once the
cache is warm.

Concurrency
-----------
Several pytest-xdist workers may use the same cache: apt calls run under an
``flock`` on the private apt folder, and downloads and extractions are
published with atomic renames.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath

from wasmemu_images.cache import cache_root

try:
    import fcntl
except ImportError:  # pragma: no cover - non-POSIX hosts have no apt anyway
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DEFAULT_EXCLUDE",
    "DebianArchive",
    "FetchError",
    "HostSource",
    "ProgressEvent",
    "ResolvedPackage",
    "compare_versions",
    "host_arch",
    "host_debian_source",
]

# Pattern matches (globs, regexes) skip these: debug symbols and unsigned
# kernel images are never what a caller asking for "the kernel" wants.
DEFAULT_EXCLUDE: tuple[str, ...] = ("-dbg", "-dbgsym", "-unsigned")

DEFAULT_MAX_AGE = 24 * 3600.0

# Used only to recognise which host source is the Debian archive (as opposed
# to third-party repositories) when the host's own codename is not listed.
_DEBIAN_SUITES = frozenset(
    {
        "buster",
        "bullseye",
        "bookworm",
        "trixie",
        "forky",
        "duke",
        "sid",
        "oldoldstable",
        "oldstable",
        "stable",
        "testing",
        "unstable",
    }
)

_DEFAULT_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
_GLOB_CHARS = frozenset("*?[")


class FetchError(Exception):
    """Anything that prevents getting a package; the message names the fix.

    ``reason`` lets callers tell situations apart without parsing text; one of
    ``"network"``, ``"keyring"``, ``"not-found"`` (the mirror lacks the suite
    or architecture), ``"unknown-package"``, ``"hash-mismatch"``,
    ``"tool-missing"``, ``"no-mirror"``, ``"corrupt"``, ``"apt"``.
    """

    def __init__(self, message: str, reason: str = "apt") -> None:
        super().__init__(message)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class ResolvedPackage:
    """One binary package version as the signed index describes it."""

    name: str
    version: str
    arch: str
    sha256: str
    filename: str  # path in the archive pool, e.g. pool/main/b/busybox/....deb
    size: int = 0

    @property
    def deb_name(self) -> str:
        return PurePosixPath(self.filename).name


@dataclasses.dataclass(frozen=True)
class ProgressEvent:
    """Passed to the ``progress`` callback.

    ``stage`` is ``"update"``, ``"download"`` or ``"extract"``; ``percent`` is
    apt's overall estimate (None when a stage starts or ends without one).
    """

    stage: str
    percent: float | None
    message: str


ProgressCallback = Callable[[ProgressEvent], None]


@dataclasses.dataclass(frozen=True)
class HostSource:
    """The host's apt source for the Debian archive."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    keyring: Path | None = None  # a Signed-By file
    keyring_text: str | None = None  # an inline Signed-By key block
    origin: str = ""  # which file it came from, for messages


# --------------------------------------------------------------------------
# Debian version comparison (Debian policy 5.6.12), needed to pick the newest
# of several matching packages without one subprocess per comparison.


def _char_order(c: str) -> int:
    if c == "":
        return 0
    if c == "~":
        return -1
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _compare_fragment(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _char_order(a[i] if i < len(a) and not a[i].isdigit() else "")
            bc = _char_order(b[j] if j < len(b) and not b[j].isdigit() else "")
            if ac != bc:
                return -1 if ac < bc else 1
            i += 1
            j += 1
        si = i
        while i < len(a) and a[i].isdigit():
            i += 1
        sj = j
        while j < len(b) and b[j].isdigit():
            j += 1
        na = int(a[si:i] or "0")
        nb = int(b[sj:j] or "0")
        if na != nb:
            return -1 if na < nb else 1
    return 0


def _split_version(v: str) -> tuple[int, str, str]:
    epoch = 0
    if ":" in v:
        e, v = v.split(":", 1)
        epoch = int(e or "0")
    upstream, _, revision = v.rpartition("-")
    if not upstream:
        upstream, revision = revision, ""
    return epoch, upstream, revision


def compare_versions(a: str, b: str) -> int:
    """Compare two Debian version strings like ``dpkg --compare-versions``.

    Returns -1, 0 or 1.
    """
    ea, ua, ra = _split_version(a)
    eb, ub, rb = _split_version(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _compare_fragment(ua, ub) or _compare_fragment(ra, rb)


@dataclasses.dataclass(frozen=True)
class _VersionKey:
    version: str

    def __lt__(self, other: _VersionKey) -> bool:
        return compare_versions(self.version, other.version) < 0


# --------------------------------------------------------------------------
# Host configuration


def host_arch() -> str:
    """The host's dpkg architecture (``amd64``, ``arm64`` ...)."""
    try:
        out = subprocess.run(
            ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise FetchError(
            f"cannot determine the host architecture ({exc}); fetching Debian packages "
            "needs dpkg and apt (a Debian or Ubuntu host, or a container based on one)",
            "tool-missing",
        ) from exc


def _apt_config_paths() -> tuple[Path, Path]:
    """The host's sources.list file and sources.list.d folder."""
    sourcelist = Path("/etc/apt/sources.list")
    sourceparts = Path("/etc/apt/sources.list.d")
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            [
                "apt-config",
                "shell",
                "SL",
                "Dir::Etc::sourcelist/f",
                "SP",
                "Dir::Etc::sourceparts/d",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for line in out.splitlines():
            key, _, value = line.partition("=")
            value = shlex.split(value)[0] if value else ""
            if key == "SL" and value:
                sourcelist = Path(value)
            elif key == "SP" and value:
                sourceparts = Path(value)
    return sourcelist, sourceparts


def _parse_deb822(text: str) -> list[dict[str, str]]:
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = None
    for raw in text.splitlines():
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if current:
                stanzas.append(current)
            current, key = {}, None
            continue
        if raw[0] in " \t" and key is not None:
            # Continuation; a lone "." stands for an empty line (inline keys).
            line = raw.strip()
            current[key] += "\n" + ("" if line == "." else line)
            continue
        k, sep, v = raw.partition(":")
        if not sep:
            continue
        key = k.strip().lower()
        current[key] = v.strip()
    if current:
        stanzas.append(current)
    return stanzas


def _sources_from_deb822(path: Path) -> list[HostSource]:
    result = []
    for st in _parse_deb822(path.read_text(errors="replace")):
        if st.get("enabled", "yes").strip().lower() in ("no", "false", "0"):
            continue
        if "deb" not in st.get("types", "").split():
            continue
        uris = st.get("uris", "").split()
        if not uris:
            continue
        signed = st.get("signed-by", "").strip()
        keyring = None
        keyring_text = None
        if "BEGIN PGP PUBLIC KEY BLOCK" in signed:
            keyring_text = signed.strip() + "\n"
        elif signed:
            keyring = next((Path(p) for p in signed.split() if p.startswith("/")), None)
        result.append(
            HostSource(
                uri=uris[0],
                suites=tuple(st.get("suites", "").split()),
                components=tuple(st.get("components", "").split()),
                keyring=keyring,
                keyring_text=keyring_text,
                origin=str(path),
            )
        )
    return result


_ONE_LINE = re.compile(r"^\s*deb\s+(?:\[(?P<opts>[^\]]*)\]\s+)?(?P<rest>\S.*)$")


def _sources_from_list(path: Path) -> list[HostSource]:
    result = []
    for raw in path.read_text(errors="replace").splitlines():
        line = raw.split("#", 1)[0]
        m = _ONE_LINE.match(line)
        if not m:
            continue
        fields = m.group("rest").split()
        if len(fields) < 2:
            continue
        keyring = None
        for opt in (m.group("opts") or "").split():
            k, _, v = opt.partition("=")
            if k == "signed-by" and v.startswith("/"):
                keyring = Path(v.split(",")[0])
        result.append(
            HostSource(
                uri=fields[0],
                suites=(fields[1],),
                components=tuple(fields[2:]),
                keyring=keyring,
                origin=str(path),
            )
        )
    return result


def _host_codename() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            k, _, v = line.partition("=")
            if k == "VERSION_CODENAME":
                return v.strip().strip('"')
    return ""


def host_debian_source() -> HostSource:
    """The host's apt source for the Debian archive (not security, not third party).

    ``$WASMEMU_DEBIAN_MIRROR`` (a URI) replaces the URI found; the keyring of the
    host entry is kept.
    """
    sourcelist, sourceparts = _apt_config_paths()
    sources: list[HostSource] = []
    with contextlib.suppress(OSError):
        if sourcelist.is_file():
            sources += _sources_from_list(sourcelist)
    with contextlib.suppress(OSError):
        for f in sorted(sourceparts.glob("*.list")):
            sources += _sources_from_list(f)
        for f in sorted(sourceparts.glob("*.sources")):
            sources += _sources_from_deb822(f)

    codename = _host_codename()
    chosen = next((s for s in sources if codename and codename in s.suites), None)
    if chosen is None:
        chosen = next((s for s in sources if _DEBIAN_SUITES.intersection(s.suites)), None)
    override = os.environ.get("WASMEMU_DEBIAN_MIRROR", "").strip()
    if chosen is None:
        if override:
            return HostSource(uri=override, suites=(), components=("main",), origin="env")
        raise FetchError(
            f"no Debian archive found in the host's apt sources ({sourcelist}, "
            f"{sourceparts}/*.sources, *.list): set WASMEMU_DEBIAN_MIRROR to the URI "
            "of a Debian mirror reachable from this machine",
            "no-mirror",
        )
    if override:
        chosen = dataclasses.replace(chosen, uri=override, origin="WASMEMU_DEBIAN_MIRROR")
    return chosen


def _inherited_acquire_settings() -> list[str]:
    """The host's ``Acquire::`` settings, as apt.conf lines.

    Index targets, languages and security switches are left out on purpose:
    they are set by us (or must stay at apt's strict defaults).
    """
    try:
        out = subprocess.run(
            ["apt-config", "dump"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    skip = (
        "Acquire::IndexTargets",
        "Acquire::Changelogs",
        "Acquire::cdrom",
        "Acquire::Languages",
        "Acquire::GzipIndexes",
        "Acquire::AllowInsecureRepositories",
        "Acquire::AllowWeakRepositories",
        "Acquire::AllowDowngradeToInsecureRepositories",
        "Acquire::Status-Fd",
    )
    lines = []
    for line in out.splitlines():
        if not line.startswith("Acquire::") or line.startswith(skip):
            continue
        # apt-config dump does not escape quotes; a value containing one
        # would not parse back, so such a setting is dropped.
        if line.count('"') != 2 or not line.endswith(";"):
            continue
        lines.append(line)
    return lines


# --------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _parse_records(text: str) -> list[dict[str, str]]:
    records = []
    for st in _parse_deb822(text):
        if "package" in st and "version" in st:
            records.append(st)
    return records


def _quote_version(version: str) -> str:
    # The same escaping apt-get download uses for file names.
    return version.replace(":", "%3a")


class DebianArchive:
    """A private, cached view of one Debian suite for some architectures.

    >>> archive = DebianArchive("trixie", arches=("riscv64",))
    >>> root = archive.fetch("busybox-static")          # doctest: +SKIP
    >>> root / "usr/bin/busybox"                         # doctest: +SKIP
    """

    def __init__(
        self,
        suite: str | Sequence[str] = "trixie",
        arches: Sequence[str] = ("riscv64",),
        cache: Path | str | None = None,
        *,
        components: Sequence[str] = ("main",),
        mirror: str | None = None,
        keyring: Path | str | None = None,
        max_age: float = DEFAULT_MAX_AGE,
        progress: ProgressCallback | None = None,
        bootstrap_keyring: bool = True,
    ) -> None:
        self.suites: tuple[str, ...] = (suite,) if isinstance(suite, str) else tuple(suite)
        if not self.suites:
            raise ValueError("at least one suite is needed")
        self.cache = Path(cache) if cache is not None else cache_root()
        self.host_arch = host_arch()
        self.arches: tuple[str, ...] = tuple(dict.fromkeys((self.host_arch, *arches)))
        self.components = tuple(components)
        self.max_age = max_age
        self.progress = progress
        self._bootstrap_allowed = bootstrap_keyring
        self._explicit_mirror = mirror
        self._explicit_keyring = Path(keyring) if keyring is not None else None
        self._host: HostSource | None = None
        self._lock_depth = 0
        self._lock_fd: int | None = None
        self._configured = False
        self._stale_accepted = False

        name = "+".join(self.suites) + "_" + "+".join(self.arches)
        self.root = self.cache / "debian" / "apt" / name
        self.debs = self.cache / "debian" / "debs"
        self.pkgs = self.cache / "debian" / "pkgs"

    # -- configuration -----------------------------------------------------

    def _host_source(self) -> HostSource:
        if self._host is None:
            if self._explicit_mirror:
                try:
                    host = host_debian_source()
                except FetchError:
                    host = HostSource(uri="", suites=(), components=("main",))
                self._host = dataclasses.replace(
                    host, uri=self._explicit_mirror, origin="mirror argument"
                )
            else:
                self._host = host_debian_source()
        return self._host

    @property
    def mirror(self) -> str:
        """The mirror URI in use (read from the host's apt sources)."""
        return self._host_source().uri

    def _keyring(self) -> Path | None:
        if self._explicit_keyring is not None:
            return self._explicit_keyring
        boot = self.root / "etc" / "bootstrap-keyring.gpg"
        if boot.is_file():
            return boot
        host = self._host_source()
        if host.keyring_text:
            path = self.root / "etc" / "host-keyring.asc"
            _write_if_changed(path, host.keyring_text)
            return path
        if host.keyring is not None and host.keyring.is_file():
            return host.keyring
        if _DEFAULT_KEYRING.is_file():
            return _DEFAULT_KEYRING
        return None

    def _configure(self) -> None:
        """Write the private apt configuration (idempotent)."""
        r = self.root
        for d in (
            "etc/apt.conf.d",
            "etc/sources.list.d",
            "etc/preferences.d",
            "etc/trusted.gpg.d",
            "state/lists/partial",
            "cache/archives/partial",
            "log",
        ):
            (r / d).mkdir(parents=True, exist_ok=True)
        status = r / "state" / "status"
        if not status.exists():
            status.touch()

        keyring = self._keyring()
        opts = [f"arch={','.join(self.arches)}"]
        if keyring is not None:
            opts.append(f"signed-by={keyring}")
        uri = self.mirror
        sources = "".join(
            f"deb [{' '.join(opts)}] {uri} {suite} {' '.join(self.components)}\n"
            for suite in self.suites
        )
        _write_if_changed(r / "etc" / "sources.list", sources)

        conf = [
            "// Private apt configuration of wasmemu_images.debian; safe to delete.",
            *_inherited_acquire_settings(),
            'Dir::Etc::main "/dev/null";',
            f'Dir::Etc::parts "{r}/etc/apt.conf.d";',
            f'Dir::Etc::sourcelist "{r}/etc/sources.list";',
            f'Dir::Etc::sourceparts "{r}/etc/sources.list.d";',
            'Dir::Etc::preferences "/dev/null";',
            f'Dir::Etc::preferencesparts "{r}/etc/preferences.d";',
            f'Dir::State "{r}/state";',
            f'Dir::State::lists "{r}/state/lists";',
            f'Dir::State::status "{status}";',
            f'Dir::State::extended_states "{r}/state/extended_states";',
            f'Dir::Cache "{r}/cache";',
            f'Dir::Cache::archives "{r}/cache/archives";',
            f'Dir::Cache::pkgcache "{r}/cache/pkgcache.bin";',
            # The source cache would duplicate pkgcache.bin (~60 MB) for no gain.
            'Dir::Cache::srcpkgcache "";',
            f'Dir::Log "{r}/log";',
            f'APT::Architecture "{self.host_arch}";',
            "#clear APT::Architectures;",
            "APT::Architectures { " + " ".join(f'"{a}";' for a in self.arches) + " };",
            'APT::Sandbox::User "root";',
            'APT::Install-Recommends "false";',
            "#clear Acquire::Languages;",
            'Acquire::Languages { "none"; };',
            'Acquire::GzipIndexes "true";',
            'Acquire::AllowInsecureRepositories "false";',
            'Acquire::AllowWeakRepositories "false";',
            'Acquire::AllowDowngradeToInsecureRepositories "false";',
            'APT::Update::Error-Mode "any";',
        ]
        if keyring is not None:
            # Only signed-by may vouch for the mirror, not the host's trust store.
            conf += [
                'Dir::Etc::trusted "/dev/null";',
                f'Dir::Etc::trustedparts "{r}/etc/trusted.gpg.d";',
            ]
        if not any(line.startswith("Acquire::Retries") for line in conf):
            conf.append('Acquire::Retries "3";')
        _write_if_changed(r / "apt.conf", "\n".join(conf) + "\n")
        self._configured = True

    def _config_digest(self) -> str:
        # Only what selects the indexes: the sources line names mirror, suite,
        # components, architectures and keyring. Network settings may change
        # without invalidating indexes already fetched.
        return hashlib.sha256((self.root / "etc" / "sources.list").read_bytes()).hexdigest()

    # -- locking and running apt ---------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # flock locks belong to the open file, so a nested acquisition from
        # this same object would deadlock: count the depth instead.
        if self._lock_depth == 0:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / "wasmemu.lock", os.O_RDWR | os.O_CREAT, 0o644)
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            self._lock_fd = fd
        self._lock_depth += 1
        try:
            yield
        finally:
            self._lock_depth -= 1
            if self._lock_depth == 0 and self._lock_fd is not None:
                os.close(self._lock_fd)  # also releases the flock
                self._lock_fd = None

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["APT_CONFIG"] = str(self.root / "apt.conf")
        # apt's messages are parsed to classify errors: keep them in English.
        env["LC_ALL"] = "C.UTF-8"
        env.pop("LANGUAGE", None)
        return env

    def _emit(self, stage: str, percent: float | None, message: str) -> None:
        if self.progress is not None:
            self.progress(ProgressEvent(stage, percent, message))

    def _run_apt_get(self, args: list[str], stage: str, cwd: Path | None = None) -> str:
        """Run apt-get, relaying its status lines to the progress hook."""
        if not self._configured:
            self._configure()
        cmd = ["apt-get", "-q", "-o", "APT::Status-Fd=1", *args]
        try:
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env(),
                cwd=cwd,
                text=True,
                errors="replace",
            )
        except OSError as exc:
            raise FetchError(
                f"cannot run apt-get ({exc}): fetching Debian packages needs apt "
                "(a Debian or Ubuntu host, or a container based on one)",
                "tool-missing",
            ) from exc
        out: list[str] = []
        with proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith(("dlstatus:", "pmstatus:")):
                    parts = line.rstrip("\n").split(":", 3)
                    pct: float | None
                    try:
                        pct = float(parts[2])
                    except (IndexError, ValueError):
                        pct = None
                    self._emit(stage, pct, parts[3] if len(parts) > 3 else "")
                else:
                    out.append(line)
        rc = proc.wait()
        text = "".join(out)
        if rc != 0:
            raise self._classify(text, " ".join(args))
        return text

    def _run_apt_cache(self, args: list[str]) -> tuple[int, str, str]:
        if not self._configured:
            self._configure()
        try:
            proc = subprocess.run(
                ["apt-cache", *args],
                capture_output=True,
                text=True,
                errors="replace",
                env=self._env(),
                stdin=subprocess.DEVNULL,
            )
        except OSError as exc:
            raise FetchError(
                f"cannot run apt-cache ({exc}): fetching Debian packages needs apt",
                "tool-missing",
            ) from exc
        return proc.returncode, proc.stdout, proc.stderr

    def _classify(self, output: str, what: str) -> FetchError:
        errors = "\n".join(
            ln for ln in output.splitlines() if ln.startswith(("E:", "W:", "Err:", "  "))
        )
        errors = errors or output.strip()[-2000:]
        where = f"{', '.join(self.suites)} ({', '.join(self.arches)}) from {self.mirror}"
        if re.search(r"NO_PUBKEY|is not signed|EXPKEYSIG|BADSIG|signatures were invalid", output):
            return FetchError(
                f"apt-get {what} for {where}: the Release signature does not verify with "
                f"the keyring {self._keyring()}.\n{errors}\nFix: pass keyring= a Debian "
                "archive keyring that holds the suite's signing keys (for example from "
                "an up-to-date debian-archive-keyring package).",
                "keyring",
            )
        if re.search(r"Unable to locate package|Can't find a source to download", output):
            return FetchError(
                f"apt-get {what} for {where}: the package or version is not in the "
                f"indexes.\n{errors}\nFix: resolve() the package again (the indexes may "
                "have been refreshed since) or correct its name.",
                "unknown-package",
            )
        if re.search(r"\b404\b|does not have a Release file", output):
            return FetchError(
                f"apt-get {what} for {where}: the mirror does not serve this suite, "
                f"component or architecture.\n{errors}\nFix: check the suite name, or set "
                "WASMEMU_DEBIAN_MIRROR to a mirror that carries it.",
                "not-found",
            )
        if re.search(
            r"Could not connect|Could not resolve|Temporary failure resolving|"
            r"Connection timed out|Connection failed|Network is unreachable|"
            r"No route to host|Failed to fetch|Unable to connect|Connection refused",
            output,
        ):
            return FetchError(
                f"apt-get {what} for {where}: the mirror cannot be reached.\n{errors}\n"
                "Fix: check the network or proxy access this machine's apt uses (its "
                "Acquire:: settings are inherited), or set WASMEMU_DEBIAN_MIRROR to a "
                f"reachable mirror. Once indexes and packages are cached (in {self.cache}) "
                "they are reused offline.",
                "network",
            )
        return FetchError(f"apt-get {what} for {where} failed:\n{errors}", "apt")

    # -- update ------------------------------------------------------------

    def _stamp(self) -> dict[str, object] | None:
        try:
            return json.loads((self.root / "updated.json").read_text())
        except (OSError, ValueError):
            return None

    def lists_cached(self) -> bool:
        """True if indexes for the current configuration are present (any age)."""
        stamp = self._stamp()
        return stamp is not None and stamp.get("config") == self._config_digest()

    def update(self, force: bool = False) -> None:
        """Refresh the private package indexes if older than ``max_age``."""
        with self._locked():
            self._configure()
            stamp = self._stamp()
            if not force and self._stale_accepted:
                return
            if (
                not force
                and stamp is not None
                and stamp.get("config") == self._config_digest()
                and time.time() - float(stamp.get("time", 0)) < self.max_age  # type: ignore[arg-type]
            ):
                return
            self._emit("update", None, f"updating {', '.join(self.suites)} indexes")
            try:
                self._run_apt_get(["update"], "update")
            except FetchError as exc:
                if (
                    exc.reason == "keyring"
                    and self._bootstrap_allowed
                    and self._explicit_keyring is None
                ):
                    self._bootstrap_keyring(exc)
                    self._configure()
                    self._run_apt_get(["update"], "update")
                elif exc.reason == "network" and stamp is not None and self.lists_cached():
                    # Do not retry the mirror on every call of this object.
                    self._stale_accepted = True
                    warnings.warn(
                        f"using cached Debian indexes from {time.ctime(float(stamp['time']))}"  # type: ignore[arg-type]
                        f" because the mirror is unreachable: {exc}",
                        stacklevel=2,
                    )
                    return
                else:
                    raise
            stamp_data = {"config": self._config_digest(), "time": time.time()}
            _write_if_changed(self.root / "updated.json", json.dumps(stamp_data))
            self._emit("update", 100.0, "indexes up to date")

    def _bootstrap_keyring(self, cause: FetchError) -> None:
        """Get a newer keyring through the host's own, verifiable suites."""
        host = self._host_source()
        suites = [s for s in host.suites if not s.endswith("-security")]
        if not suites or set(suites) & set(self.suites):
            raise cause
        host_keyring = host.keyring if host.keyring and host.keyring.is_file() else None
        best: tuple[_VersionKey, Path] | None = None
        failures = []
        # One suite at a time: -updates may be signed by other keys than the
        # release itself, and one verifiable suite is enough.
        for suite in suites:
            boot = DebianArchive(
                suite,
                arches=(),
                cache=self.cache,
                components=("main",),
                mirror=host.uri,
                keyring=host_keyring,
                max_age=self.max_age,
                progress=self.progress,
                bootstrap_keyring=False,
            )
            try:
                pkg = boot.resolve("debian-archive-keyring", arch="all")
                root = boot.fetch("debian-archive-keyring", arch="all")
            except FetchError as exc:
                failures.append(f"{suite}: {exc}")
                continue
            if best is None or best[0] < _VersionKey(pkg.version):
                best = (_VersionKey(pkg.version), root)
        if best is None:
            raise FetchError(
                f"{cause}\n(Getting a newer keyring from the host's suites failed too:\n"
                + "\n".join(failures)
                + ")",
                "keyring",
            ) from cause
        for name in ("debian-archive-keyring.gpg", "debian-archive-keyring.pgp"):
            src = best[1] / "usr" / "share" / "keyrings" / name
            if src.exists():
                dest = self.root / "etc" / "bootstrap-keyring.gpg"
                tmp = dest.with_suffix(".tmp")
                shutil.copyfile(src, tmp)
                os.replace(tmp, dest)
                return
        raise cause

    # -- resolve -----------------------------------------------------------

    def _candidate_names(self, pattern: str | re.Pattern[str], exclude: Sequence[str]) -> list[str]:
        if isinstance(pattern, str) and not _GLOB_CHARS.intersection(pattern):
            return [pattern]
        prefix = ""
        if isinstance(pattern, str):
            for ch in pattern:
                if ch in _GLOB_CHARS:
                    break
                prefix += ch
        rc, out, err = self._run_apt_cache(["pkgnames", *([prefix] if prefix else [])])
        if rc != 0 and out == "":
            raise FetchError(f"apt-cache pkgnames failed: {err.strip()}", "apt")
        names = set()
        for name in out.split():
            if not _name_matches(pattern, name):
                continue
            if any(name.endswith(suffix) for suffix in exclude):
                continue
            names.add(name)
        return sorted(names)

    def resolve(
        self,
        name: str | re.Pattern[str],
        arch: str = "riscv64",
        *,
        exclude: Sequence[str] = DEFAULT_EXCLUDE,
    ) -> ResolvedPackage:
        """The newest version of a package for ``arch`` (or ``all``).

        ``name`` is an exact name, a glob (``linux-image-6.12.*-riscv64``) or a
        compiled regex (full match). For globs and regexes, names ending in one
        of ``exclude`` are skipped and the newest version among all matches
        wins (ties broken by name).
        """
        self.update()
        with self._locked():
            names = self._candidate_names(name, exclude)
            records: list[dict[str, str]] = []
            # Batches keep the command line short for broad patterns.
            for i in range(0, len(names), 200):
                batch = names[i : i + 200]
                args = ["show", *(f"{n}:{arch}" for n in batch)]
                if arch != "all":
                    args += [f"{n}:all" for n in batch]
                rc, out, err = self._run_apt_cache(args)
                if rc != 0 and not out:
                    if "No packages found" in err or "Unable to locate" in err or not err:
                        continue
                    if "purely virtual" in err:
                        continue
                    raise FetchError(f"apt-cache show failed: {err.strip()}", "apt")
                records += _parse_records(out)
        wanted = set(names)
        found = [
            r
            for r in records
            if r.get("package") in wanted and r.get("architecture") in (arch, "all")
        ]
        if not found:
            shown = name.pattern if isinstance(name, re.Pattern) else name
            raise FetchError(
                f"no package matching {shown!r} for architecture {arch} in "
                f"{', '.join(self.suites)} ({self.mirror}); fix the name (list candidates "
                f"with: APT_CONFIG={self.root / 'apt.conf'} apt-cache pkgnames PREFIX) "
                "or the architecture",
                "unknown-package",
            )
        best = max(found, key=lambda r: (_VersionKey(r["version"]), r["package"]))
        sha = best.get("sha256", "")
        if not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise FetchError(
                f"the index entry of {best['package']} {best['version']} has no SHA-256; "
                "refusing to use it (run update(force=True) to refresh the indexes)",
                "corrupt",
            )
        return ResolvedPackage(
            name=best["package"],
            version=best["version"],
            arch=best["architecture"],
            sha256=sha,
            filename=best.get("filename", ""),
            size=int(best.get("size", "0") or 0),
        )

    # -- download and extract -----------------------------------------------

    def download(self, pkg: ResolvedPackage) -> Path:
        """The package's ``.deb`` in the cache, downloaded if not already there."""
        self.debs.mkdir(parents=True, exist_ok=True)
        target = self.debs / (pkg.deb_name or f"{pkg.name}_{pkg.version}_{pkg.arch}.deb")
        if target.is_file():
            if _sha256(target) == pkg.sha256:
                return target
            target.unlink(missing_ok=True)
        self.update()
        self._emit("download", None, f"downloading {pkg.name} {pkg.version} ({pkg.arch})")
        with self._locked():
            tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=self.debs))
            try:
                self._run_apt_get(
                    ["download", f"{pkg.name}:{pkg.arch}={pkg.version}"], "download", cwd=tmp
                )
                files = sorted(tmp.glob("*.deb"))
                if len(files) != 1:
                    raise FetchError(
                        f"apt-get download {pkg.name} produced {len(files)} .deb files "
                        f"in {tmp}, expected one",
                        "apt",
                    )
                got = _sha256(files[0])
                if got != pkg.sha256:
                    raise FetchError(
                        f"hash mismatch for {pkg.deb_name}: downloaded SHA-256 {got}, the "
                        f"signed index says {pkg.sha256}. The mirror or a proxy served a "
                        "wrong file. Fix: retry; if it persists, refresh the indexes with "
                        f"update(force=True) or delete {self.cache}.",
                        "hash-mismatch",
                    )
                os.replace(files[0], target)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        self._emit("download", 100.0, f"downloaded {target.name}")
        return target

    def extract(self, deb: Path, dest: Path) -> Path:
        """Unpack the data part of ``deb`` into ``dest`` (``dpkg-deb -x``)."""
        dest.mkdir(parents=True, exist_ok=True)
        self._emit("extract", None, f"extracting {deb.name}")
        try:
            proc = subprocess.run(
                ["dpkg-deb", "-x", str(deb), str(dest)], capture_output=True, text=True
            )
        except OSError as exc:
            raise FetchError(f"cannot run dpkg-deb ({exc}); install dpkg", "tool-missing") from exc
        if proc.returncode != 0:
            raise FetchError(
                f"dpkg-deb -x {deb} failed: {proc.stderr.strip()}. Fix: delete {deb} "
                "so it is downloaded again",
                "corrupt",
            )
        return dest

    def fetch(self, name: str | re.Pattern[str], arch: str = "riscv64") -> Path:
        """Resolve, download and extract; returns the cached extraction root.

        Works offline with whatever is already cached: if the mirror cannot be
        reached and the indexes are missing, the newest previously extracted
        match is returned (with a warning).
        """
        try:
            return self.unpack(self.resolve(name, arch))
        except FetchError as exc:
            if exc.reason != "network":
                raise
            cached = self.cached(name, arch)
            if cached is None:
                raise
            warnings.warn(f"mirror unreachable, using cached {cached.name}: {exc}", stacklevel=2)
            return cached

    def unpack(self, pkg: ResolvedPackage) -> Path:
        """The cached extraction root of exactly ``pkg``, downloaded and extracted if needed.

        For callers that must record which version they used: ``fetch`` would
        resolve again and could pick a newer version published in between.
        """
        dest = self.pkgs / f"{pkg.name}_{_quote_version(pkg.version)}_{pkg.arch}"
        if dest.is_dir():
            return dest
        deb = self.download(pkg)
        self.pkgs.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=self.pkgs))
        try:
            self.extract(deb, tmp)
            try:
                os.rename(tmp, dest)
            except OSError:
                # Another process published the same extraction first.
                if not dest.is_dir():
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return dest

    def cached(self, name: str | re.Pattern[str], arch: str = "riscv64") -> Path | None:
        """The newest extraction of a matching package already in the cache."""
        best: tuple[_VersionKey, Path] | None = None
        with contextlib.suppress(OSError):
            for d in self.pkgs.iterdir():
                parts = d.name.split("_")
                if len(parts) != 3 or not d.is_dir() or parts[2] not in (arch, "all"):
                    continue
                if not _name_matches(name, parts[0]):
                    continue
                if parts[0] != name and parts[0].endswith(DEFAULT_EXCLUDE):
                    continue
                key = _VersionKey(parts[1].replace("%3a", ":"))
                if best is None or best[0] < key:
                    best = (key, d)
        return best[1] if best else None


def _name_matches(pattern: str | re.Pattern[str], name: str) -> bool:
    if isinstance(pattern, re.Pattern):
        return pattern.fullmatch(name) is not None
    if _GLOB_CHARS.intersection(pattern):
        return fnmatch.fnmatchcase(name, pattern)
    return name == pattern


def _write_if_changed(path: Path, text: str) -> None:
    try:
        if path.read_text() == text:
            return
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
