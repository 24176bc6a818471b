"""How a target token's row was built, and which terms a text activates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sembridge.errors import SembridgeError
from sembridge.init.report import REPORT_FILE, read_report
from sembridge.loading import load_sparse_encoder, load_tokenizer
from sembridge.vocab import canonical_form, detect_scheme


def explain_token(model_dir: str | Path, text: str, top: int | None = None) -> dict[str, Any]:
    """How each piece of ``text`` was built: copied from a source token, or combined from several.

    Each piece carries its position class (``word-initial`` or ``continuation``); for SemBridge
    the result also holds the alpha the rows were built with (under ``--alpha auto``, the chosen
    one; ``alpha_setting`` is then ``"auto"``) and whether the weights were position-aware.

    ``text`` may be a vocabulary entry (``##ова``, ``[CLS]``) or any word, which is split into
    pieces by the model's tokenizer.
    """
    if not text.strip():
        raise SembridgeError("the token to inspect is empty", hint="give a word or a vocabulary entry")
    report = read_report(model_dir)
    tokenizer = load_tokenizer(model_dir, kind="tokenizer of model")
    vocab = tokenizer.get_vocab()
    if text in vocab:
        ids = [vocab[text]]
    else:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    records = report.get("tokens", {})
    scheme = detect_scheme(tokenizer)
    pieces = []
    for token_id in ids:
        record = dict(
            records.get(
                str(token_id), {"token": tokenizer.convert_ids_to_tokens(token_id), "kind": "unknown"}
            )
        )
        record["id"] = int(token_id)
        canonical, _ = canonical_form(str(tokenizer.convert_ids_to_tokens(int(token_id))), scheme)
        record["position_class"] = "word-initial" if canonical.word_start else "continuation"
        if top is not None and "sources" in record:
            record["sources"] = record["sources"][:top]
        pieces.append(record)
    info = report["summary"].get("method_info") or {}
    result: dict[str, Any] = {"text": text, "method": report["summary"]["method"], "pieces": pieces}
    if "alpha" in info:  # the alpha the rows were built with (the chosen one under --alpha auto)
        result["alpha"] = info["alpha"]
        result["alpha_setting"] = report["settings"].get("alpha", info["alpha"])
        result["position_aware"] = bool(info.get("position_aware", False))
        classes = info.get("position_classes") or {}
        result["position_fallback"] = sorted(c for c, v in classes.items() if v.get("fallback"))
    return result


def top_terms(model_dir: str | Path, text: str, top_k: int = 20, device: str = "cpu") -> dict[str, Any]:
    """The most activated vocabulary terms of ``text``'s sparse vector, with how each term's row was built."""
    if not text.strip():
        raise SembridgeError("the text to inspect is empty", hint="give some text in quotes")
    encoder = load_sparse_encoder(model_dir, device)
    embedding = encoder.encode([text], convert_to_tensor=True)
    dense = embedding.to_dense()[0] if embedding.is_sparse else embedding[0]
    active = int((dense > 0).sum())
    values, ids = dense.topk(min(top_k, active)) if active else (dense[:0], dense[:0].long())
    records: dict[str, Any] = {}
    path = Path(model_dir) / REPORT_FILE
    if path.is_file():
        records = read_report(model_dir).get("tokens", {})
    tokenizer = encoder.tokenizer
    terms = []
    for value, token_id in zip(values.tolist(), ids.tolist(), strict=True):
        record = records.get(str(token_id), {})
        terms.append(
            {
                "id": int(token_id),
                "term": tokenizer.convert_ids_to_tokens(int(token_id)),
                "weight": round(float(value), 4),
                "kind": record.get("kind", ""),
                "built_from": [s[0] for s in record.get("sources", [])[:3]],
            }
        )
    return {"text": text, "active_terms": active, "terms": terms}
