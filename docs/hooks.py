"""MkDocs hooks: the pages that are generated from the code, so they cannot drift from it.

- ``code-layout.md``: the placeholder ``<!-- code-layout -->`` becomes the list of every module
  under ``sembridge/``, grouped by folder, each with the summary of its docstring. Docstrings are
  read with :mod:`ast`, nothing is imported.
- ``commands/models.md``: the placeholder ``<!-- registry -->`` becomes the table that
  ``sembridge models`` prints, from ``sembridge/registry.py`` (loaded on its own, without the
  package).
- ``development.md``: the placeholder ``<!-- make-targets -->`` becomes the table of the targets
  that ``make help`` lists, from their ``## `` comments in the ``Makefile``.

Registered in mkdocs.yml under ``hooks:``.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sembridge"
LAYOUT_PLACEHOLDER = "<!-- code-layout -->"
REGISTRY_PLACEHOLDER = "<!-- registry -->"
TARGETS_PLACEHOLDER = "<!-- make-targets -->"

_ROLE = re.compile(r":(?:py:)?(?:mod|class|func|meth|attr|data|exc|obj):`(~?)([^`]+)`")


def _markdown(text: str) -> str:
    """A docstring summary as Markdown: Sphinx roles become code spans."""

    def role(match: re.Match[str]) -> str:
        target = match.group(2)
        return f"`{target.rsplit('.', 1)[-1] if match.group(1) else target}`"

    return _cell(_ROLE.sub(role, text))


def _cell(text: str) -> str:
    """``text`` safe in a Markdown list item or table cell: ``|`` escaped, and ``<`` outside code
    spans written as ``&lt;`` so that ``<token>`` is not taken for an HTML tag."""
    parts = re.split(r"(`[^`]*`)", text.replace("|", "\\|"))
    return "".join(part if part.startswith("`") else part.replace("<", "&lt;") for part in parts)


def docstring_summary(path: Path) -> str:
    """The first paragraph of the module docstring of ``path``, on one line ("" when it has none)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as error:
        return f"(does not parse: {error.msg}, line {error.lineno})"
    doc = ast.get_docstring(tree)
    if not doc:
        return ""
    paragraph = doc.strip().split("\n\n", 1)[0]
    return _markdown(" ".join(line.strip() for line in paragraph.splitlines()))


def code_layout(package: Path = PACKAGE) -> str:
    """Markdown: one section per folder of ``package``, one list item per module."""
    folders = sorted(
        {p.parent for p in package.rglob("*.py") if "__pycache__" not in p.parts},
        key=lambda folder: (folder != package, folder.relative_to(package).parts),
    )
    sections = []
    for folder in folders:
        relative = folder.relative_to(package.parent).as_posix()
        lines = [f"## `{relative}/`", ""]
        init = folder / "__init__.py"
        if init.exists() and folder != package and docstring_summary(init):
            lines += [docstring_summary(init), ""]
        for module in sorted(folder.glob("*.py")):
            if module.name == "__init__.py" and folder != package:
                continue
            summary = docstring_summary(module)
            lines.append(f"- `{module.name}`" + (f": {summary}" if summary else ""))
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n"


def registry_table(path: Path = PACKAGE / "registry.py") -> str:
    """Markdown: the columns and rows ``sembridge models`` prints, in its order."""
    spec = importlib.util.spec_from_file_location("_sembridge_registry_for_docs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    rows = ["| name | role | hub id | language | description |", "|---|---|---|---|---|"]
    for entry in module.ENTRIES:
        cells = (f"`{entry.name}`", entry.role, f"`{entry.hub_id}`", entry.language or "", entry.description)
        rows.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(rows) + "\n"


def make_targets(makefile: Path = ROOT / "Makefile") -> str:
    """Markdown: the targets ``make help`` lists (``target: deps ## description``), in file order."""
    rows = ["| target | what it does |", "|---|---|"]
    for line in makefile.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([a-zA-Z_-]+):.*?## (.*)$", line)
        if match:
            rows.append(f"| `make {match.group(1)}` | {_cell(match.group(2))} |")
    return "\n".join(rows) + "\n"


PLACEHOLDERS = {
    "code-layout.md": (LAYOUT_PLACEHOLDER, code_layout),
    "commands/models.md": (REGISTRY_PLACEHOLDER, registry_table),
    "development.md": (TARGETS_PLACEHOLDER, make_targets),
}


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """Fill in the generated part of the pages that have one."""
    if page.file.src_uri not in PLACEHOLDERS:
        return markdown
    placeholder, generate = PLACEHOLDERS[page.file.src_uri]
    if placeholder not in markdown:
        raise ValueError(f"{page.file.src_uri} lost its placeholder {placeholder}")
    return markdown.replace(placeholder, generate())
