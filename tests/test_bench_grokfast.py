"""bench/grokfast.py on a toy setting: both arms train as separate processes and the table reads them."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "grokfast.py"


def test_the_grokfast_bench_runs_both_arms_with_their_own_step_budgets(tmp_path):
    out = tmp_path / "grokfast.json"
    command = [sys.executable, str(SCRIPT), "--settings", "5:0.6:50:100", "--seeds", "3", "--json", str(out),
               "--set", "train.weight_decay=0.5"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    results = {r["filter"]: r for r in json.loads(out.read_text())}
    assert set(results) == {"ema", "none"}
    assert (results["ema"]["steps_run"], results["none"]["steps_run"]) == (50, 100)
    for r in results.values():
        assert (r["p"], r["fraction"], r["seed"]) == (5, 0.6, 3)
        assert r["overrides"] == ["train.weight_decay=0.5"]
        assert 0.0 <= r["best_val_acc"] <= 1.0
        reached = r["step"] is not None
        assert reached == (r["best_val_acc"] >= 0.99)
    assert "| 5 | 60% | 3 | ema |" in done.stdout
