"""Initialisation methods for the rows of new tokens: their declarations, light to import.

``sembridge`` is the paper's method; the others are the baselines it is compared against. Every
method shares the loading, overlap copying, MLM-head remapping, config fixing and output format:
only the rows of the new tokens differ.

* :mod:`~sembridge.methods.catalogue`: each method's name, summary, example and options
  (re-exported here; importing them loads no torch, so ``sembridge init --help`` stays instant);
* :mod:`~sembridge.methods.options`: :class:`MethodOption` and how option values are checked;
* :mod:`~sembridge.methods.base`: what a method receives and returns (``InitContext``, ``NewRows``);
* :mod:`~sembridge.methods.initializers`: name -> implementation, ``create_initializer``;
* SemBridge's own parts (docs/method.md, steps 3-6): ``bridge`` (token strings embedded by the
  multilingual bridge model, cached on disk) and ``bridge_backends`` (torch, ONNX Runtime,
  OpenVINO), ``weights`` (similarity in chunks, exact top-k Entmax, convex combinations),
  ``sparse_weights`` (the CSR weight matrix) and ``position`` (weights drawn within a position class);
* one module per method (``sembridge``, ``random``, ``mean``, ``gaussian``, ``focus``, ``ofa``,
  ``wechsel``) and the pieces they share: ``statistics`` (moments of the source rows),
  ``fallback`` (Gaussian draws for tokens without a vector), ``neighbours`` (top-k softmax),
  ``word_vectors`` (word2vec files, subword vectors, alignment).
"""

from __future__ import annotations

from sembridge.methods.catalogue import (
    DEFAULT_METHOD,
    METHODS,
    MethodSpec,
    check_options,
    declared_options,
    options_by_key,
)
from sembridge.methods.options import MethodOption

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "MethodOption",
    "MethodSpec",
    "check_options",
    "declared_options",
    "options_by_key",
]
