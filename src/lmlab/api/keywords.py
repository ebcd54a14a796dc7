"""Config overrides as keywords of the Python API: `train__max_steps=200` is `--set train.max_steps=200`.

One convention: SECTION__KEY=value. A dotted key (`**{"train.max_steps": 200}`), a bare key and an
`overrides=` dictionary are refused in one line that shows the form to write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmlab.config.run import SECTION_TYPES
from lmlab.errors import LmlabError


def override_strings(function: str, keywords: dict[str, Any]) -> list[str]:
    """`{"train__max_steps": 200}` -> `["train.max_steps=200"]`, the strings apply_overrides reads."""
    items = []
    for name, value in keywords.items():
        section, sep, key = name.partition("__")
        if name == "overrides" or not sep or "." in name or section not in SECTION_TYPES or not key:
            raise LmlabError(
                f"{function}() does not take {name}=...: give config overrides as SECTION__KEY=value "
                f"keywords ({'/'.join(SECTION_TYPES)}), e.g. train__max_steps=200"
            )
        items.append(f"{section}.{key}={value_text(value)}")
    return items


def value_text(value: Any) -> str:
    """A Python value as the command-line text the config parser reads."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, Path):
        return str(value.expanduser().resolve())
    return str(value)
