"""Export a model's output for serving: sparse vectors a search engine indexes, or an ONNX graph.

One encoding loop, one writer per engine family (one file each):

- ``anserini`` (:mod:`~sembridge.export.anserini`): Anserini / pyserini JsonVectorCollection and pre-tokenised
  topics, for a Lucene impact index;
- ``seismic`` (:mod:`~sembridge.export.seismic`): the JSONL Seismic's ``SeismicIndex.build`` reads;
- ``opensearch`` and ``elasticsearch`` (:mod:`~sembridge.export.elastic`): ``_bulk`` files for a
  ``rank_features`` / ``sparse_vector`` field, the index mapping, and search bodies;
- ``qdrant`` (:mod:`~sembridge.export.qdrant`): points with sparse ``indices``/``values`` and the vocabulary.

Every format holds the same numbers (:mod:`~sembridge.export.base`): special tokens dropped
(:mod:`sembridge.encoding.terms`), documents pruned, then integer impacts
``round(w * scale)``, zeros left out. ``export.json`` records the model, scale, pruning,
counts and the format's own figures. The folder is written atomically: an existing one is
refused unless ``overwrite``.

:mod:`~sembridge.export.onnx` writes the model itself as an ONNX graph (fp32 or int8) that
returns the sparse vector, checked against torch on sample texts.

From Python::

    from sembridge.export import export, export_onnx, export_vectors

    export_vectors("out/ru-sembridge", {"d1": "текст"}, "ru-vectors", format="seismic")
    export_onnx("out/ru-sembridge", "ru-onnx")
    export("out/ru-sembridge", "ru-os", format="opensearch", corpus="docs.jsonl")  # as the CLI does

A corpus path is read one document at a time, and the documents are written in parts
(:mod:`~sembridge.export.parts`): ``resume=True`` continues a killed run, ``shard="I/N"`` writes
one of N shards, and :func:`merge_shards` joins the shards' folders::

    for i in range(4):  # four jobs, four GPUs
        export("out/ru-sembridge", f"big-{i}", corpus="big.jsonl", shard=f"{i}/4", resume=True)
    merge_shards([f"big-{i}" for i in range(4)], "big")
"""

from __future__ import annotations

from sembridge.export.anserini import read_vector_collection
from sembridge.export.base import DEFAULT_DOCS_PER_FILE, VectorWriter, quantize
from sembridge.export.onnx import OnnxSparseEncoder, export_onnx
from sembridge.export.parts import Shard
from sembridge.export.pipeline import FORMATS, export
from sembridge.export.seismic import seismic_index_class
from sembridge.export.vectors import EXPORT_FORMATS, WRITERS, export_anserini, export_vectors, merge_shards

__all__ = [
    "DEFAULT_DOCS_PER_FILE",
    "EXPORT_FORMATS",
    "FORMATS",
    "WRITERS",
    "OnnxSparseEncoder",
    "Shard",
    "VectorWriter",
    "export",
    "export_anserini",
    "export_onnx",
    "export_vectors",
    "merge_shards",
    "quantize",
    "read_vector_collection",
    "seismic_index_class",
]
