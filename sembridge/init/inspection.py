"""How a target token's row was built, and which terms a text activates.

Both read ``sembridge_init.json``. A folder written by ``sembridge finetune`` carries a copy of
the init report of the folder it started from; one written before it did is followed back
through its ``sembridge_finetune.json`` (``"model"``: the starting folder) to the report. Either
way the rows were fine-tuned after they were initialised as the report says, and the result
says so (``fine_tuned``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from sembridge.errors import SembridgeError
from sembridge.init.report import REPORT_FILE, read_report
from sembridge.loading import load_sparse_encoder, load_tokenizer, locate
from sembridge.model_card import FINETUNE_REPORT
from sembridge.vocab import canonical_form, detect_scheme

logger = logging.getLogger("sembridge")

FINE_TUNED_NOTE = "rows initialised as follows (rows since fine-tuned)"


def init_report(model_dir: str | Path) -> tuple[dict[str, Any], Path | None]:
    """The init report that explains ``model_dir``'s rows, and the fine-tuning report when the
    rows were fine-tuned since (else None).

    The folder's own ``sembridge_init.json`` comes first (``finetune`` copies it along); a
    fine-tuned folder without one is followed back through ``sembridge_finetune.json`` to the
    local folder it started from. Without a report, raises a :class:`SembridgeError` that says
    which folder lacks it.
    """
    folder = Path(model_dir).expanduser()
    fine_tuned = folder / FINETUNE_REPORT if (folder / FINETUNE_REPORT).is_file() else None
    seen: set[Path] = set()
    current = folder
    while not (current / REPORT_FILE).is_file() and current.resolve() not in seen:
        seen.add(current.resolve())
        started = _started_from(current / FINETUNE_REPORT)
        if started is None:
            break
        current = started
    if fine_tuned is not None and not (current / REPORT_FILE).is_file():
        raise SembridgeError(
            f"'{model_dir}' has no {REPORT_FILE}, and the folder it was fine-tuned from "
            f"('{_recorded_model(fine_tuned) or 'not recorded'}') holds none or is not here",
            hint="give the folder written by `sembridge init` it was fine-tuned from",
        )
    report = read_report(current if (current / REPORT_FILE).is_file() else model_dir)
    if fine_tuned is not None:
        logger.info(
            "%s: %s; the init report is %s",
            model_dir,
            FINE_TUNED_NOTE,
            "its copy of " + REPORT_FILE if current == folder else f"'{current / REPORT_FILE}'",
        )
    return report, fine_tuned


def _recorded_model(finetune_report: Path) -> str | None:
    """The ``"model"`` a fine-tuning report records the run started from, or None."""
    try:
        started = json.loads(finetune_report.read_text(encoding="utf-8")).get("model")
    except (OSError, ValueError, AttributeError):
        return None
    return started if isinstance(started, str) else None


def _started_from(finetune_report: Path) -> Path | None:
    """The local folder a fine-tuned folder started from, as its report records it; else None."""
    started = _recorded_model(finetune_report)
    if started is None or not Path(started).expanduser().is_dir():
        return None
    return Path(started).expanduser()


def explain_token(model_dir: str | Path, text: str, top: int | None = None) -> dict[str, Any]:
    """How each piece of ``text`` was built: copied from a source token, or combined from several.

    Each piece carries its position class (``word-initial`` or ``continuation``); for SemBridge
    the result also holds the alpha the rows were built with (under ``--alpha auto``, the chosen
    one; ``alpha_setting`` is then ``"auto"``) and whether the weights were position-aware.

    ``text`` may be a vocabulary entry (``##ова``, ``[CLS]``) or any word, which is split into
    pieces by the model's tokenizer. For a fine-tuned folder (:func:`init_report`) ``fine_tuned``
    is True and ``note`` says that the pieces show how the rows were initialised.
    """
    if not text.strip():
        raise SembridgeError("the token to inspect is empty", hint="give a word or a vocabulary entry")
    if not Path(model_dir).expanduser().exists():  # the report is a local file: no hub id here
        raise SembridgeError(
            f"model folder '{model_dir}' does not exist", hint="give a folder written by `sembridge init`"
        )
    model_dir = Path(model_dir).expanduser()
    report, fine_tuned = init_report(model_dir)
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
    result: dict[str, Any] = {
        "text": text,
        "method": report["summary"]["method"],
        "fine_tuned": fine_tuned is not None,
        "pieces": pieces,
    }
    if fine_tuned is not None:
        result["note"] = f"{FINE_TUNED_NOTE}: see {fine_tuned}"
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
    if locate(model_dir).kind == "missing":  # a path that does not exist (a hub id is loaded)
        raise SembridgeError(
            f"model folder '{model_dir}' does not exist",
            hint="give a model folder, a short name from `sembridge models` or a hub id",
        )
    encoder = load_sparse_encoder(model_dir, device)
    embedding = encoder.encode([text], convert_to_tensor=True)
    dense = embedding.to_dense()[0] if embedding.is_sparse else embedding[0]
    active = int((dense > 0).sum())
    values, ids = dense.topk(min(top_k, active)) if active else (dense[:0], dense[:0].long())
    records: dict[str, Any] = {}
    folder = Path(model_dir).expanduser()
    if (folder / REPORT_FILE).is_file() or (folder / FINETUNE_REPORT).is_file():
        try:
            records = init_report(folder)[0].get("tokens", {})
        except SembridgeError:  # a fine-tuned folder whose lineage is gone: no "built from"
            records = {}
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
