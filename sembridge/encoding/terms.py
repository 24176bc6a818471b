"""What counts as a term of a sparse vector, and how a term is spelled for each search engine.

A sparse encoder's output has one dimension per vocabulary id. The dimensions of the tokenizer's
special tokens (``[CLS]``, ``[SEP]``, ``[PAD]``, ``[UNK]``, ``[MASK]``, ``<s>``, ``</s>``, ...)
carry no meaning as index terms: a model may still give them high weights (every text contains
``[CLS]``), so they are dropped from every vector before it is counted (``evaluate``'s active
terms and FLOPs), scored (``evaluate``'s exact retrieval) or written (``export``). Both commands
use :func:`drop_special_tokens`, so an engine fed the export ranks as ``evaluate`` does.

Term strings are the vocabulary tokens (``##ing`` stays ``##ing``), made safe for the engine:
whitespace becomes ``_``, dots may be replaced (:data:`DOT` for Elasticsearch and OpenSearch,
whose feature names may not contain dots in some versions), strings may be capped in length
(Seismic keeps 30 characters), and a string that occurs twice gets ``#<id>`` appended, so
every dimension keeps its own term.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from sembridge.vocab import special_roles

DOT = "\u2024"  # ONE DOT LEADER: stands for "." in engines that refuse dots in feature names


def special_token_ids(tokenizer: Any, dimension: int | None = None) -> np.ndarray:
    """Sorted ids of the tokenizer's special tokens (roles, ``all_special_ids``, added specials).

    Ids at or past ``dimension`` are left out.
    """
    ids = set(special_roles(tokenizer))
    ids.update(int(i) for i in (getattr(tokenizer, "all_special_ids", None) or []))
    added = getattr(tokenizer, "added_tokens_decoder", None) or {}
    ids.update(int(i) for i, token in added.items() if getattr(token, "special", False))
    if dimension is not None:
        ids = {i for i in ids if 0 <= i < dimension}
    return np.array(sorted(ids), dtype=np.int64)


def drop_special_tokens(matrix: sp.spmatrix, special_ids: Sequence[int] | np.ndarray) -> sp.csr_matrix:
    """A CSR copy of ``matrix`` with the columns ``special_ids`` removed from every row (shape kept)."""
    out = sp.csr_matrix(matrix, copy=True)
    special = np.asarray(special_ids, dtype=np.int64)
    if special.size and out.nnz:
        out.data[np.isin(out.indices, special)] = 0
        out.eliminate_zeros()
    return out


def unique_terms(tokens: Sequence[str], *, dots: str = ".", max_chars: int | None = None) -> list[str]:
    """Whitespace-free, unique term strings, one per vocabulary id.

    ``dots`` replaces every ``.``; ``max_chars`` caps a string's length (a longer one keeps its
    start and ends with ``#<id>``). Duplicates, after both, get ``#<id>`` appended.
    """
    cleaned = []
    for i, token in enumerate(tokens):
        term = re.sub(r"\s", "_", token).replace(".", dots) or f"[id:{i}]"
        if max_chars is not None and len(term) > max_chars:
            suffix = f"#{i}"
            term = term[: max_chars - len(suffix)] + suffix
        cleaned.append(term)
    seen: dict[str, int] = {}
    for term in cleaned:
        seen[term] = seen.get(term, 0) + 1
    out = []
    for i, term in enumerate(cleaned):
        if seen[term] > 1:
            suffix = f"#{i}"
            if max_chars is not None:
                term = term[: max_chars - len(suffix)]
            term += suffix
        out.append(term)
    return out
