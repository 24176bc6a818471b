"""Short names for the models of the SemBridge paper, resolved to hub ids.

Any hub id or local folder works wherever a short name does: :func:`resolve` returns
names it does not know unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["source", "target", "bridge"]


@dataclass(frozen=True)
class RegistryEntry:
    name: str
    role: Role
    hub_id: str
    description: str
    language: str | None = None
    # Text put before each token when it is embedded by a bridge (e5 models expect "query: ").
    prompt: str | None = None


ENTRIES: tuple[RegistryEntry, ...] = (
    # Source sparse encoders (masked-LM models).
    RegistryEntry("splade-v3", "source", "naver/splade-v3", "SPLADE-v3 (BERT, 30,522 wordpieces)"),
    RegistryEntry(
        "splade-pp",
        "source",
        "naver/splade-cocondenser-ensembledistil",
        "SPLADE++ CoCondenser-EnsembleDistil (BERT)",
    ),
    RegistryEntry(
        "granite-30m-sparse",
        "source",
        "ibm-granite/granite-embedding-30m-sparse",
        "Granite sparse (RoBERTa, 50,265 BPE tokens, hidden 384)",
    ),
    RegistryEntry(
        "opensearch-v2-distill",
        "source",
        "opensearch-project/opensearch-neural-sparse-encoding-v2-distill",
        "OpenSearch neural sparse v2 distill (DistilBERT)",
    ),
    # Target-language tokenizers.
    RegistryEntry("ARBERT", "target", "UBC-NLP/ARBERT", "Arabic WordPiece tokenizer", "ar"),
    RegistryEntry(
        "bart-base-chinese", "target", "fnlp/bart-base-chinese", "Chinese WordPiece tokenizer", "zh"
    ),
    RegistryEntry("hindi-bert-v2", "target", "l3cube-pune/hindi-bert-v2", "Hindi WordPiece tokenizer", "hi"),
    RegistryEntry("kobigbird", "target", "monologg/kobigbird-bert-base", "Korean WordPiece tokenizer", "ko"),
    RegistryEntry("rubert", "target", "DeepPavlov/rubert-base-cased", "Russian WordPiece tokenizer", "ru"),
    # Multilingual dense bridges (sentence-transformers models).
    RegistryEntry("bge-m3", "bridge", "BAAI/bge-m3", "BGE-M3, best bridge in the paper (1024-dim)"),
    RegistryEntry(
        "multilingual-minilm",
        "bridge",
        "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",
        "Paraphrase multilingual MiniLM-L12 (384-dim)",
    ),
    RegistryEntry(
        "gte-multilingual",
        "bridge",
        "Alibaba-NLP/gte-multilingual-base",
        "GTE multilingual base (768-dim)",
    ),
    RegistryEntry("qwen3-0.6b", "bridge", "Qwen/Qwen3-Embedding-0.6B", "Qwen3-Embedding-0.6B (1024-dim)"),
    RegistryEntry(
        "multilingual-e5-small",
        "bridge",
        "intfloat/multilingual-e5-small",
        "multilingual-e5-small (384-dim); tokens embedded as 'query: <token>'",
        prompt="query: ",
    ),
)

_BY_NAME = {entry.name.lower(): entry for entry in ENTRIES}
_BY_HUB_ID = {entry.hub_id.lower(): entry for entry in ENTRIES}


def lookup(name: str) -> RegistryEntry | None:
    """The registry entry for a short name or a registered hub id, if any (case-insensitive)."""
    key = name.lower()
    return _BY_NAME.get(key) or _BY_HUB_ID.get(key)


def resolve(name: str) -> str:
    """Turn a short name into its hub id; anything else (hub id, local path) comes back unchanged."""
    entry = _BY_NAME.get(name.lower())
    return entry.hub_id if entry is not None else name


def entries(role: Role | None = None) -> list[RegistryEntry]:
    return [entry for entry in ENTRIES if role is None or entry.role == role]
