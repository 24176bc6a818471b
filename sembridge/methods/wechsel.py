"""WECHSEL (Minixhofer et al., NAACL 2022): aligned word spaces, top-k softmax over the source vocabulary.

1. Read source-language and target-language word vectors (word2vec text or binary) and a
   bilingual dictionary.
2. Align: the orthogonal Procrustes map ``W`` (``W^T W = I``) minimising ``sum ||s W - t||^2``
   over the dictionary pairs (s, t) carries the source space into the target space.
3. Subword vectors, in each language with its own tokenizer: a token's vector is the
   frequency-weighted average of the vectors of the words whose tokenisation contains it,
   ``v(t) = sum_{w in W(t)} f_w v(w) / sum_{w in W(t)} f_w``. word2vec files hold no counts but
   list words most frequent first, so ``f_w = 1 / rank(w)`` (Zipf's law).
4. Each new target token with a vector gets ``softmax(cos / T)`` over its ``k`` most similar
   tokens in the FULL source vocabulary (defaults T = 0.1, k = 10); tokens without a vector get a
   per-dimension Gaussian draw. Overlapping tokens are copied (the pipeline does that for every
   method; WECHSEL itself only copies special tokens).
"""

from __future__ import annotations

import logging

from sembridge.log import stage
from sembridge.methods.base import InitContext, Initializer, NewRows
from sembridge.methods.catalogue import WECHSEL
from sembridge.methods.neighbours import neighbour_rows
from sembridge.methods.word_vectors import (
    align_with_dictionary,
    read_dictionary,
    read_word_vectors,
    subword_vectors,
    zipf_weights,
)

logger = logging.getLogger("sembridge")


class WechselInitializer(Initializer):
    """WECHSEL: Procrustes-aligned word spaces, top-k softmax over the full source vocabulary."""

    spec = WECHSEL

    def build(self, ctx: InitContext) -> NewRows:
        source_tokenizer = self.need("source_tokenizer")
        target_tokenizer = self.need("target_tokenizer")
        s = self.settings
        limit = s.get("max_word_vectors")
        with stage("align word spaces", ctx.timings):
            source_words = read_word_vectors(s["source_word_vectors"], limit)
            target_words = read_word_vectors(s["target_word_vectors"], limit)
            alignment = align_with_dictionary(source_words, target_words, read_dictionary(s["dictionary"]))
            logger.info(
                "Procrustes on %s dictionary pairs: mean pair cosine %.3f -> %.3f",
                f"{alignment.pairs_used:,}",
                alignment.cosine_before,
                alignment.cosine_after,
            )
        with stage("subword vectors", ctx.timings):
            source_vectors, source_counts = subword_vectors(
                source_tokenizer, source_words, ctx.parts.embeddings.shape[0], zipf_weights(len(source_words))
            )
            source_vectors = (source_vectors.double() @ alignment.matrix).float()
            target_vectors, target_counts = subword_vectors(
                target_tokenizer, target_words, ctx.overlap.target_size, zipf_weights(len(target_words))
            )
        with stage("top-k softmax weights", ctx.timings):
            return neighbour_rows(
                ctx,
                source_vectors,
                source_counts > 0,
                target_vectors,
                target_counts > 0,
                s["top_k"],
                s["temperature"],
                source_word_vectors=str(s["source_word_vectors"]),
                target_word_vectors=str(s["target_word_vectors"]),
                dictionary=str(s["dictionary"]),
                source_words=len(source_words),
                target_words=len(target_words),
                subword_vectors="1/rank-weighted average of the vectors of the words containing the token",
                **alignment.info(),
            )
