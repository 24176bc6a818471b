"""Whether the Hugging Face Hub can be reached from here, asked once per run, with a short timeout.

On a machine without a network and without ``HF_HUB_OFFLINE``, transformers and datasets retry
each request for a minute or more before they fail. sembridge asks first, once: a TCP connection
to the hub's endpoint (``HF_ENDPOINT``; or to the HTTPS proxy, when one is set) within
``SEMBRIDGE_HUB_TIMEOUT`` seconds (default 3). When that fails, a hub id that is in the local
cache is loaded from it (the libraries are put in offline mode for the rest of the run), and any
other hub id is refused at once, with the cause, in one line.
"""

from __future__ import annotations

import logging
import os
import socket
from urllib.parse import urlparse

from sembridge.errors import ModelLoadError

logger = logging.getLogger("sembridge")

TIMEOUT_ENV = "SEMBRIDGE_HUB_TIMEOUT"
DEFAULT_TIMEOUT = 3.0
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")

# The answer of this run: unset until asked; then None (reachable) or the cause.
_answer: dict[str, str | None] = {}


def _timeout() -> float:
    text = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        value = DEFAULT_TIMEOUT
    return value if value > 0 else DEFAULT_TIMEOUT


def _address() -> tuple[str, int]:
    """The host and port a hub request connects to first: the proxy's, or the endpoint's."""
    from huggingface_hub import constants

    proxy = next((os.environ[name] for name in _PROXY_VARIABLES if os.environ.get(name)), None)
    url = urlparse(proxy if proxy and "://" in proxy else f"http://{proxy}" if proxy else constants.ENDPOINT)
    return url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)


def offline() -> bool:
    """Whether the libraries are in offline mode (``HF_HUB_OFFLINE``): they then fail fast themselves."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def unreachable() -> str | None:
    """None when the hub answers (or offline mode is on); otherwise why it cannot be reached.

    Asked once per process; the answer is kept for the rest of the run.
    """
    if offline():
        return None
    if "cause" not in _answer:
        host, port = _address()
        try:
            socket.create_connection((host, port), timeout=_timeout()).close()
            _answer["cause"] = None
        except OSError as err:
            reason = err.strerror or str(err) or type(err).__name__
            _answer["cause"] = f"no connection to {host}:{port} within {_timeout():g} s: {reason}"
    return _answer["cause"]


def in_local_cache(repo_id: str, repo_type: str = "model") -> bool:
    """Whether the hub cache holds a snapshot of ``repo_id``."""
    from huggingface_hub import constants

    folder = os.path.join(constants.HF_HUB_CACHE, f"{repo_type}s--{repo_id.replace('/', '--')}", "snapshots")
    return os.path.isdir(folder) and any(os.scandir(folder))


def go_offline() -> None:
    """Put huggingface_hub (and so transformers, sentence-transformers, datasets) in offline mode."""
    from huggingface_hub import constants

    os.environ["HF_HUB_OFFLINE"] = "1"
    constants.HF_HUB_OFFLINE = True


def require_hub(what: str, repo_id: str, repo_type: str = "model") -> None:
    """Before ``repo_id`` is fetched from the hub: refuse it at once when the hub cannot be
    reached and it is not cached; load it from the cache, in offline mode, when it is."""
    cause = unreachable()
    if cause is None:
        return
    if in_local_cache(repo_id, repo_type):
        if not offline():
            logger.info("the model hub is not reachable (%s): loading from the local cache", cause)
            go_offline()
        return
    raise ModelLoadError(
        f"could not load {what}: it is not a local folder, the model hub is not reachable ({cause}), "
        "and it is not in the local cache",
        hint="check the id and the network, pass a local folder, or set HF_HUB_OFFLINE=1 to skip the hub",
    )
