"""Pure-Python reader of a GGUF file's header: what the GUI shows about a model.

Only the metadata key/value section is parsed (through ``mmap``, skipping the large
tokenizer arrays without building them), so reading a 250 MB or 4 GB model's info takes a
few tens of milliseconds and never loads llama.cpp.

GGUF layout (little-endian): magic ``b"GGUF"``, uint32 version, tensor count and key/value
count (uint64; uint32 in version 1), then the key/value pairs, each a string key, a uint32
value type and the value.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "FILE_TYPE_NAMES",
    "GGUF_MAGIC",
    "ModelFileError",
    "ModelInfo",
    "read_model_info",
]

GGUF_MAGIC = b"GGUF"

FILE_TYPE_NAMES: dict[int, str] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    4: "Q4_1_SOME_F16",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    33: "Q4_0_4_4",
    34: "Q4_0_4_8",
    35: "Q4_0_8_8",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
    39: "NVFP4",
    40: "Q1_0",
    41: "Q2_0",
}
"""llama.cpp's ``LLAMA_FTYPE_MOSTLY_*`` / ``LLAMA_FTYPE_ALL_F32`` enum (``general.file_type``)."""

_UNKNOWN = "unknown"

# GGUF value types -> struct format of one scalar.
_STRING = 8
_ARRAY = 9
_SCALAR_FORMATS: dict[int, str] = {
    0: "<B",  # uint8
    1: "<b",  # int8
    2: "<H",  # uint16
    3: "<h",  # int16
    4: "<I",  # uint32
    5: "<i",  # int32
    6: "<f",  # float32
    7: "<?",  # bool
    10: "<Q",  # uint64
    11: "<q",  # int64
    12: "<d",  # float64
}
_MAX_KV_COUNT = 1 << 20  # sanity bound: real files have tens to a few hundred pairs


@dataclass(frozen=True)
class ModelInfo:
    """What a GGUF file's header says about its model.

    Attributes:
        path: the file.
        name: ``general.name``, or the file's base name when the header has none.
        quantization: llama.cpp's name of ``general.file_type`` (``Q4_K_M``, ``F16``, ...),
            ``"unknown"`` when absent or not a known type.
        architecture: ``general.architecture`` (``gemma3``, ``phi3``, ...), ``"unknown"``
            when absent.
        context_length: ``<architecture>.context_length`` (training context), if present.
        has_chat_template: the file carries ``tokenizer.chat_template`` (an instruct model).
        chat_template: that Jinja template, or ``None``.
        size_bytes: size of the file.
    """

    path: Path
    name: str
    quantization: str
    architecture: str
    context_length: int | None
    has_chat_template: bool
    chat_template: str | None
    size_bytes: int


class ModelFileError(Exception):
    """A model file that cannot be used: missing, unreadable, not a GGUF or truncated."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class _Truncated(Exception):
    """Internal: the header ends before its declared content."""


class _Reader:
    """Sequential little-endian reader over a buffer with bounds checks."""

    def __init__(self, buffer: Any, *, wide: bool) -> None:
        self._buffer = buffer
        self._size = len(buffer)
        self._count_format = "<Q" if wide else "<I"
        self._count_size = 8 if wide else 4
        self.offset = 0

    def _take(self, size: int) -> int:
        start = self.offset
        if size < 0 or start + size > self._size:
            raise _Truncated
        self.offset = start + size
        return start

    def scalar(self, fmt: str) -> Any:
        start = self._take(struct.calcsize(fmt))
        return struct.unpack_from(fmt, self._buffer, start)[0]

    def count(self) -> int:
        start = self._take(self._count_size)
        return struct.unpack_from(self._count_format, self._buffer, start)[0]

    def string(self) -> str:
        length = self.count()
        start = self._take(length)
        return bytes(self._buffer[start : start + length]).decode("utf-8", errors="replace")

    def skip_strings(self, count: int) -> None:
        """Skip ``count`` consecutive strings without decoding them."""
        buffer, unpack = self._buffer, struct.unpack_from
        fmt, width = self._count_format, self._count_size
        offset, size = self.offset, self._size
        for _ in range(count):
            if offset + width > size:
                raise _Truncated
            offset += width + unpack(fmt, buffer, offset)[0]
        if offset > size:
            raise _Truncated
        self.offset = offset

    def value(self, value_type: int, *, keep: bool) -> Any:
        """Read (``keep``) or skip one value of ``value_type``; skipped values return None."""
        if value_type in _SCALAR_FORMATS:
            return self.scalar(_SCALAR_FORMATS[value_type])
        if value_type == _STRING:
            if keep:
                return self.string()
            self.skip_strings(1)
            return None
        if value_type == _ARRAY:
            item_type = self.scalar("<I")
            length = self.count()
            self._skip_array(item_type, length)
            return None
        raise ValueError(f"unknown GGUF value type {value_type}")

    def _skip_array(self, item_type: int, length: int) -> None:
        if item_type in _SCALAR_FORMATS:
            self._take(struct.calcsize(_SCALAR_FORMATS[item_type]) * length)
        elif item_type == _STRING:
            self.skip_strings(length)
        elif item_type == _ARRAY:
            for _ in range(length):
                self.value(_ARRAY, keep=False)
        else:
            raise ValueError(f"unknown GGUF array item type {item_type}")


def _wanted(key: str) -> bool:
    return (
        key.startswith("general.")
        or key.endswith(".context_length")
        or key == "tokenizer.chat_template"
    )


def _read_metadata(buffer: Any) -> dict[str, Any]:
    """The scalar and string metadata of a GGUF header held in ``buffer``."""
    if bytes(buffer[:4]) != GGUF_MAGIC:
        raise ValueError("not a GGUF file (bad magic)")
    if len(buffer) < 8:
        raise _Truncated
    version = struct.unpack_from("<I", buffer, 4)[0]
    if version not in (1, 2, 3):
        raise ValueError(f"unsupported GGUF version {version}")
    reader = _Reader(buffer, wide=version >= 2)
    reader.offset = 8
    reader.count()  # tensor count
    kv_count = reader.count()
    if kv_count > _MAX_KV_COUNT:
        raise ValueError(f"implausible metadata count {kv_count}")
    metadata: dict[str, Any] = {}
    for _ in range(kv_count):
        key = reader.string()
        value_type = reader.scalar("<I")
        keep = _wanted(key)
        value = reader.value(value_type, keep=keep)
        if keep and value is not None:
            metadata[key] = value
    return metadata


def _quantization(file_type: Any) -> str:
    if isinstance(file_type, int) and not isinstance(file_type, bool):
        # llama.cpp marks types it guessed with LLAMA_FTYPE_GUESSED (1024).
        return FILE_TYPE_NAMES.get(file_type & ~1024, _UNKNOWN)
    return _UNKNOWN


def _info_from_metadata(path: Path, metadata: dict[str, Any], size: int) -> ModelInfo:
    name = metadata.get("general.name")
    architecture = metadata.get("general.architecture")
    architecture = architecture if isinstance(architecture, str) and architecture else _UNKNOWN
    context = metadata.get(f"{architecture}.context_length")
    template = metadata.get("tokenizer.chat_template")
    template = template if isinstance(template, str) and template.strip() else None
    return ModelInfo(
        path=path,
        name=name.strip() if isinstance(name, str) and name.strip() else path.name,
        quantization=_quantization(metadata.get("general.file_type")),
        architecture=architecture,
        context_length=int(context) if isinstance(context, int) and context > 0 else None,
        has_chat_template=template is not None,
        chat_template=template,
        size_bytes=size,
    )


def read_model_info(path: Path | str) -> ModelInfo:
    """Read a GGUF file's header (never the tensors) into a :class:`ModelInfo`.

    Raises:
        ModelFileError: the file is missing, unreadable, not a GGUF file or its header is
            truncated or malformed.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size < len(GGUF_MAGIC):
                magic = handle.read()
                raise ModelFileError(
                    path, "empty file" if not magic else "not a GGUF file (file too short)"
                )
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                metadata = _read_metadata(mapped)
    except FileNotFoundError:
        raise ModelFileError(path, "file not found") from None
    except IsADirectoryError:
        raise ModelFileError(path, "is a directory, not a model file") from None
    except PermissionError:
        raise ModelFileError(path, "permission denied") from None
    except _Truncated:
        raise ModelFileError(path, "truncated GGUF header") from None
    except ValueError as error:  # bad magic, version or value type
        raise ModelFileError(path, str(error)) from None
    except OSError as error:
        raise ModelFileError(path, f"cannot read file ({error.strerror or error})") from None
    return _info_from_metadata(path, metadata, size)
