"""Fine-tuning of SPLADE models after initialisation: InfoNCE + FLOPs on query-positive pairs, and
alignment to the English source on parallel text (:func:`align`, :mod:`sembridge.training.align`).

Built on sentence-transformers' SparseEncoderTrainer, so one GPU, several GPUs (``torchrun``),
bf16, gradient accumulation and checkpoints work as in any Hugging Face training::

    from sembridge.training import FinetuneConfig, finetune

    result = finetune("ru-model", "pairs.jsonl", "ru-model-ft", FinetuneConfig(max_steps=1000))

``FinetuneConfig(lexical_weight=C)`` (``--lexical-weight``) adds BM25's weights of each text's own
pieces to the written model's vectors (:mod:`sembridge.training.lexical`).

Training pairs are read by :mod:`sembridge.data` (``DataOptions``, ``load_pairs``), the same
reader ``sembridge evaluate`` and ``sembridge export`` use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sembridge.lazy import lazy_exports

if TYPE_CHECKING:
    from sembridge.encoding.sparsity import SideStats, SparsityStats
    from sembridge.loading import load_sparse_encoder
    from sembridge.training.align import align
    from sembridge.training.checkpoints import default_checkpoint_dir, list_checkpoints
    from sembridge.training.config import AlignOptions, FinetuneConfig, FinetuneResult
    from sembridge.training.lexical import LexicalWeights, add_lexical_weights
    from sembridge.training.losses import build_loss, build_regularizer_warmup
    from sembridge.training.stats import measure_sparsity
    from sembridge.training.trainer import REPORT_NAME, TRAINING_ARGS_NAME, finetune

# public name -> the module that defines it; imported on first use, so importing
# sembridge.training (or its config, for the command line's flags) loads no torch.
_LAZY = {
    "SideStats": "sembridge.encoding.sparsity",
    "SparsityStats": "sembridge.encoding.sparsity",
    "load_sparse_encoder": "sembridge.loading",
    "default_checkpoint_dir": "sembridge.training.checkpoints",
    "list_checkpoints": "sembridge.training.checkpoints",
    "AlignOptions": "sembridge.training.config",
    "align": "sembridge.training.align",
    "FinetuneConfig": "sembridge.training.config",
    "FinetuneResult": "sembridge.training.config",
    "LexicalWeights": "sembridge.training.lexical",
    "add_lexical_weights": "sembridge.training.lexical",
    "build_loss": "sembridge.training.losses",
    "build_regularizer_warmup": "sembridge.training.losses",
    "measure_sparsity": "sembridge.training.stats",
    "REPORT_NAME": "sembridge.training.trainer",
    "TRAINING_ARGS_NAME": "sembridge.training.trainer",
    "finetune": "sembridge.training.trainer",
}

__all__ = [
    "REPORT_NAME",
    "TRAINING_ARGS_NAME",
    "AlignOptions",
    "FinetuneConfig",
    "FinetuneResult",
    "LexicalWeights",
    "SideStats",
    "SparsityStats",
    "add_lexical_weights",
    "align",
    "build_loss",
    "build_regularizer_warmup",
    "default_checkpoint_dir",
    "finetune",
    "list_checkpoints",
    "load_sparse_encoder",
    "measure_sparsity",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
