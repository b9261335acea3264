"""Just enough of a Wasm binary reader to learn the signatures of a module's exports.

The JavaScript WebAssembly API does not say what type an exported function
has (type reflection is not in every engine), yet a JavaScript caller must
pass i64 arguments as BigInt and i32 ones as Number. The Pyodide host reads
the types from the module bytes it generated itself.
"""

from __future__ import annotations

_VALTYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64"}
_SECTION_TYPE, _SECTION_IMPORT, _SECTION_FUNCTION, _SECTION_EXPORT = 1, 2, 3, 7
_KIND_FUNC = 0

Signature = tuple[tuple[str, ...], tuple[str, ...]]


class _Cursor:
    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data, self.pos = data, pos
        self.end = len(data) if end is None else end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise ValueError("truncated Wasm module")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def uleb(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result

    def name(self) -> str:
        n = self.uleb()
        text = self.data[self.pos : self.pos + n].decode()
        self.pos += n
        return text

    def limits(self) -> None:
        flags = self.byte()
        self.uleb()
        if flags & 1:
            self.uleb()


def export_signatures(wasm: bytes) -> dict[str, Signature]:
    """{export name: (param types, result types)} for every exported function."""
    if wasm[:4] != b"\0asm":
        raise ValueError("not a Wasm module")
    types: list[Signature] = []
    func_types: list[int] = []  # imported functions first, as the index space has them
    exports: dict[str, int] = {}
    top = _Cursor(wasm, 8)
    while top.pos < top.end:
        section = top.byte()
        size = top.uleb()
        c = _Cursor(wasm, top.pos, top.pos + size)
        top.pos += size
        if section == _SECTION_TYPE:
            for _ in range(c.uleb()):
                if c.byte() != 0x60:
                    raise ValueError("unsupported Wasm type form")
                params = tuple(_VALTYPES.get(c.byte(), "ref") for _ in range(c.uleb()))
                results = tuple(_VALTYPES.get(c.byte(), "ref") for _ in range(c.uleb()))
                types.append((params, results))
        elif section == _SECTION_IMPORT:
            for _ in range(c.uleb()):
                c.name(), c.name()
                kind = c.byte()
                if kind == _KIND_FUNC:
                    func_types.append(c.uleb())
                elif kind == 1:  # table: reftype, limits
                    c.byte()
                    c.limits()
                elif kind == 2:  # memory
                    c.limits()
                else:  # global: valtype, mutability
                    c.byte(), c.byte()
        elif section == _SECTION_FUNCTION:
            func_types += [c.uleb() for _ in range(c.uleb())]
        elif section == _SECTION_EXPORT:
            for _ in range(c.uleb()):
                name, kind, index = c.name(), c.byte(), c.uleb()
                if kind == _KIND_FUNC:
                    exports[name] = index
    return {name: types[func_types[index]] for name, index in exports.items()}
