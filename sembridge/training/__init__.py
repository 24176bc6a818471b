"""Fine-tuning of SPLADE models after initialisation: InfoNCE + FLOPs on query-positive pairs.

Built on sentence-transformers' SparseEncoderTrainer, so one GPU, several GPUs (``torchrun``),
bf16, gradient accumulation and checkpoints work as in any Hugging Face training::

    from sembridge.training import FinetuneConfig, finetune

    result = finetune("ru-model", "pairs.jsonl", "ru-model-ft", FinetuneConfig(max_steps=1000))
"""

from __future__ import annotations

from sembridge.training.config import FinetuneConfig, FinetuneResult
from sembridge.training.data import (
    DataOptions,
    load_pairs,
    pairs_to_dataset,
    save_pairs_jsonl,
    validate_pairs,
)
from sembridge.training.losses import build_loss, build_regularizer_warmup
from sembridge.training.stats import SideStats, SparsityStats, sparsity_stats
from sembridge.training.trainer import (
    REPORT_NAME,
    TRAINING_ARGS_NAME,
    default_checkpoint_dir,
    finetune,
    list_checkpoints,
    load_sparse_encoder,
)

__all__ = [
    "REPORT_NAME",
    "TRAINING_ARGS_NAME",
    "DataOptions",
    "FinetuneConfig",
    "FinetuneResult",
    "SideStats",
    "SparsityStats",
    "build_loss",
    "build_regularizer_warmup",
    "default_checkpoint_dir",
    "finetune",
    "list_checkpoints",
    "load_pairs",
    "load_sparse_encoder",
    "pairs_to_dataset",
    "save_pairs_jsonl",
    "sparsity_stats",
    "validate_pairs",
]
