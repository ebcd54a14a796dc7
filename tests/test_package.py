"""lmlab as a package: the wheel `python -m build` makes installs into a fresh virtual environment, finds
its presets and recipes, and trains there."""

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "lmlab"


def _run(*command: object, cwd: Path | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the wheel's lmlab, not this checkout's
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("build")
    folder = tmp_path_factory.mktemp("package")
    # built from a copy, so the checkout gains no build/ or egg-info folders
    source = folder / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "src", source / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    # no isolation: setuptools comes from this environment, so the build needs no network
    _run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", folder / "dist", source)
    (built,) = (folder / "dist").glob("lmlab-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_holds_the_presets_and_recipes(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("presets", "recipes"):
        shipped = {f"lmlab/{folder}/{p.name}" for p in (SOURCE / folder).glob("*.json")}
        assert shipped and shipped <= names, f"missing from the wheel: {sorted(shipped - names)}"
    assert not any("__pycache__" in name or name.startswith("tests/") for name in names)


@pytest.mark.slow
def test_the_wheel_installs_and_trains_in_a_fresh_environment(wheel, tmp_path):
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    # torch and numpy come from this environment (the CI's pinned torch wheel), lmlab from the wheel only:
    # a path in a .pth file is put on sys.path without reading its own .pth files (this checkout's
    # editable install among them)
    purelib = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    here = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (Path(purelib) / "test-environment.pth").write_text("\n".join(here) + "\n")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel)

    where = _run(python, "-c", "import lmlab; print(lmlab.__file__)", cwd=tmp_path)
    assert Path(where.strip()).is_relative_to(venv)
    version = wheel.name.split("-")[1]
    assert _run(bin_dir / "lmlab", "--version").strip() == f"lmlab {version}"
    assert "scan-simple" in _run(bin_dir / "lmlab", "info", "--presets", cwd=tmp_path)
    assert "arith-sanity" in _run(bin_dir / "lmlab", "info", "--recipes", cwd=tmp_path)
    out = _run(
        bin_dir / "lmlab", "train", "scan-simple", "--set", "train.max_steps=20", "--out", tmp_path / "run",
        "--quiet", cwd=tmp_path,
    )  # fmt: skip
    assert "finished at step 20" in out
    assert (tmp_path / "run" / "checkpoints" / "last").is_dir()
