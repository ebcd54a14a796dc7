"""A token as a label a reader can see: word boundaries and whitespace made visible (attention grids)."""

from __future__ import annotations

SPACE_MARK = "␣"  # U+2423 OPEN BOX, the usual typographic sign for a space; DejaVu Sans draws it


def visible_token(token: str) -> str:
    """Spaces as ␣ (BPE's " the" reads "␣the", so word starts show), other whitespace as escapes (\\n, \\t).

    Idempotent: a label already made visible comes back unchanged.
    """
    if token == "":
        return "''"
    escaped = "".join(repr(ch)[1:-1] if ch.isspace() and ch != " " else ch for ch in token)
    return escaped.replace(" ", SPACE_MARK)
