"""OFA (Liu et al., 2024): subword vectors from multilingual word vectors, top-k softmax neighbours.

1. Read multilingual word vectors (one space for both languages; word2vec text or binary).
2. Subword vectors: every word is tokenised by the source and by the target tokenizer; a token's
   vector is the plain average of the vectors of the words whose tokenisation contains it,
   ``v(t) = (1 / |W(t)|) sum_{w in W(t)} v(w)``.
3. Overlapping tokens are copied (the pipeline does that for every method).
4. Each other target token with a vector gets ``softmax(cos / T)`` over its ``k`` most similar
   source tokens (defaults T = 0.1, k = 10); its row, untied decoder row and bias are the
   weighted sums of theirs. Tokens without a vector get a per-dimension Gaussian draw.

OFA's optional low-rank factorisation of the embedding matrix is left out: it saves parameters
but is not part of building the rows.
"""

from __future__ import annotations

import logging

from sembridge.log import stage
from sembridge.methods.base import InitContext, Initializer, NewRows
from sembridge.methods.catalogue import OFA
from sembridge.methods.neighbours import neighbour_rows
from sembridge.methods.word_vectors import read_word_vectors, subword_vectors

logger = logging.getLogger("sembridge")


class OfaInitializer(Initializer):
    """OFA: top-k softmax neighbours in a multilingual word-vector space averaged into subwords."""

    spec = OFA

    def build(self, ctx: InitContext) -> NewRows:
        source_tokenizer = self.need("source_tokenizer")
        target_tokenizer = self.need("target_tokenizer")
        s = self.settings
        with stage("subword vectors", ctx.timings):
            vectors = read_word_vectors(s["word_vectors"], s.get("max_word_vectors"))
            source_vectors, source_words = subword_vectors(
                source_tokenizer, vectors, ctx.parts.embeddings.shape[0]
            )
            target_vectors, target_words = subword_vectors(target_tokenizer, vectors, ctx.overlap.target_size)
        with stage("top-k softmax weights", ctx.timings):
            return neighbour_rows(
                ctx,
                source_vectors,
                source_words > 0,
                target_vectors,
                target_words > 0,
                s["top_k"],
                s["temperature"],
                word_vectors=str(s["word_vectors"]),
                words=len(vectors),
                word_vector_dim=vectors.dim,
                subword_vectors="plain average of the vectors of the words containing the token",
            )
