"""Read the header of a GGUF model file: every metadata key (arrays included) and, on request, the tensor table.

The one GGUF reader of the repo: config validation sizes a local model from its attention shape
(infra/serving_sizing.py) and the right-sizing advisor builds its model facts from the same header
(infra/advisor/gguf_meta.py). Tensor data is never read, so a 40 GB file costs what a small one does.

The layout (GGUF v2 and v3, llama.cpp's docs/gguf.md): magic "GGUF", version u32, tensor count u64,
key/value count u64, the key/value pairs, the tensor infos, padding to `general.alignment`, the data.
A string is a u64 length and UTF-8 bytes; an array is its element type (u32), a u64 count and the
elements, which may themselves be arrays. The value types, versions and quantization block sizes
are the `gguf` library's (llama.cpp's own Python package), so a new ggml type arrives with it.

The library's GGUFReader parses the same header, but it builds a numpy view per array element (a
262,144-token vocabulary costs seconds) and maps every tensor; this reader unpacks arrays in bulk and
stops where the caller's needs end.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gguf.constants import (
    GGML_QUANT_SIZES,
    GGUF_DEFAULT_ALIGNMENT,
    GGUF_MAGIC,
    GGMLQuantizationType,
    GGUFValueType,
    Keys,
)
from gguf.gguf_reader import READER_SUPPORTED_VERSIONS

# struct codes of the fixed-size value types (little-endian unless the file says otherwise).
_SCALARS: dict[GGUFValueType, str] = {
    GGUFValueType.UINT8: "B",
    GGUFValueType.INT8: "b",
    GGUFValueType.UINT16: "H",
    GGUFValueType.INT16: "h",
    GGUFValueType.UINT32: "I",
    GGUFValueType.INT32: "i",
    GGUFValueType.FLOAT32: "f",
    GGUFValueType.BOOL: "?",
    GGUFValueType.UINT64: "Q",
    GGUFValueType.INT64: "q",
    GGUFValueType.FLOAT64: "d",
}
# Arrays nest, but no converter writes more than a few levels; a deeper one is a corrupt type field.
_MAX_DEPTH = 8


class GgufError(ValueError):
    """The file is not a GGUF model this reader can read; the message says what, why and how to fix it."""


@dataclass(frozen=True)
class TensorInfo:
    """One entry of the tensor table; its data stays on disk."""

    name: str
    shape: tuple[int, ...]
    """In GGUF order: the first dimension varies fastest (a matrix's row length comes first)."""
    type: GGMLQuantizationType
    offset: int
    """From the start of the data section."""

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def n_bytes(self) -> int:
        block, size = GGML_QUANT_SIZES[self.type]
        return self.n_elements * size // block


@dataclass(frozen=True)
class GgufFile:
    path: Path
    version: int
    tensor_count: int
    metadata: Mapping[str, Any]
    """Key -> value: int, float, bool, str, or a list of them (nested lists for arrays of arrays)."""
    value_types: Mapping[str, GGUFValueType]
    tensors: tuple[TensorInfo, ...] | None = None
    """None unless read with tensors=True."""
    data_offset: int | None = None
    """Where the tensor data starts in the file; None unless read with tensors=True."""

    @property
    def architecture(self) -> str | None:
        arch = self.metadata.get(Keys.General.ARCHITECTURE)
        return arch if isinstance(arch, str) else None

    def arch_value(self, template: str) -> Any:
        """The value of an architecture-scoped key such as `Keys.LLM.BLOCK_COUNT` ('{arch}.block_count')."""
        arch = self.architecture
        return None if arch is None else self.metadata.get(template.format(arch=arch))


class _Cursor:
    """Reads values at a moving offset of the mapped file, naming the file and the section on a short read."""

    def __init__(self, path: Path, buf: mmap.mmap, order: str) -> None:
        self.path, self.buf, self.order, self.at = path, buf, order, 0
        self.section = "header"

    def need(self, n: int) -> None:
        if n < 0 or self.at + n > len(self.buf):
            raise GgufError(
                f"{self.path}: the file ends at byte {len(self.buf):,} inside its {self.section} (byte {self.at:,} "
                f"needs {n:,} more); the download or copy is incomplete or the file is damaged; fix: fetch the "
                "model again and check its sha256"
            )

    def scalars(self, code: str, count: int = 1) -> tuple[Any, ...]:
        size = struct.calcsize(code) * count
        self.need(size)
        values = struct.unpack_from(f"{self.order}{count}{code}", self.buf, self.at)
        self.at += size
        return values

    def u32(self) -> int:
        return int(self.scalars("I")[0])

    def u64(self) -> int:
        return int(self.scalars("Q")[0])

    def string(self) -> str:
        n = self.u64()
        self.need(n)
        raw = self.buf[self.at : self.at + n]
        self.at += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise GgufError(
                f"{self.path}: a string in the {self.section} at byte {self.at - n:,} is not UTF-8 ({exc.reason}); "
                "GGUF strings are UTF-8, so the file is damaged or not GGUF; fix: fetch or convert the model again"
            ) from None

    def strings(self, count: int) -> list[str]:
        """An array of strings, in one tight loop: a vocabulary holds hundreds of thousands of them."""
        self.need(8 * count)
        buf, at, end = self.buf, self.at, len(self.buf)
        length = struct.Struct(f"{self.order}Q").unpack_from
        out: list[str] = []
        try:
            for _ in range(count):
                (n,) = length(buf, at)
                if at + 8 + n > end:
                    break
                out.append(buf[at + 8 : at + 8 + n].decode("utf-8"))
                at += 8 + n
        except (struct.error, UnicodeDecodeError):
            pass
        # On a fault, the one-string reader takes over where the loop stopped and names it (short read or bad text).
        self.at = at
        out.extend(self.string() for _ in range(count - len(out)))
        return out

    def value_type(self, raw: int) -> GGUFValueType:
        try:
            return GGUFValueType(raw)
        except ValueError:
            raise GgufError(
                f"{self.path}: unknown metadata value type {raw} in the {self.section} at byte {self.at - 4:,}; "
                "the file is damaged, or newer than the installed gguf library; fix: fetch the model again or "
                "upgrade the gguf package"
            ) from None

    def value(self, vtype: GGUFValueType, depth: int = 0) -> Any:
        if vtype == GGUFValueType.STRING:
            return self.string()
        if vtype != GGUFValueType.ARRAY:
            return self.scalars(_SCALARS[vtype])[0]
        if depth >= _MAX_DEPTH:
            raise GgufError(f"{self.path}: arrays nested deeper than {_MAX_DEPTH} in its {self.section}; damaged file")
        etype = self.value_type(self.u32())
        count = self.u64()
        if etype in _SCALARS:
            return list(self.scalars(_SCALARS[etype], count))
        if etype == GGUFValueType.STRING:
            return self.strings(count)
        # Strings and arrays have a length of their own; each takes at least 8 bytes, so a count the
        # file cannot hold is refused before looping over it.
        self.need(8 * count)
        return [self.value(etype, depth + 1) for _ in range(count)]


def _byte_order(path: Path, buf: mmap.mmap) -> tuple[str, int]:
    """('<' or '>', version): a big-endian file's version reads as a multiple of 65536 little-endian."""
    if len(buf) < 8 or struct.unpack_from("<I", buf, 0)[0] != GGUF_MAGIC:
        raise GgufError(
            f"{path} is not a GGUF file (it does not start with the bytes 'GGUF'); fix: pass a .gguf model, "
            "such as one converted by llama.cpp's convert_hf_to_gguf.py"
        )
    little = struct.unpack_from("<I", buf, 4)[0]
    order = ">" if little & 0xFFFF == 0 else "<"
    version = int(struct.unpack_from(f"{order}I", buf, 4)[0])
    if version not in READER_SUPPORTED_VERSIONS:
        supported = ", ".join(str(v) for v in READER_SUPPORTED_VERSIONS)
        why = (
            "GGUF version 1 (before August 2023) used 32-bit counts and is no longer written"
            if version < min(READER_SUPPORTED_VERSIONS)
            else "it is newer than the installed gguf library"
        )
        raise GgufError(
            f"{path}: GGUF version {version} is not readable here (versions {supported} are); {why}; fix: convert "
            "the model again with a current llama.cpp, or upgrade the gguf package"
        )
    return order, version


def read_gguf_file(path: Path | str, *, tensors: bool = False) -> GgufFile:
    """The header of a GGUF file; with tensors=True also its tensor table (names, shapes, types, offsets).

    Raises GgufError (a ValueError) when the file is not GGUF, is cut short, or is of a version this
    reader cannot read; OSError when it cannot be opened.
    """
    path = Path(path)
    with path.open("rb") as f:
        size = path.stat().st_size
        if size == 0:
            raise GgufError(f"{path} is empty; fix: pass a .gguf model file (the download may not have started)")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            order, version = _byte_order(path, buf)
            cur = _Cursor(path, buf, order)
            cur.at = 8
            tensor_count, kv_count = cur.u64(), cur.u64()
            cur.section = "metadata"
            metadata: dict[str, Any] = {}
            types: dict[str, GGUFValueType] = {}
            for _ in range(kv_count):
                key = cur.string()
                vtype = cur.value_type(cur.u32())
                if key in metadata:
                    raise GgufError(f"{path}: the metadata key {key!r} appears twice; the file is damaged")
                metadata[key] = cur.value(vtype)
                types[key] = vtype
            if not tensors:
                return GgufFile(path, version, tensor_count, metadata, types)
            cur.section = "tensor table"
            table = tuple(_tensor_info(cur) for _ in range(tensor_count))
            data_offset = _align(cur.at, metadata.get(Keys.General.ALIGNMENT, GGUF_DEFAULT_ALIGNMENT), path)
            _check_extents(path, table, data_offset, size)
            return GgufFile(path, version, tensor_count, metadata, types, table, data_offset)


def _tensor_info(cur: _Cursor) -> TensorInfo:
    name = cur.string()
    dims = cur.u32()
    shape = tuple(int(d) for d in cur.scalars("Q", dims))
    raw = cur.u32()
    try:
        ggml_type = GGMLQuantizationType(raw)
    except ValueError:
        raise GgufError(
            f"{cur.path}: tensor {name!r} has ggml type {raw}, unknown to the installed gguf library; fix: upgrade "
            "the gguf package"
        ) from None
    return TensorInfo(name, shape, ggml_type, cur.u64())


def _align(offset: int, alignment: Any, path: Path) -> int:
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise GgufError(f"{path}: general.alignment is {alignment!r}, not a power of two; the file is damaged")
    return -(-offset // alignment) * alignment


def _check_extents(path: Path, table: tuple[TensorInfo, ...], data_offset: int, size: int) -> None:
    """A file cut inside its tensor data has a complete header; the table says where the data must end."""
    end = max((data_offset + t.offset + t.n_bytes for t in table), default=data_offset)
    if end > size:
        raise GgufError(
            f"{path}: the tensor table needs {end:,} bytes but the file has {size:,}; the download or copy is "
            "incomplete; fix: fetch the model again and check its sha256"
        )
