"""The pure-Python GGUF header reader: real bundled model, handmade files, broken files."""

from __future__ import annotations

import struct
import time
from pathlib import Path
from typing import Any

import pytest

from policy_desktop.engine.gguf import (
    FILE_TYPE_NAMES,
    ModelFileError,
    read_model_info,
)

UINT8, INT32, UINT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, FLOAT64 = 0, 5, 4, 6, 7, 8, 9, 10, 12


def gguf_string(text: str, *, wide: bool = True) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<Q" if wide else "<I", len(data)) + data


def gguf_value(value_type: int, value: Any, *, wide: bool = True) -> bytes:
    scalar = {UINT8: "<B", INT32: "<i", UINT32: "<I", FLOAT32: "<f", BOOL: "<?"}
    scalar |= {UINT64: "<Q", FLOAT64: "<d"}
    if value_type in scalar:
        return struct.pack(scalar[value_type], value)
    if value_type == STRING:
        return gguf_string(value, wide=wide)
    item_type, items = value
    count = struct.pack("<Q" if wide else "<I", len(items))
    body = b"".join(gguf_value(item_type, item, wide=wide) for item in items)
    return struct.pack("<I", item_type) + count + body


def gguf_bytes(pairs: list[tuple[str, int, Any]], *, version: int = 3, tensors: int = 0) -> bytes:
    """A GGUF header with ``pairs`` (key, value type, value) and no tensor data."""
    wide = version >= 2
    count = "<Q" if wide else "<I"
    header = b"GGUF" + struct.pack("<I", version)
    header += struct.pack(count, tensors) + struct.pack(count, len(pairs))
    for key, value_type, value in pairs:
        header += gguf_string(key, wide=wide) + struct.pack("<I", value_type)
        header += gguf_value(value_type, value, wide=wide)
    return header


TEMPLATE = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}<|assistant|>"

PAIRS: list[tuple[str, int, Any]] = [
    ("general.architecture", STRING, "llama"),
    ("general.name", STRING, "Tiny Test Model"),
    ("general.alignment", UINT32, 32),
    ("general.file_type", UINT32, 7),
    ("llama.context_length", UINT32, 2048),
    ("llama.rope.freq_base", FLOAT32, 10000.0),
    ("llama.use_parallel", BOOL, True),
    ("tokenizer.ggml.tokens", ARRAY, (STRING, ["<s>", "</s>", "hello", "wörld"])),
    ("tokenizer.ggml.scores", ARRAY, (FLOAT32, [0.0, -1.0, -2.0, -3.0])),
    ("tokenizer.ggml.nested", ARRAY, (ARRAY, [(UINT8, [1, 2]), (UINT8, [3])])),
    ("tokenizer.ggml.bos_token_id", UINT64, 1),
    ("tokenizer.chat_template", STRING, TEMPLATE),
    ("general.size_label", FLOAT64, 1.5),
]


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_handmade_gguf_reads_back(tmp_path: Path) -> None:
    path = write(tmp_path / "tiny.gguf", gguf_bytes(PAIRS))
    info = read_model_info(path)
    assert info.path == path
    assert info.name == "Tiny Test Model"
    assert info.quantization == "Q8_0"
    assert info.architecture == "llama"
    assert info.context_length == 2048
    assert info.has_chat_template
    assert info.chat_template == TEMPLATE
    assert info.size_bytes == path.stat().st_size


def test_version_1_header_with_narrow_counts(tmp_path: Path) -> None:
    path = write(tmp_path / "old.gguf", gguf_bytes(PAIRS, version=1))
    assert read_model_info(str(path)).name == "Tiny Test Model"


def test_missing_metadata_falls_back(tmp_path: Path) -> None:
    path = write(tmp_path / "anonymous-Q4_K_M.gguf", gguf_bytes([("x.y", UINT32, 1)]))
    info = read_model_info(path)
    assert info.name == "anonymous-Q4_K_M.gguf"
    assert info.quantization == "unknown"  # never guessed from the file name
    assert info.architecture == "unknown"
    assert info.context_length is None
    assert not info.has_chat_template
    assert info.chat_template is None


@pytest.mark.parametrize(
    ("file_type", "name"),
    [
        (0, "F32"),
        (1, "F16"),
        (15, "Q4_K_M"),
        (18, "Q6_K"),
        (32, "BF16"),
        (1024 + 15, "Q4_K_M"),
        (999, "unknown"),
    ],
)
def test_file_type_names(tmp_path: Path, file_type: int, name: str) -> None:
    pairs = [("general.file_type", UINT32, file_type)]
    assert read_model_info(write(tmp_path / "m.gguf", gguf_bytes(pairs))).quantization == name


def test_file_type_table_matches_llama_cpp() -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    for name in dir(llama_cpp):
        if name.startswith("LLAMA_FTYPE_") and name != "LLAMA_FTYPE_GUESSED":
            expected = (
                name.removeprefix("LLAMA_FTYPE_").removeprefix("MOSTLY_").removeprefix("ALL_")
            )
            assert FILE_TYPE_NAMES[getattr(llama_cpp, name)] == expected


def test_blank_name_and_template_are_absent(tmp_path: Path) -> None:
    pairs = [("general.name", STRING, "  "), ("tokenizer.chat_template", STRING, "")]
    info = read_model_info(write(tmp_path / "blank.gguf", gguf_bytes(pairs)))
    assert info.name == "blank.gguf"
    assert not info.has_chat_template


def assert_model_file_error(path: Path, reason_part: str) -> None:
    with pytest.raises(ModelFileError) as caught:
        read_model_info(path)
    assert caught.value.path == path
    assert reason_part in caught.value.reason
    assert str(caught.value) == f"{path}: {caught.value.reason}"


def test_missing_file(tmp_path: Path) -> None:
    assert_model_file_error(tmp_path / "nope.gguf", "not found")


def test_text_file_is_not_gguf(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.gguf", b"These are not the weights you are looking for.\n")
    assert_model_file_error(path, "not a GGUF")


def test_empty_and_tiny_files(tmp_path: Path) -> None:
    assert_model_file_error(write(tmp_path / "empty.gguf", b""), "empty")
    assert_model_file_error(write(tmp_path / "two.gguf", b"GG"), "not a GGUF")


def test_directory(tmp_path: Path) -> None:
    assert_model_file_error(tmp_path, "directory")


@pytest.mark.parametrize("keep", [4, 6, 10, 20, 40, 100, 250, -30, -1])
def test_truncated_header(tmp_path: Path, keep: int) -> None:
    data = gguf_bytes(PAIRS)
    assert_model_file_error(write(tmp_path / "cut.gguf", data[:keep]), "truncated")


def test_absurd_lengths_are_truncation_not_memory_errors(tmp_path: Path) -> None:
    data = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**62) + b"key"
    assert_model_file_error(write(tmp_path / "huge.gguf", data), "truncated")


def test_unknown_version_and_value_type(tmp_path: Path) -> None:
    assert_model_file_error(
        write(tmp_path / "v9.gguf", b"GGUF" + struct.pack("<IQQ", 9, 0, 0)), "version"
    )
    bad_type = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gguf_string("k") + struct.pack("<I", 77)
    assert_model_file_error(write(tmp_path / "t.gguf", bad_type + b"\0" * 16), "value type")


@pytest.mark.slow
def test_bundled_model_header() -> None:
    from policy_desktop.engine.bundled_model import bundled_model_path

    path = bundled_model_path()
    started = time.perf_counter()
    info = read_model_info(path)
    elapsed = time.perf_counter() - started
    assert info.name.lower().startswith("gemma 3")
    assert "270" in info.name
    assert info.quantization == "Q4_K_M"
    assert info.architecture == "gemma3"
    assert info.context_length is not None and info.context_length >= 8192
    assert not info.has_chat_template  # the bundled model is a base model
    assert info.size_bytes == path.stat().st_size > 200_000_000
    assert elapsed < 1.0  # header only, the 262k-token vocabulary is skipped
