"""Griffe extension for the API reference: the few reST idioms of sembridge's docstrings, as Markdown.

The docstrings are Google style, with Sphinx roles in places (``:mod:`~sembridge.init.config```,
``:func:`initialize```) and ``::`` before indented examples. mkdocstrings would print those
verbatim, so this extension rewrites them before rendering:

- ``:role:`a.b.c``` becomes ``a.b.c`` in code, ``:role:`~a.b.c``` becomes ``c`` in code;
- a paragraph ending in ``::`` ends in ``:`` (the indented block after it is already Markdown code);
- an ``Args:`` entry that documents several parameters at once (``prune_mass, prune_top_k: ...``,
  ``data_options / eval_data_options: ...``) becomes one entry per parameter with the same text, so
  each gets its row, with its type from the signature.

Registered in mkdocs.yml under the python handler's ``extensions``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:mod|class|func|meth|attr|data|exc|obj|const|term|ref):`(~?)([^`]+)`")
_LITERAL_BLOCK = re.compile(r"(?<=\S)::[ \t]*$", re.MULTILINE)


def _role(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    if "<" in target and target.endswith(">"):  # :ref:`text <target>`
        target = target.split("<", 1)[0].strip()
    elif short:
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


_ARGS_SECTIONS = {"Args:", "Arguments:", "Parameters:", "Params:", "Keyword Args:", "Keyword Arguments:"}
_GROUPED_ITEM = re.compile(r"^(\s*)(\*{0,2}\w+(?:\s*[,/]\s*\*{0,2}\w+)+)(\s*\([^)]*\))?:(\s.*)?$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def split_grouped_params(text: str) -> str:
    """One ``Args:`` entry per parameter where an entry names several (``a, b: ...``)."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        if line.strip() not in _ARGS_SECTIONS:
            continue
        section_indent = _indent(line)
        item_indent = None  # the indent of the section's entries: that of its first line
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > section_indent):
            item = lines[i]
            if item.strip() and item_indent is None:
                item_indent = _indent(item)
            match = _GROUPED_ITEM.match(item) if item.strip() and _indent(item) == item_indent else None
            i += 1
            if not match:
                out.append(item)
                continue
            body = []  # the entry's continuation lines
            while i < len(lines) and lines[i].strip() and _indent(lines[i]) > _indent(item):
                body.append(lines[i])
                i += 1
            lead, names = match.group(1), match.group(2)
            annotation, rest = match.group(3) or "", match.group(4) or ""
            for name in re.split(r"\s*[,/]\s*", names):
                out.append(f"{lead}{name}{annotation}:{rest}")
                out.extend(body)
    return "\n".join(out)


def rst_to_markdown(text: str) -> str:
    """The docstring ``text`` with Sphinx roles as code spans, ``::`` as ``:``, grouped params split."""
    return split_grouped_params(_LITERAL_BLOCK.sub(":", _ROLE.sub(_role, text)))


class RstRoles(griffe.Extension):
    """Rewrite each docstring once, when Griffe has built its object."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
