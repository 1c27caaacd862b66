"""How a fleet file is laid out, so that writing its round-trip tree back reproduces it.

ruamel.yaml has one indentation per document and does not record it: the style is found by trying
the usual ones until one writes the unedited tree back exactly as the file is.
"""

from __future__ import annotations

import difflib
import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

IndentStyle = tuple[int, int, int]  # (mapping, sequence, offset)

# Indentation styles tried, in order, until one reproduces the file exactly.
INDENT_STYLES: tuple[IndentStyle, ...] = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (4, 4, 0), (2, 4, 0), (3, 3, 1))
DEFAULT_INDENT = INDENT_STYLES[0]


def round_trip_yaml(style: IndentStyle, explicit_start: bool) -> YAML:
    """A round-trip loader and dumper that keeps quotes and never folds long values."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    mapping, sequence, offset = style
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.width = 4096
    yaml.explicit_start = explicit_start
    return yaml


def dump(yaml: YAML, data: Any) -> str:
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


def matching_style(data: CommentedMap, text: str, explicit_start: bool) -> YAML:
    """The dumper that writes ``data`` back exactly as ``text``; else the one changing the fewest lines.

    A file mixing styles is therefore normalised by its first edit.
    """
    best, best_kept = round_trip_yaml(DEFAULT_INDENT, explicit_start), -1
    lines = text.splitlines()
    for style in INDENT_STYLES:
        candidate = round_trip_yaml(style, explicit_start)
        dumped = dump(candidate, data)
        if dumped == text:
            return candidate
        matcher = difflib.SequenceMatcher(None, lines, dumped.splitlines(), autojunk=False)
        kept = sum(block.size for block in matcher.get_matching_blocks())
        if kept > best_kept:
            best, best_kept = candidate, kept
    return best


def blank_separated(data: CommentedMap, text: str) -> bool:
    """Whether the file puts a blank line before its tenant entries (comments may sit between)."""
    seq = data.get("tenants")
    if not isinstance(seq, CommentedSeq):
        return False
    lines = text.split("\n")
    for index in range(1, len(seq)):
        line = seq.lc.item(index)[0] - 1
        while line >= 0 and lines[line].strip().startswith("#"):
            line -= 1
        if line >= 0 and not lines[line].strip():
            return True
    return False
