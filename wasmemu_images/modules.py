"""Pick kernel modules out of a Debian kernel package, dependencies included.

Debian's ``linux-image-*`` package ships its modules compressed
(``kernel/**/*.ko.xz``) together with ``modules.builtin`` and
``modules.builtin.modinfo``, but *without* ``modules.dep``: depmod runs when
the package is installed. So dependencies come from ``modules.dep`` (and
``modules.softdep``, ``modules.alias``) when a tree has them, and otherwise
from each module's own ``.modinfo`` ELF section (``depends=``, ``softdep=``,
``alias=``) -- the same data depmod would have read.

:func:`select_modules` returns the modules in load order (every module after
everything it needs), decompressed, because busybox's ``insmod``/``modprobe``
hand the file to the kernel as it is and only plain ELF is sure to load.
:func:`modules_dep` writes a ``modules.dep`` for just those modules so the
guest's busybox ``modprobe`` can load them by name.
"""

from __future__ import annotations

import dataclasses
import gzip
import lzma
import shutil
import struct
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

__all__ = [
    "KernelModule",
    "ModuleError",
    "ModuleTree",
    "module_name",
    "modules_dep",
    "parse_modinfo",
    "select_modules",
]

_COMPRESSED = (".ko.xz", ".ko.zst", ".ko.gz")
_SUFFIXES = (*_COMPRESSED, ".ko")


class ModuleError(ValueError):
    """A module is missing, unreadable or its dependencies cannot be resolved."""


@dataclasses.dataclass(frozen=True)
class KernelModule:
    name: str  # canonical module name (underscores), e.g. "virtio_rng"
    path: str  # path of the uncompressed module below lib/modules/<version>/
    data: bytes  # the uncompressed ELF object
    depends: tuple[str, ...]  # canonical names of the modules it links against


def module_name(name_or_path: str) -> str:
    """The kernel's name for a module: file stem without suffix, '-' read as '_'."""
    base = PurePosixPath(name_or_path).name
    for suffix in _SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base.replace("-", "_")


class ModuleTree:
    """One ``lib/modules/<version>/`` folder of an unpacked kernel package."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.version = root.name
        self.files: dict[str, str] = {}  # name -> path below root, as shipped
        for path in sorted(root.rglob("*.ko*")):
            rel = path.relative_to(root).as_posix()
            if rel.endswith(_SUFFIXES):
                self.files.setdefault(module_name(rel), rel)
        self.builtin = {module_name(line) for line in self._lines("modules.builtin")}
        self._builtin_aliases = self._read_builtin_aliases()
        self._dep = self._read_modules_dep()
        self._softdep = self._read_modules_softdep()
        self._alias = self._read_modules_alias()
        self._modinfo: dict[str, dict[str, list[str]]] = {}
        self._data: dict[str, bytes] = {}  # unpacking ext4.ko.xz takes ~0.5 s

    @classmethod
    def in_package(cls, package_root: Path, package: str) -> ModuleTree:
        """The package's single module tree under ``lib/modules`` or ``usr/lib/modules``."""
        trees = sorted(
            p
            for base in ("lib/modules", "usr/lib/modules")
            for p in (package_root / base).glob("*")
            if p.is_dir() and not p.is_symlink()
        )
        if len(trees) != 1:
            found = ", ".join(str(p.relative_to(package_root)) for p in trees) or "none"
            raise ModuleError(
                f"package {package} should hold exactly one lib/modules/<version>/ folder, "
                f"found {found}; `modules: from:` must name the kernel's package"
            )
        return cls(trees[0])

    def _lines(self, name: str) -> list[str]:
        try:
            text = (self.root / name).read_text()
        except FileNotFoundError:
            return []
        return [line.strip() for line in text.splitlines() if line.strip()]

    def _read_builtin_aliases(self) -> dict[str, str]:
        aliases: dict[str, str] = {}
        try:
            raw = (self.root / "modules.builtin.modinfo").read_bytes()
        except FileNotFoundError:
            return aliases
        for field in raw.split(b"\0"):
            key, _, value = field.decode("utf-8", "replace").partition("=")
            module, _, attr = key.partition(".")
            if attr == "alias" and value:
                aliases.setdefault(value, module_name(module))
        return aliases

    def _read_modules_dep(self) -> dict[str, list[str]] | None:
        if not (self.root / "modules.dep").is_file():
            return None
        deps: dict[str, list[str]] = {}
        for line in self._lines("modules.dep"):
            module, _, rest = line.partition(":")
            name = module_name(module)
            self.files.setdefault(name, module)
            # depmod lists every dependency, transitively, the one to load
            # first last; order does not matter here as resolution recurses.
            deps[name] = [module_name(d) for d in rest.split()]
        return deps

    def _read_modules_softdep(self) -> dict[str, list[str]] | None:
        if not (self.root / "modules.softdep").is_file():
            return None
        soft: dict[str, list[str]] = {}
        for line in self._lines("modules.softdep"):
            words = line.split()
            if len(words) >= 3 and words[0] == "softdep":
                soft.setdefault(module_name(words[1]), []).append(" ".join(words[2:]))
        return soft

    def _read_modules_alias(self) -> dict[str, str] | None:
        if not (self.root / "modules.alias").is_file():
            return None
        aliases: dict[str, str] = {}
        for line in self._lines("modules.alias"):
            words = line.split()
            if len(words) == 3 and words[0] == "alias":
                aliases.setdefault(words[1], module_name(words[2]))
        return aliases

    def path_of(self, name: str, wanted_by: str | None = None) -> str:
        """The shipped path of module ``name``; a clear error if the package lacks it."""
        try:
            return self.files[module_name(name)]
        except KeyError:
            pass
        why = f" (needed by {wanted_by})" if wanted_by else ""
        close = sorted(n for n in self.files if module_name(name)[:4] in n)[:8]
        hint = f"; similar names: {', '.join(close)}" if close else ""
        raise ModuleError(
            f"kernel module {name!r}{why} is not in {self.root} "
            f"(kernel {self.version}){hint}; fix the name in the recipe's modules: list, "
            "or drop it if that kernel does not build it"
        )

    def data(self, name: str) -> bytes:
        """Module ``name`` uncompressed."""
        rel = self.path_of(name)
        if rel not in self._data:
            try:
                raw = (self.root / rel).read_bytes()
            except OSError as exc:
                raise ModuleError(f"cannot read kernel module {self.root / rel}: {exc}") from exc
            self._data[rel] = decompress(raw, rel)
        return self._data[rel]

    def modinfo(self, name: str) -> dict[str, list[str]]:
        name = module_name(name)
        if name not in self._modinfo:
            self._modinfo[name] = parse_modinfo(self.data(name), self.path_of(name))
        return self._modinfo[name]

    def depends(self, name: str) -> list[str]:
        """Modules ``name`` links against (hard dependencies)."""
        name = module_name(name)
        if self._dep is not None and name in self._dep:
            return self._dep[name]
        values = self.modinfo(name).get("depends", [])
        return [module_name(d) for v in values for d in v.split(",") if d]

    def softdeps(self, name: str) -> tuple[list[str], list[str]]:
        """Aliases or names ``name`` wants loaded before (pre) and after (post) it."""
        name = module_name(name)
        if self._softdep is not None:
            lines = self._softdep.get(name, [])
        else:
            lines = self.modinfo(name).get("softdep", [])
        pre: list[str] = []
        post: list[str] = []
        for line in lines:
            target = None
            for word in line.split():
                if word == "pre:":
                    target = pre
                elif word == "post:":
                    target = post
                elif target is not None:
                    target.append(word)
        return pre, post

    def provider(self, alias: str, candidates: Iterable[str]) -> str | None:
        """The module that provides ``alias``: builtin, in modules.alias, or among
        ``candidates`` (verified by their own ``alias=`` lines), else None."""
        if module_name(alias) in self.builtin or alias in self._builtin_aliases:
            return ""  # built in: nothing to load
        if module_name(alias) in self.files:
            return module_name(alias)
        if self._alias is not None:
            return self._alias.get(alias)
        # Without modules.alias, reading every module's modinfo would mean
        # decompressing ~1 GB; instead try the modules the recipe loads anyway
        # and the names the kernel's own alias macros imply (MODULE_ALIAS_CRYPTO
        # gives "crypto-X" to the module X or X_generic).
        guesses = list(candidates)
        if alias.startswith("crypto-"):
            stem = module_name(alias.removeprefix("crypto-"))
            guesses += [stem, f"{stem}_generic"]
        for guess in guesses:
            if guess in self.files and alias in self.modinfo(guess).get("alias", []):
                return guess
        return None


def decompress(raw: bytes, name: str) -> bytes:
    """A module file's ELF bytes, whatever the package compressed it with."""
    try:
        if name.endswith(".xz"):
            return lzma.decompress(raw)
        if name.endswith(".gz"):
            return gzip.decompress(raw)
        if name.endswith(".zst"):
            return _unzstd(raw, name)
    except (lzma.LZMAError, OSError, EOFError) as exc:
        raise ModuleError(f"kernel module {name} does not decompress ({exc})") from exc
    return raw


def _unzstd(raw: bytes, name: str) -> bytes:
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        return zstandard.ZstdDecompressor().decompressobj().decompress(raw)
    tool = shutil.which("zstd")
    if tool is None:
        raise ModuleError(
            f"kernel module {name} is zstd-compressed; install the Python package "
            "zstandard or Debian's zstd to unpack it"
        )
    result = subprocess.run([tool, "-dc"], input=raw, capture_output=True, timeout=120, check=False)
    if result.returncode:
        raise ModuleError(f"zstd cannot unpack {name}: {result.stderr.decode(errors='replace')}")
    return result.stdout


def parse_modinfo(elf: bytes, name: str = "module") -> dict[str, list[str]]:
    """The ``key=value`` strings of an ELF64 module's ``.modinfo`` section."""
    bad = ModuleError(f"kernel module {name} is not a little-endian ELF64 object")
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise bad
    try:
        (shoff,) = struct.unpack_from("<Q", elf, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)

        def section(i: int) -> tuple[int, int, int]:
            base = shoff + i * shentsize
            (sh_name,) = struct.unpack_from("<I", elf, base)
            offset, size = struct.unpack_from("<QQ", elf, base + 0x18)
            return sh_name, offset, size

        _, str_off, str_size = section(shstrndx)
        names = elf[str_off : str_off + str_size]
        for i in range(shnum):
            sh_name, offset, size = section(i)
            if names[sh_name : names.index(b"\0", sh_name)] == b".modinfo":
                info: dict[str, list[str]] = {}
                for field in elf[offset : offset + size].split(b"\0"):
                    key, sep, value = field.decode("utf-8", "replace").partition("=")
                    if sep:
                        info.setdefault(key, []).append(value)
                return info
    except (struct.error, ValueError) as exc:
        raise bad from exc
    raise ModuleError(f"kernel module {name} has no .modinfo section")


def select_modules(tree: ModuleTree, names: Sequence[str]) -> list[KernelModule]:
    """``names`` and everything they need, in load order, minus built-in ones.

    Soft dependencies count too: ext4 and jbd2 ask for ``crypto-crc32c``
    before them and cannot check metadata checksums without it.
    """
    order: list[str] = []
    state: dict[str, str] = {}  # name -> "visiting" | "done"
    wanted = [module_name(n) for n in names]

    def visit(name: str, wanted_by: str | None) -> None:
        if name in tree.builtin or state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise ModuleError(f"kernel modules depend on each other in a cycle through {name}")
        tree.path_of(name, wanted_by)  # a clear error before anything else
        state[name] = "visiting"
        pre, post = tree.softdeps(name)
        for alias in pre:
            visit_alias(alias, name)
        for dep in tree.depends(name):
            visit(dep, name)
        state[name] = "done"
        order.append(name)
        for alias in post:
            visit_alias(alias, name)

    def visit_alias(alias: str, wanted_by: str) -> None:
        provider = tree.provider(alias, [*wanted, *order])
        if provider is None:
            raise ModuleError(
                f"kernel module {wanted_by} wants {alias!r} loaded with it (softdep), and no "
                f"module of kernel {tree.version} is known to provide it; add the module "
                "that does (see `modinfo -F alias`) to the recipe's modules: list"
            )
        if provider:
            visit(provider, wanted_by)

    for name in wanted:
        visit(name, None)
    return [
        KernelModule(
            name=name,
            path=_plain(tree.path_of(name)),
            data=tree.data(name),
            depends=tuple(d for d in tree.depends(name) if d not in tree.builtin),
        )
        for name in order
    ]


def _plain(rel: str) -> str:
    for suffix in _COMPRESSED:
        if rel.endswith(suffix):
            return rel[: -len(suffix)] + ".ko"
    return rel


def modules_dep(modules: Sequence[KernelModule]) -> str:
    """``modules.dep`` for ``modules`` (as :func:`select_modules` ordered them).

    Like depmod, each line lists all dependencies, transitively, the one to
    load first last, because that is the order modprobe walks them in.
    """
    by_name = {m.name: m for m in modules}
    position = {m.name: i for i, m in enumerate(modules)}
    lines = []
    for module in modules:
        needed: set[str] = set()
        todo = list(module.depends)
        while todo:
            dep = todo.pop()
            if dep in by_name and dep not in needed:
                needed.add(dep)
                todo.extend(by_name[dep].depends)
        deps = sorted(needed, key=position.__getitem__, reverse=True)
        lines.append(f"{module.path}: {' '.join(by_name[d].path for d in deps)}".rstrip())
    return "".join(line + "\n" for line in lines)
