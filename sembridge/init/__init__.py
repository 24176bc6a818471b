"""``sembridge init``: build a target-language sparse encoder from an English one.

- :mod:`~sembridge.init.config`: :class:`InitConfig` (every setting, checked up front) and
  :class:`InitResult`;
- :mod:`~sembridge.init.pipeline`: :func:`initialize`, steps 1-8 of the method
  (docs/method.md), written as one folder;
- :mod:`~sembridge.init.report`: ``sembridge_init.json``, built, written and read;
- :mod:`~sembridge.init.extend`: ``--extend``, the source's tokens plus the target's new ones;
- :mod:`~sembridge.init.query_weights`: the static query weights of inference-free sources;
- :mod:`~sembridge.init.alpha_search`: ``--alpha auto`` on development pairs;
- :mod:`~sembridge.init.inspection`: how a token's row was built, and which terms a text activates.

The rows of new tokens are built by the methods in :mod:`sembridge.methods`.
"""

from __future__ import annotations

from sembridge.init.config import InitConfig, InitResult
from sembridge.init.inspection import explain_token, top_terms
from sembridge.init.pipeline import initialize
from sembridge.init.report import REPORT_FILE, read_report

__all__ = [
    "REPORT_FILE",
    "InitConfig",
    "InitResult",
    "explain_token",
    "initialize",
    "read_report",
    "top_terms",
]
