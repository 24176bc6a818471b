"""Sparse encoding: the one encode loop, what counts as a term, pruning, sparsity figures, and the
bound on the MLM logits' memory.

- :mod:`~sembridge.encoding.encode`: texts to scipy CSR matrices through a SparseEncoder, chunk
  by chunk, on one device, several, or a process pool;
- :mod:`~sembridge.encoding.terms`: special tokens left out, term spellings per engine;
- :mod:`~sembridge.encoding.pruning`: post-hoc pruning by L1 mass or term count (MILCO);
- :mod:`~sembridge.encoding.sparsity`: active terms, FLOPs, the FLOPs regulariser, the share of
  a text's own pieces its vector keeps, and the comparison of two encoders' vectors;
- :mod:`~sembridge.encoding.splade_memory`: MLM logits computed a bounded number of bytes at a time.

Evaluation, export and training all encode through these modules. The package re-exports the
light ones (numpy and scipy only); ``encode`` and ``splade_memory`` load torch, so import them by name.
"""

from __future__ import annotations

from sembridge.encoding.pruning import Pruning, prune_mass, prune_top_k, pruning_sweep
from sembridge.encoding.sparsity import SideStats, SparsityStats, flops, own_piece_share, sparsity_stats

__all__ = [
    "Pruning",
    "SideStats",
    "SparsityStats",
    "flops",
    "own_piece_share",
    "prune_mass",
    "prune_top_k",
    "pruning_sweep",
    "sparsity_stats",
]
