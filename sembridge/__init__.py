"""sembridge: adapt English learned-sparse retrieval encoders to new languages (SemBridge).

The public API, one name per stage of the method::

    import sembridge

    init = sembridge.initialize(sembridge.InitConfig("splade-v3", "rubert", alpha=4), "ru-splade")
    run = sembridge.finetune("ru-splade", "pairs.jsonl", "ru-splade-ft", sembridge.FinetuneConfig())
    sembridge.align("ru-en-splade", "parallel.jsonl", "ru-en-aligned")  # --extend models, parallel text
    report = sembridge.evaluate(["ru-splade-ft"], sembridge.load_retrieval_data("miracl-ru-dev"))
    sembridge.export_vectors("ru-splade-ft", {"d1": "текст"}, "ru-vectors", format="opensearch")
    sembridge.export.export("ru-splade-ft", "ru-onnx", format="onnx")  # as `sembridge export` does
    sembridge.add_lexical_weights(model, documents, weight=8.0)  # BM25's weights in a loaded model's vectors

``sembridge.export`` is the export package (its :func:`~sembridge.export.export` is the
``sembridge export`` command as a call). Each name is imported on first use (PEP 562), so
``import sembridge`` loads no torch and the command line's ``--help`` stays instant. The stages
live in their own packages: :mod:`sembridge.init`, :mod:`sembridge.training`,
:mod:`sembridge.evaluation`, :mod:`sembridge.export`, with :mod:`sembridge.data` reading every
file format.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sembridge.errors import ModelLoadError, OutputExistsError, SembridgeError, UsageError
from sembridge.lazy import lazy_exports
from sembridge.version import __version__

if TYPE_CHECKING:
    from sembridge import export
    from sembridge.data import DataOptions, load_pairs, load_retrieval_data
    from sembridge.evaluation import evaluate
    from sembridge.export import export_onnx, export_vectors
    from sembridge.init import InitConfig, InitResult, initialize
    from sembridge.training import AlignOptions, FinetuneConfig, FinetuneResult, align, finetune
    from sembridge.training.lexical import add_lexical_weights

# public name -> the module that defines it
_LAZY = {
    "InitConfig": "sembridge.init",
    "InitResult": "sembridge.init",
    "initialize": "sembridge.init",
    "FinetuneConfig": "sembridge.training",
    "FinetuneResult": "sembridge.training",
    "finetune": "sembridge.training",
    "AlignOptions": "sembridge.training",
    "align": "sembridge.training",
    "evaluate": "sembridge.evaluation",
    "export": "sembridge.export",  # the subpackage itself
    "export_onnx": "sembridge.export",
    "export_vectors": "sembridge.export",
    "DataOptions": "sembridge.data",
    "load_pairs": "sembridge.data",
    "load_retrieval_data": "sembridge.data",
    "add_lexical_weights": "sembridge.training.lexical",
}

__all__ = [
    "AlignOptions",
    "DataOptions",
    "FinetuneConfig",
    "FinetuneResult",
    "InitConfig",
    "InitResult",
    "ModelLoadError",
    "OutputExistsError",
    "SembridgeError",
    "UsageError",
    "__version__",
    "add_lexical_weights",
    "align",
    "evaluate",
    "export",
    "export_onnx",
    "export_vectors",
    "finetune",
    "initialize",
    "load_pairs",
    "load_retrieval_data",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
