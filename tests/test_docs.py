"""The documentation site builds in strict mode: a broken link, anchor or API reference fails it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python", "mkdocs_jupyter")


def _missing_plugin() -> str | None:
    for name in PLUGINS:
        try:
            if importlib.util.find_spec(name) is None:
                return name
        except ModuleNotFoundError:
            return name
    return None


@pytest.mark.slow
def test_docs_build_strict(tmp_path):
    missing = _missing_plugin()
    if missing is not None:
        pytest.skip(f"{missing} is not installed (pip install -e '.[docs]')")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert (site / "index.html").is_file()
    api_page = site / "reference" / "api" / "index.html"
    assert api_page.is_file()
    text = api_page.read_text(encoding="utf-8")
    assert 'id="lmlab.api.train"' in text  # the reference was generated from the docstrings
    assert (site / "tutorials" / "scan" / "index.html").is_file()
