"""``sembridge_init.json``: the record of one initialisation, built, written and read here.

The report holds the settings (those every method shares, the chosen method's options by key,
the bridge prompt as used, and ``method_options``, what ``InitConfig`` takes back, as given),
the library versions, summary figures (overlap by kind, new tokens, support sizes, how the
decoder and bias were built, the method's own figures, the time of each stage) and, per target
token, how its row was built: copied from which source token, or the top source tokens and
their weights (``inspect-token`` reads these).
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sembridge.errors import SembridgeError
from sembridge.io import atomic_file
from sembridge.methods import METHODS, declared_options
from sembridge.methods.base import NewRows
from sembridge.version import __version__, library_versions
from sembridge.vocab import Overlap, VocabToken

if TYPE_CHECKING:
    from sembridge.init.config import InitConfig
    from sembridge.init.extend import ExtendedVocab

REPORT_FILE = "sembridge_init.json"


def report_settings(config: InitConfig) -> dict[str, Any]:
    """Shared settings, then each option the method declares (None if unset), then ``method_options``.

    :func:`build_report` then puts the bridge prompt actually used in ``bridge_prompt``.
    """
    shared = asdict(config)
    options = shared.pop("method_options")
    declared = {o.key: options.get(o.key) for o in declared_options(config.method)}
    return {**shared, **declared, "method_options": options}


def token_records(
    target_tokens: list[VocabToken],
    source_tokens: list[VocabToken],
    overlap: Overlap,
    new_rows: NewRows,
    top: int,
    method_summary: str,
) -> dict[str, dict[str, Any]]:
    """Per target token: how its row was built (copied from which source token, or combined from which)."""
    source_text = {t.id: t.token for t in source_tokens}
    target_text = {t.id: t.token for t in target_tokens}
    records: dict[str, dict[str, Any]] = {}
    for m in overlap.matches:
        records[str(m.target_id)] = {
            "token": m.target_token,
            "kind": "copied",
            "match": m.kind,
            "sources": [[m.source_token, 1.0]],
            "source_ids": [m.source_id],
        }
    # The full rows' support sizes (alpha 1 weights store only each row's largest entries).
    supports = new_rows.weights.support_sizes().tolist() if new_rows.weights is not None else []
    for row, target_id in enumerate(overlap.new_ids):
        record: dict[str, Any] = {"token": target_text[target_id], "kind": "new"}
        ids, values = new_rows.weights.row(row) if new_rows.weights is not None else ([], [])
        if len(ids) == 0:
            record["note"] = new_rows.unweighted_note or method_summary
        else:
            record["support"] = int(supports[row])
            record["sources"] = [
                [source_text.get(int(i), f"<{int(i)}>"), round(float(v), 6)]
                for i, v in zip(ids[:top].tolist(), values[:top].tolist(), strict=True)
            ]
            record["source_ids"] = [int(i) for i in ids[:top].tolist()]
        records[str(target_id)] = record
    return dict(sorted(records.items(), key=lambda item: int(item[0])))


def build_report(
    config: InitConfig,
    source_resolved: str,
    target_tokenizer_resolved: str,
    source_tokens: list[VocabToken],
    target_tokens: list[VocabToken],
    overlap: Overlap,
    new_rows: NewRows,
) -> dict[str, Any]:
    """The report of one run (``summary["timings"]`` is left for the caller to fill)."""
    support: dict[str, float] = {}
    if new_rows.weights is not None and len(new_rows.weights):
        sizes = new_rows.weights.support_sizes().float()
        support = {
            "mean": round(float(sizes.mean()), 3),
            "median": float(sizes.median()),
            "max": int(sizes.max()),
            "min": int(sizes.min()),
        }
    settings = report_settings(config)
    if "bridge_prompt" in settings and new_rows.info.get("bridge_prompt") is not None:
        # The prompt in effect (--bridge-prompt, else the registry's or the bridge folder's);
        # ``method_options`` keeps what was given.
        settings["bridge_prompt"] = new_rows.info["bridge_prompt"]
    settings["source_resolved"] = source_resolved
    settings["target_tokenizer_resolved"] = target_tokenizer_resolved
    return {
        "sembridge_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "settings": settings,
        "versions": library_versions(),
        "summary": {
            "method": config.method,
            "source_vocab_size": len(source_tokens),
            "target_vocab_size": len(target_tokens),
            "copied": overlap.num_copied,
            "copied_by_kind": overlap.counts,
            "new": overlap.num_new,
            "support_size": support,
            "decoder": "tied to the input embeddings" if new_rows.decoder is None else "untied, remapped",
            "bias": new_rows.bias_policy if new_rows.bias is not None else "no decoder bias",
            "method_info": new_rows.info,
        },
        "tokens": token_records(
            target_tokens,
            source_tokens,
            overlap,
            new_rows,
            config.top_sources,
            METHODS[config.method].summary,
        ),
    }


def merge_target_reports(reports: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """One report for several target tokenizers (``--extend`` with ``-t`` given several times).

    The settings and versions are the first report's, with each target's resolved name; the
    summary's counts are totals over the targets, its support sizes those of all new rows
    together, and ``summary["targets"]`` keeps each target's own figures. The token records stay
    per target until :func:`record_vocabulary` re-keys them by the extended ids.
    """
    first = reports[0]
    merged = {key: value for key, value in first.items() if key != "tokens"}
    merged["settings"] = {
        **first["settings"],
        "target_tokenizer_resolved": [r["settings"]["target_tokenizer_resolved"] for r in reports],
    }
    summaries = [r["summary"] for r in reports]
    summary = dict(summaries[0])
    for key in ("target_vocab_size", "copied", "new"):
        summary[key] = sum(s[key] for s in summaries)
    kinds: dict[str, int] = {}
    for s in summaries:
        for kind, count in s["copied_by_kind"].items():
            kinds[kind] = kinds.get(kind, 0) + count
    summary["copied_by_kind"] = kinds
    sizes = [
        record["support"]
        for r in reports
        for record in r["tokens"].values()
        if record.get("kind") == "new" and "support" in record
    ]
    if sizes:
        ordered = sorted(sizes)
        summary["support_size"] = {
            "mean": round(sum(sizes) / len(sizes), 3),
            "median": float(ordered[(len(ordered) - 1) // 2]),
            "max": max(sizes),
            "min": min(sizes),
        }
    summary["targets"] = [
        {"target": name, **{k: s[k] for k in ("target_vocab_size", "copied", "new", "support_size")}}
        for name, s in zip(names, summaries, strict=True)
    ]
    merged["summary"] = summary
    return merged


def record_vocabulary(
    report: dict[str, Any],
    extended: ExtendedVocab | None,
    records: list[dict[str, dict[str, Any]]] | None = None,
) -> None:
    """Record the vocabulary mode; under ``--extend``, re-key the token records by the extended ids.

    An extended model keeps the source's ids for its own tokens (they have no record: their rows
    are the source's) and gives appended target token ``k`` id ``source_size + k``; its record is
    the one replace mode writes, with the appended piece and the target id it came from.
    ``records`` holds each target's replace-mode records (default: the report's own, one target);
    with several targets a record also names the ``target`` that brought the piece and, when later
    targets hold it too, those (``shared_with``).
    """
    summary = report["summary"]
    if extended is None:
        summary["vocabulary"] = "replace"
        return
    summary["vocabulary"] = "extend"
    summary["extend"] = extended.summary()
    per_target = records if records is not None else [report.get("tokens", {})]
    several = len(per_target) > 1
    tokens: dict[str, dict[str, Any]] = {}
    for offset, (target_id, piece) in enumerate(zip(extended.target_ids, extended.pieces, strict=True)):
        origin = extended.origins[offset]
        record = dict(per_target[origin].get(str(target_id), {"kind": "new"}))
        record["target_id"] = target_id
        record["token"] = piece
        if several:
            record["target"] = extended.target_of(offset)
            if offset in extended.shared:
                record["shared_with"] = [extended.targets[i] for i in extended.shared[offset]]
        tokens[str(extended.source_size + offset)] = record
    report["tokens"] = tokens


def record_query_weights(report: dict[str, Any], policy: str, weights: Any) -> None:
    """Record how an inference-free model's static query weights were built, and their figures."""
    from sembridge.init.query_weights import query_weight_summary

    how = {
        "combine": "copied for copied tokens, combined with the rows' weights for new tokens",
        "idf": "BM25 IDF recomputed on --target-text",
    }[policy]
    report["summary"]["query_weights"] = {"policy": policy, "how": how, **query_weight_summary(weights)}


def write_report(path: str | Path, report: dict[str, Any]) -> None:
    """JSON with the settings and summary indented and one line per token record, written atomically."""
    head = {k: v for k, v in report.items() if k != "tokens"}
    text = json.dumps(head, indent=2, ensure_ascii=False)[:-2]
    lines = [
        f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in report.get("tokens", {}).items()
    ]
    text += ',\n  "tokens": {\n' + ",\n".join("  " + line for line in lines) + "\n  }\n}\n"
    with atomic_file(path) as handle:
        handle.write(text)


def read_report(model_dir: str | Path) -> dict[str, Any]:
    """The report of a folder written by ``sembridge init``, or an error saying the folder has none."""
    path = Path(model_dir) / REPORT_FILE
    if not path.is_file():
        raise SembridgeError(
            f"'{model_dir}' has no {REPORT_FILE}", hint="give a folder written by `sembridge init`"
        )
    return json.loads(path.read_text(encoding="utf-8"))
