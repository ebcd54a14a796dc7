"""`lmlab sweep`: train a grid of configs over seeds in parallel; summary tables and plots."""

from __future__ import annotations

import argparse
import dataclasses

from lmlab.cli.flags import add_data_dir, add_out, add_overrides
from lmlab.errors import LmlabError
from lmlab.experiments.launchers import Launcher, LocalLauncher, RayLauncher
from lmlab.experiments.results import collect
from lmlab.experiments.sweep import SweepSpec, check_same_sweep, expand, recorded_sweep, run_sweep
from lmlab.plots.sweep import plot_sweep
from lmlab.recipes import load_recipe
from lmlab.reports.sweep_tables import write_tables


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "sweep", help="train a grid of configs over seeds in parallel; summary tables and plots"
    )
    parser.add_argument(
        "recipe",
        metavar="RECIPE",
        help="a recipe (see `lmlab info --recipes`), a recipe .json file, or a preset",
    )
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="values of one config key (or preset=A,B), e.g. --grid 'data.r_train=0.1,0.2' (repeatable)",
    )
    parser.add_argument("--seeds", help="comma-separated seeds, e.g. 0,42 (default: the recipe's, else 0)")
    add_overrides(parser, "override for every run")
    parser.add_argument(
        "--budget-fractions", help="summaries over the first α·T steps too, e.g. 0.1,0.5,1.0 (no retraining)"
    )
    parser.add_argument(
        "--workers", type=int, help="runs trained at once (default: local, one per CPU core; ray, all)"
    )
    parser.add_argument(
        "--launcher",
        choices=("local", "ray"),
        default="local",
        help="local processes, or one Ray task per run (pip install 'lmlab[ray]'; --out on shared storage)",
    )
    parser.add_argument(
        "--ray-address",
        metavar="HOST:PORT",
        help="Ray cluster (default: $RAY_ADDRESS, else one `ray start` runs here, else a new local one)",
    )
    parser.add_argument(
        "--cpus-per-run", type=int, help="CPUs (and torch threads) each Ray run takes (default 1)"
    )
    add_out(parser, "sweep folder (runs, tables, plots)", required=True)
    add_data_dir(parser)
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="write tables and plots from the finished runs; train nothing",
    )
    parser.set_defaults(handler=sweep)


def sweep(args: argparse.Namespace) -> int:
    spec = _sweep_spec(args)
    launcher = _launcher(args)
    if not args.report_only:
        n_runs = len(expand(spec))
        print(f"sweep of {n_runs} runs into {args.out}; logs in {args.out / 'runs'}/*/train.log", flush=True)

        def on_done(run, what: str) -> None:
            print(f"  {run.name}: {what}", flush=True)

        run_sweep(spec, args.out, launcher, data_dir=args.data_dir, on_done=on_done)
    check_same_sweep(spec, args.out, record_it=False)
    results = collect(spec, args.out)
    if not results:
        raise LmlabError(f"{args.out} has no finished runs of this sweep yet; run it without --report-only")
    paths = write_tables(spec, results, args.out)
    figures = plot_sweep(spec, results, args.out / "plots")
    print(paths[0].read_text(), end="")
    print(f"tables: {', '.join(str(p) for p in paths)}; plots: {args.out / 'plots'} ({len(figures)} figures)")
    return 0


def _launcher(args: argparse.Namespace) -> Launcher:
    if args.launcher == "ray":
        return RayLauncher(args.ray_address, args.cpus_per_run or 1, args.workers)
    if args.ray_address or args.cpus_per_run:
        raise LmlabError("--ray-address and --cpus-per-run need --launcher ray")
    return LocalLauncher(args.workers)


def _sweep_spec(args: argparse.Namespace) -> SweepSpec:
    """The recipe, with --grid keys replaced or added, --seeds, --set and --budget-fractions applied;
    --report-only without --grid, --seeds or --set reports the sweep OUT/sweep.json records."""
    spec = load_recipe(args.recipe)
    if args.report_only and not (args.grid or args.seeds or args.overrides):
        spec = _recorded(args, spec)
    grid = dict(spec.grid)
    for item in args.grid:
        key, sep, values = item.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise LmlabError(f"--grid {item!r} is not KEY=V1,V2,...; write e.g. --grid 'model.n_layer=1,2,3'")
        grid[key.strip()] = [v.strip() for v in values.split(",") if v.strip()]
    return dataclasses.replace(
        spec,
        grid=grid,
        seeds=_numbers(args.seeds, int, "--seeds") if args.seeds else spec.seeds,
        overrides=(*spec.overrides, *args.overrides),
        budget_fractions=(
            _numbers(args.budget_fractions, float, "--budget-fractions")
            if args.budget_fractions
            else spec.budget_fractions
        ),
    )


def _recorded(args: argparse.Namespace, recipe: SweepSpec) -> SweepSpec:
    """The sweep recorded in OUT, with the --set values it ran with; the recipe if none is recorded."""
    recorded = recorded_sweep(args.out, recipe.name)
    if recorded is None:
        return recipe
    if recorded.preset != recipe.preset:
        raise LmlabError(
            f"{args.out} holds a sweep of preset {recorded.preset}, not {recipe.preset}; "
            "name the recipe it was run with"
        )
    return recorded


def _numbers(text: str, kind: type, flag: str) -> tuple:
    try:
        return tuple(kind(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise LmlabError(f"{flag} {text!r} must be comma-separated numbers, e.g. 0,42") from None
