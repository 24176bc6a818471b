"""The docs site: it builds with ``mkdocs build --strict``, and the README's links point at real files."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _local_links(markdown: str) -> list[str]:
    """The link targets of ``markdown`` that are paths in the repository (no URL, no bare anchor)."""
    targets = [match.group(1) for match in LINK.finditer(markdown)]
    return [t for t in targets if not re.match(r"^[a-z]+:", t) and not t.startswith("#")]


def _heading_ids(markdown: str) -> set[str]:
    """GitHub's ids of the headings of ``markdown`` (the docs site uses the same, see mkdocs.yml)."""
    markdown = re.sub(r"```.*?```", "", markdown, flags=re.DOTALL)  # no "# comments" in code blocks
    ids = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", markdown, flags=re.MULTILINE):
        ids.add(re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-"))
    return ids


def test_readme_links_point_at_existing_files():
    links = _local_links((ROOT / "README.md").read_text(encoding="utf-8"))
    assert any(link.startswith("docs/") for link in links), "README.md links into no docs page"
    missing = [link for link in links if not (ROOT / link.split("#", 1)[0]).exists()]
    assert not missing, f"README.md links to missing files: {missing}"
    for link in links:
        path, _, anchor = link.partition("#")
        if anchor:
            ids = _heading_ids((ROOT / path).read_text(encoding="utf-8"))
            assert anchor in ids, f"README.md links to {link}, but {path} has no heading with that id"


def test_code_layout_lists_every_module():
    spec = importlib.util.spec_from_file_location("_docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    layout = hooks.code_layout()
    for module in (ROOT / "sembridge").rglob("*.py"):
        if module.name == "__init__.py" and module.parent != ROOT / "sembridge":
            continue  # a package's docstring opens its folder's section
        assert f"- `{module.name}`" in layout, module


def test_mkdocs_build_strict(tmp_path):
    for name in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers.python", "material"):
        if importlib.util.find_spec(name.split(".")[0]) is None or importlib.util.find_spec(name) is None:
            if os.environ.get("CI"):  # CI installs the docs extra: a missing package is a failure
                pytest.fail(f"{name} is not installed: pip install -e '.[docs]'")
            pytest.skip(f"{name} is not installed: pip install -e '.[docs]'")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        print(result.stderr)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr[-4000:]}"
    assert (tmp_path / "site" / "python-api" / "index.html").exists()
