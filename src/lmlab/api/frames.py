"""Records as pandas DataFrames: pandas is the optional `notebook` extra, asked for in one line."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def data_frame(records: Iterable[dict[str, Any]]) -> Any:
    """A pandas DataFrame with one row per record (columns in the order they first appear)."""
    try:
        import pandas
    except ImportError:
        from lmlab.errors import LmlabError

        raise LmlabError(
            "tables in the Python API are pandas DataFrames and pandas is not installed; "
            "pip install 'lmlab[notebook]'"
        ) from None
    return pandas.DataFrame.from_records(list(records))
