"""FOCUS (Dobler & de Melo, EMNLP 2023): sparsemax over auxiliary similarities to overlapping tokens.

1. Tokenise target-language text with the target tokenizer and train fastText (CBOW) on the
   token sequences: an auxiliary vector for every target token frequent enough in the text.
2. The candidates are the overlapping (copied) target tokens that have an auxiliary vector.
3. Each new token with an auxiliary vector gets ``sparsemax(cos(new, candidates))`` weights over
   the candidates, i.e. over the source rows they copy; its row (and untied decoder row, and bias)
   is the weighted sum of those source rows.
4. New tokens without an auxiliary vector get a draw from the per-dimension Gaussian of the
   source rows.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from sembridge.data.readers import read_text_lines
from sembridge.errors import SembridgeError
from sembridge.log import stage
from sembridge.methods.base import InitContext, Initializer, NewRows
from sembridge.methods.catalogue import FOCUS
from sembridge.methods.fallback import rows_with_gaussian_fallback
from sembridge.methods.sparse_weights import SparseWeights

logger = logging.getLogger("sembridge")

# Hash buckets for fastText's character n-grams (fastText's own default, 2M, needs 800 MB at dim 100).
FASTTEXT_BUCKETS = 200_000
_TOKENIZE_BATCH = 1000


def tokenize_lines(tokenizer: Any, lines: list[str], vocabulary: dict[int, str]) -> list[list[str]]:
    """Each line as the list of its target tokens (vocabulary strings, e.g. ``##ова``), no special token."""
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    sentences: list[list[str]] = []
    for begin in range(0, len(lines), _TOKENIZE_BATCH):
        encoded = tokenizer(lines[begin : begin + _TOKENIZE_BATCH], add_special_tokens=False)["input_ids"]
        for ids in encoded:
            tokens = [vocabulary[i] for i in ids if i not in special and i in vocabulary]
            if tokens:
                sentences.append(tokens)
    return sentences


def train_fasttext(
    sentences: list[list[str]], dim: int, epochs: int, min_count: int, seed: int
) -> dict[str, torch.Tensor]:
    """Train fastText CBOW (negative sampling 10, as FOCUS does) and return token -> vector.

    Only tokens in fastText's vocabulary (at least ``min_count`` occurrences) get a vector.
    One worker thread and a fixed seed make the result reproducible.
    """
    try:
        from gensim.models import FastText
    except ImportError as err:
        raise SembridgeError("method 'focus' needs gensim", hint="pip install 'gensim>=4.3'") from err
    model = FastText(
        vector_size=dim,
        window=5,
        min_count=min_count,
        sg=0,
        negative=10,
        bucket=FASTTEXT_BUCKETS,
        seed=seed,
        workers=1,
    )
    model.build_vocab(corpus_iterable=sentences)
    if len(model.wv.index_to_key) == 0:
        return {}
    model.train(corpus_iterable=sentences, total_examples=len(sentences), epochs=epochs)
    vectors = torch.from_numpy(model.wv.vectors.copy())
    return {token: vectors[i] for i, token in enumerate(model.wv.index_to_key)}


def sparsemax_weights(
    queries: torch.Tensor,
    keys: torch.Tensor,
    key_source_ids: torch.Tensor,
    num_columns: int,
    chunk_size: int = 1024,
) -> SparseWeights:
    """``sparsemax(cos(query, keys))`` per query, summed per source id (columns = source ids).

    Two overlapping target tokens may copy the same source row (a symbol or fuzzy match): their
    weights add up on that source id, which leaves the combined row unchanged.
    """
    from entmax import sparsemax

    unique_ids, column = torch.unique(key_source_ids, return_inverse=True)
    keys_n = torch.nn.functional.normalize(keys.float(), dim=1)
    blocks = []
    for begin in range(0, queries.shape[0], chunk_size):
        q = torch.nn.functional.normalize(queries[begin : begin + chunk_size].float(), dim=1)
        weights = sparsemax(q @ keys_n.T, dim=-1)
        merged = torch.zeros(q.shape[0], len(unique_ids)).index_add_(1, column, weights)
        blocks.append(SparseWeights.from_dense(merged, num_columns, column_ids=unique_ids))
    return SparseWeights.concat(blocks) if blocks else SparseWeights.empty(num_columns)


class FocusInitializer(Initializer):
    """FOCUS: fastText on target text, sparsemax over cosine similarity to the overlapping tokens."""

    spec = FOCUS

    def build(self, ctx: InitContext) -> NewRows:
        tokenizer = self.need("target_tokenizer")
        settings = self.settings
        num_source = ctx.parts.embeddings.shape[0]
        new_ids = ctx.overlap.new_ids
        vocabulary = {t.id: t.token for t in ctx.target_tokens}
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=ctx.generator))

        with stage("fastText on target text", ctx.timings):
            lines = read_text_lines(settings["target_text"], "--target-text")
            sentences = tokenize_lines(tokenizer, lines, vocabulary)
            n_tokens = sum(len(s) for s in sentences)
            logger.info("1. target text: %s lines, %s tokens", f"{len(lines):,}", f"{n_tokens:,}")
            if not sentences:
                raise SembridgeError(
                    f"--target-text '{settings['target_text']}' gives no token",
                    hint="give target-language text, one passage per line",
                )
            auxiliary = train_fasttext(
                sentences,
                settings["fasttext_dim"],
                settings["fasttext_epochs"],
                settings["fasttext_min_count"],
                seed,
            )
            logger.info("   fastText: %s tokens with an auxiliary vector", f"{len(auxiliary):,}")

        candidates = [m for m in ctx.overlap.matches if m.kind != "special" and m.target_token in auxiliary]
        logger.info(
            "2. overlapping tokens with an auxiliary vector: %s of %s",
            f"{len(candidates):,}",
            f"{ctx.overlap.num_copied:,}",
        )
        with_vector = [pos for pos, tid in enumerate(new_ids) if vocabulary.get(tid) in auxiliary]
        if not candidates:
            logger.warning("no overlapping token has an auxiliary vector: every new row is a Gaussian draw")
            with_vector = []
        with_vector_t = torch.tensor(with_vector, dtype=torch.long)
        fallback = torch.tensor(sorted(set(range(len(new_ids))) - set(with_vector)), dtype=torch.long)
        logger.info(
            "3. new tokens: %s with an auxiliary vector, %s without (Gaussian draw)",
            f"{len(with_vector):,}",
            f"{len(fallback):,}",
        )

        with stage("sparsemax weights", ctx.timings):
            if with_vector:
                queries = torch.stack([auxiliary[vocabulary[new_ids[pos]]] for pos in with_vector])
                keys = torch.stack([auxiliary[m.target_token] for m in candidates])
                key_ids = torch.tensor([m.source_id for m in candidates], dtype=torch.long)
                found = sparsemax_weights(queries, keys, key_ids, num_source, ctx.chunk_size)
                weights = SparseWeights.scatter([(with_vector_t, found)], len(new_ids), num_source)
            else:
                weights = SparseWeights.empty(num_source, rows=len(new_ids))
        return rows_with_gaussian_fallback(
            ctx,
            weights,
            fallback,
            "sparsemax",
            target_text=str(settings["target_text"]),
            target_text_lines=len(lines),
            target_text_tokens=n_tokens,
            fasttext={
                "model": "cbow",
                "dim": settings["fasttext_dim"],
                "epochs": settings["fasttext_epochs"],
                "min_count": settings["fasttext_min_count"],
                "negative": 10,
                "buckets": FASTTEXT_BUCKETS,
                "seed": seed,
                "tokens_with_vector": len(auxiliary),
            },
            overlapping_candidates=len(candidates),
        )
