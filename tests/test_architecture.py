"""The package layering of docs/architecture.md, checked on the source: imports only go downward.

Every `import lmlab.x...` / `from lmlab.x... import` in src/lmlab is folded to its top-level package
(`lmlab.runs.trainer` -> `runs`). A package may import packages on lower floors; on its own floor only
the pairs listed in SAME_FLOOR. Imports inside functions count too: a lazy import is still a
dependency.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "lmlab"

# lowest first; a package imports only from floors below its own (and SAME_FLOOR)
FLOORS: list[set[str]] = [
    {"errors"},
    {"config", "device", "loss"},
    {"presets"},
    {"tokenizers"},
    {"data", "models"},
    {"generation", "inspect", "evaluation"},
    {"training"},
    {"runs"},
    {"experiments", "recipes"},
    {"plots", "reports"},
    {"api"},
    {"cli"},
    {"__init__", "__main__"},
]
SAME_FLOOR = {
    ("evaluation", "generation"),  # exact match decodes
    ("recipes", "experiments"),  # a recipe is a sweep specification
    ("reports", "plots"),  # a report embeds figures
}


def _floor(package: str) -> int:
    for index, floor in enumerate(FLOORS):
        if package in floor:
            return index
    raise AssertionError(f"package {package!r} has no floor in FLOORS; add it to the layering")


def package_imports(root: Path = SOURCE) -> dict[tuple[str, str], list[str]]:
    """(importing package, imported package) -> the modules where the import is written."""
    edges: dict[tuple[str, str], list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        package = relative.parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "lmlab" and len(parts) > 1 and parts[1] != package:
                    edges.setdefault((package, parts[1]), []).append(str(relative))
    return edges


def test_every_import_goes_down_a_floor():
    breaks = [
        f"{a} -> {b} (in {', '.join(sorted(set(where)))})"
        for (a, b), where in package_imports().items()
        if not (_floor(b) < _floor(a) or (a, b) in SAME_FLOOR)
    ]
    assert not breaks, "imports that go up or sideways:\n" + "\n".join(breaks)


def test_no_package_cycles():
    graph: dict[str, set[str]] = {}
    for a, b in package_imports():
        graph.setdefault(a, set()).add(b)
    visiting, done, cycles = set(), set(), []

    def visit(node: str, path: list[str]) -> None:
        if node in visiting:
            cycles.append(" -> ".join([*path[path.index(node) :], node]))
            return
        if node in done:
            return
        visiting.add(node)
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, [*path, node])
        visiting.discard(node)
        done.add(node)

    for node in sorted(graph):
        visit(node, [])
    assert not cycles, "package cycles:\n" + "\n".join(cycles)


def test_the_checker_sees_a_break(tmp_path):
    """The walk finds an upward import written inside a function (so the tests above can fail)."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "gpt.py").write_text("def f():\n    from lmlab.runs.run_dir import RunDir\n")
    edges = package_imports(tmp_path)
    assert edges == {("models", "runs"): ["models/gpt.py"]}
    assert _floor("runs") > _floor("models")


def test_no_file_over_300_lines():
    long = [
        f"{path.relative_to(SOURCE)}: {n} lines"
        for path in sorted(SOURCE.rglob("*.py"))
        if (n := len(path.read_text().splitlines())) > 300
    ]
    assert not long, "split these by job:\n" + "\n".join(long)


@pytest.mark.parametrize("backend", ["svg", "pdf"])
def test_importing_lmlab_keeps_the_matplotlib_backend(backend):
    """A notebook's backend survives `import lmlab.<anything>`; so do torch's threads and logging."""
    modules = sorted(
        "lmlab." + ".".join(p.relative_to(SOURCE).with_suffix("").parts).removesuffix(".__init__")
        for p in SOURCE.rglob("*.py")
        if p.name != "__main__.py"
    )
    script = f"""
import importlib, logging, matplotlib, torch
matplotlib.use({backend!r})
threads, handlers = torch.get_num_threads(), list(logging.getLogger().handlers)
for name in {modules!r}:
    try:
        importlib.import_module(name)
    except ImportError as error:  # an optional extra (ray, transformers) that is not installed
        if "lmlab" in str(error):
            raise
assert matplotlib.get_backend().lower() == {backend!r}, matplotlib.get_backend()
assert torch.get_num_threads() == threads
assert logging.getLogger().handlers == handlers
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
