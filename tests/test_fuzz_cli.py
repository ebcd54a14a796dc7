"""No traceback, ever: every command, flag and `--set` key of `lmlab` driven with hostile values.

NaN, ±inf, negative, zero, huge, empty, the wrong type, unknown names, paths that are files, folders,
missing or under a file, undecodable bytes, `$` and markup. Each call must exit 0 or 2, print no
traceback and at most one error line (the last line of stderr, so the message did not run on), and a
call that fails must leave the run directory it was given byte for byte as it was (a command that only
reads leaves it so when it succeeds too). TABLE tries each hostile value on each flag of each command and
on each config key (test_the_table_tries_hundreds_of_inputs counts them); hypothesis mixes several per call.

Known gaps, left out rather than refused: values that are valid but ask for more time or memory than a
machine has (COSTLY, e.g. train.max_steps=1e9 or sample --num-samples=10**30).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmlab.cli.main import build_parser, main
from lmlab.config import apply_overrides, config_keys, key_applies
from lmlab.presets import load_preset
from lmlab.runs.trainer import train

from .conftest import SHARED_DATA, TINY

NON_UTF8 = os.fsdecode(b"\xff\xfe")  # what Python makes of undecodable bytes in argv


def _odd_names_allowed() -> bool:
    """Linux takes any bytes in a file name; macOS refuses those that are not UTF-8."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            (Path(folder) / NON_UTF8).touch()
        except (OSError, UnicodeEncodeError):
            return False
    return True


ODD_NAME = NON_UTF8 if _odd_names_allowed() else "é€"  # for file and folder names
HUGE = ("1e9", str(10**30))
NUMBERS = ("nan", "-nan", "inf", "-inf", "1e400", "-1", "-0", "0", *HUGE, "1e-320", "", " ", "abc", "1.5",
           "0x10", "٣")  # fmt: skip
TEXTS = ("", " ", "abc", "None", "$", "$x^2$", "<script>alert(1)</script>", "%s%d", "{}", "\\frac{1}{2}",
         "\\", "\n", NON_UTF8, "é€😀", "-", "=", ",", "x" * 300)  # fmt: skip
# placeholders, made afresh for every call (see _Sandbox)
PATHS = ("{FILE}", "{GARBAGE}", "{DIR}", "{MISSING}", "{FILE}/sub", "{BYTES}", "{MARKUP}", "{GLOB}", "",
         "{RUN}", "{RUN}/config.json")  # fmt: skip
# config values go through one parser per type: one value of each spelling it refuses is enough
KEY_NUMBERS = ("nan", "inf", "-inf", "-1", "0", *HUGE, "1e-320", "", "abc", "1.5")
BOOLS = ("", "2", "-1", "nan", "abc", "None")
PATH_KEYS = ("data.train_file", "data.test_file", "data.data_file")
# commands that plot or train whenever they succeed (about a second each): a short list of each kind
SLOW = ("report", "sweep", "compare")
SHORT = {
    NUMBERS: ("nan", "-1", "0", HUGE[1], "abc"),
    TEXTS: ("", "$x^2$", "<script>alert(1)</script>", "\n", NON_UTF8),
    PATHS: ("{FILE}/sub", "{BYTES}", "{MARKUP}"),
}
NAMED = ("preset", "recipe", "target")  # positionals naming a preset, recipe or run

# valid values that ask for unbounded time or memory: a known gap, not tried
COSTLY_KEYS = ("train.max_steps", "train.eval_steps", "train.batch_size", "train.grad_accum_steps",
               "train.max_epochs", "data.bpe_vocab_size")  # fmt: skip
COSTLY = {
    ("train", "--set"): {f"{key}={value}" for key in COSTLY_KEYS for value in HUGE},
    ("sample", "--max-new-tokens"): set(HUGE),
    ("sample", "--num-samples"): set(HUGE),
}

# every run trains 2 optimizer steps and evaluates 1 batch
CAP = ["train.max_steps=2", "train.eval_interval=1", "train.eval_steps=1", "train.log_interval=1",
       "train.batch_size=2", "train.device=cpu"]  # fmt: skip
SMALL = ["model.n_layer=1", "model.n_head=2", "model.n_embd=16"]
EXCERPT = [*SMALL, "model.block_size=8", "data.data_file={TEXT}", *CAP]
# the cheapest config each --set key applies to: a key takes the first base it applies to
BASES = {
    "text": ("text", EXCERPT),
    "arithmetic": ("arith-gpt", [*SMALL, "data.p=5", *CAP]),
    "scan": ("scan-simple", [*SMALL, "data.train_file={SCAN}", "data.test_file={SCAN}", *CAP]),
    "bpe": ("text", [*EXCERPT, "data.tokenizer=bpe"]),
    "lstm": ("text", ["model.kind=lstm", *[s for s in EXCERPT if not s.startswith("model.n_head")]]),
}
PROMPTS = {"text": "ab", "arithmetic": "3 + 4 ="}
RUN_NAME = f"run {ODD_NAME} $x<script>%\\frac{{1}}{{2}}"  # every run is copied under this name
ERROR_LINE = re.compile(r"lmlab( [\w-]+)?: error: ")  # ours, or argparse's (prog "lmlab train")
READ_ONLY = ("sample", "next", "metrics", "info", "data")  # never write into the run, even when they succeed


def _sets(items: list[str]) -> list[str]:
    return [f"--set={item}" for item in items]


ARITH = [*_sets(BASES["arithmetic"][1]), "--out={OUT}"]
# each command's cheapest call that reaches deep: (positionals, options); a row replaces or adds one
BASE_CALLS: dict[str, tuple[dict[str, str], list[str]]] = {
    "train": ({"preset": "arith-gpt"}, [*ARITH, "--quiet"]),
    "sample": ({"run": "{RUN}"}, ["--max-new-tokens=3"]),
    "eval": ({"run": "{RUN}"}, ["--splits=val"]),
    "plot": ({"runs": "{RUN}"}, []),
    "metrics": ({"run": "{RUN}"}, []),
    "compare": ({"entries": "arith-gpt"}, [*ARITH, "--quiet"]),
    "attention": ({"run": "{RUN}"}, ["--prompt={PROMPT}"]),
    "sweep": ({"recipe": "arith-sanity"}, ["--grid=preset=arith-gpt", "--seeds=0", "--workers=1", *ARITH]),
    "next": ({"run": "{RUN}"}, ["--prompt={PROMPT}"]),
    "info": ({"target": "{RUN}"}, []),
    "data": ({"preset": "arith-gpt"}, _sets(BASES["arithmetic"][1])),
    "report": ({"path": "{RUN}"}, []),
}
PARSERS = dict(next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices)


def _slots(command: str) -> list[argparse.Action]:
    """The positionals and the options that take a value."""
    return [a for a in PARSERS[command]._actions if a.nargs != 0 and not isinstance(a, argparse._HelpAction)]


def _switches(command: str) -> list[str]:
    return [a.option_strings[-1] for a in PARSERS[command]._actions if a.nargs == 0 and a.dest != "help"]


def _name(action: argparse.Action) -> str:
    return action.option_strings[0] if action.option_strings else action.dest


def _hostile(command: str, action: argparse.Action) -> tuple[str, ...]:
    if action.type in (int, float):
        values = NUMBERS
    elif action.type is Path or action.dest == "data_file":
        values = PATHS
    else:
        values = TEXTS + PATHS if action.dest in NAMED else TEXTS
    if command in SLOW:
        values = SHORT.get(values, SHORT[TEXTS] + SHORT[PATHS])
    return tuple(v for v in values if v not in COSTLY.get((command, _name(action)), ()))


def _key_values(line: str) -> list[str]:
    """`model.n_layer (int) = 6 ...` -> `model.n_layer=VALUE` for each hostile VALUE of its type."""
    key, kind = line.split()[:2]
    values = TEXTS + PATHS if key in PATH_KEYS else {"(int)": KEY_NUMBERS, "(float)": KEY_NUMBERS,
                                                     "(bool)": BOOLS}.get(kind, TEXTS)  # fmt: skip
    return [f"{key}={v}" for v in values if f"{key}={v}" not in COSTLY[("train", "--set")]]


KEYS = {line.split()[0]: _key_values(line) for line in config_keys()}
ASSIGNMENTS = [assignment for values in KEYS.values() for assignment in values]  # every KEY=VALUE
BASE_CONFIGS = {name: apply_overrides(load_preset(preset), sets) for name, (preset, sets) in BASES.items()}


def _base_for(key: str) -> str:
    return next(name for name, config in BASE_CONFIGS.items() if key_applies(config, key))


def _table() -> list[tuple[str, str, str, str]]:
    """(command, slot, value, run kind or train base): each hostile value of each slot and config key."""
    rows = []
    for command in BASE_CALLS:
        for action in _slots(command):
            for value in _hostile(command, action):
                rows.append((command, _name(action), value, tuple(PROMPTS)[len(rows) % 2]))
    for key, assignments in KEYS.items():
        rows += [("train", "--set", assignment, _base_for(key)) for assignment in assignments]
    return rows


TABLE = _table()


def _argv(command: str, changes: list[tuple[str, str | None]], base: str = "arithmetic") -> list[str]:
    """The command's base call with each (slot, value): a positional replaced, an option added last, so
    it wins (--set, --grid and --stop add to the base's); a value of None is a switch."""
    positionals, options = BASE_CALLS[command]
    positionals = dict(positionals)
    if command == "train" and base != "arithmetic":
        positionals["preset"], sets = BASES[base]
        options = [*_sets(sets), "--out={OUT}", "--quiet"]
    extra = []
    for slot, value in changes:
        if not slot.startswith("-"):
            positionals[slot] = value
        else:
            extra.append(slot if value is None else f"{slot}={value}")
    order = [a.dest for a in _slots(command) if not a.option_strings]
    return [command, *(positionals[dest] for dest in order if dest in positionals), *options, *extra]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread, as on a two-core CI runner shared by two jobs; the old setting after."""
    threads, omp = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
    yield
    torch.set_num_threads(threads)
    if omp is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = omp


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> dict[str, Path]:
    """The first 20,000 characters of Tiny Shakespeare (eval and report read them in a blink), 40 SCAN
    pairs, and a tiny trained run of each kind with snapshots: character text (TINY) and arithmetic."""
    folder = tmp_path_factory.mktemp("fuzz")
    text = folder / "shakespeare.txt"
    text.write_text((SHARED_DATA / "tinyshakespeare" / "input.txt").read_text()[:20_000])
    scan = folder / "scan.txt"
    scan.write_text("".join((SHARED_DATA / "scan" / "tasks_train_simple.txt").open().readlines()[:40]))
    snapshots = ["train.snapshot_interval=4"]
    arithmetic = [*SMALL, "data.p=5", "train.max_steps=8", "train.eval_interval=4", "train.device=cpu"]
    runs = {
        "text": apply_overrides(load_preset("text"), [*TINY, *snapshots, f"data.data_file={text}"]),
        "arithmetic": apply_overrides(load_preset("arith-gpt"), [*arithmetic, *snapshots]),
    }
    for name, config in runs.items():
        train(config, folder / name, data_dir=SHARED_DATA, progress=False)
    return {"TEXT": text, "SCAN": scan, **{name: folder / name for name in runs}}


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    """Work in tmp_path: `--out ''` and runs without --out land there, never in the repository."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _snapshot(folder: Path) -> dict[str, bytes | None] | None:
    """Each file's bytes (None for a folder) by relative name, the lock file aside; None if no folder."""
    if not folder.is_dir():
        return None
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
        if p.name != ".lock"
    }


class _Sandbox:
    """A fresh folder per call with the hostile paths, and a copy of the run if the call names it."""

    def __init__(self, parent: Path, assets: dict[str, Path], kind: str, argv: list[str]) -> None:
        self.root = Path(tempfile.mkdtemp(dir=parent))
        self.run = self.root / RUN_NAME
        if any("{RUN}" in arg for arg in argv):
            shutil.copytree(assets[kind if kind in PROMPTS else "arithmetic"], self.run)
        (self.root / "file.txt").write_text("not a run\n")
        (self.root / "garbage.txt").write_bytes(b"\xff\xfe\x00IN: jump OUT:\n{\x80")
        (self.root / "empty").mkdir()
        names = {
            "{RUN}": self.run,
            "{OUT}": self.root / "out",
            "{FILE}": self.root / "file.txt",
            "{GARBAGE}": self.root / "garbage.txt",
            "{DIR}": self.root / "empty",
            "{MISSING}": self.root / "missing",
            "{BYTES}": self.root / ODD_NAME,
            "{MARKUP}": self.root / "$x<script>%\\frac{1}{2}",
            "{GLOB}": self.root / "*.txt",
            "{SCAN}": assets["SCAN"],
            "{TEXT}": assets["TEXT"],
            "{PROMPT}": PROMPTS.get(kind, "ab"),
        }
        for name, path in names.items():
            argv = [arg.replace(name, str(path)) for arg in argv]
        self.argv = argv


def _check(box: _Sandbox, capsys) -> None:
    """One call in-process: exit 0 or 2, no traceback, at most one error line and it the last, and the
    run untouched when the call failed (or when the command only reads)."""
    argv = box.argv
    capsys.readouterr()
    before = _snapshot(box.run)
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse: 2 for a usage error, 0 for --help
        code = exit.code
    err = capsys.readouterr().err
    shown = f"lmlab {' '.join(ascii(a) for a in argv)} -> exit {code}, stderr:\n{err}"
    assert code in (0, 2), shown
    assert "Traceback" not in err, shown
    lines = err.splitlines()
    errors = [line for line in lines if ERROR_LINE.match(line)]
    assert len(errors) == (code == 2) and sum(line.startswith("usage:") for line in lines) <= 1, shown
    assert code == 0 or lines[-1] == errors[0], shown
    if code != 0 or argv[0] in READ_ONLY:
        assert _snapshot(box.run) == before, shown
    shutil.rmtree(box.root, ignore_errors=True)  # kept when an assertion failed, to look at


def test_the_table_tries_hundreds_of_inputs():
    assert len({row[:3] for row in TABLE}) >= 300
    assert {command for command, *_ in TABLE} == set(PARSERS)  # a new command needs a base call
    tried = {value.partition("=")[0] for command, slot, value, _ in TABLE if slot == "--set"}
    assert set(KEYS) <= tried


@pytest.mark.parametrize(
    "command, slot, value, kind", TABLE, ids=[f"{c}-{s}-{ascii(v)[:24]}-{k}" for c, s, v, k in TABLE]
)
def test_one_hostile_value(command, slot, value, kind, assets, in_tmp, capsys):
    """The command's base call with one slot (or --set key) given one hostile value."""
    base = kind if command == "train" and slot == "--set" else "arithmetic"
    argv = _argv(command, [(slot, value)], base)
    _check(_Sandbox(in_tmp, assets, kind, argv), capsys)


@st.composite
def _calls(draw) -> tuple[str, list[tuple[str, str | None]], str]:
    """A command with one to three hostile slot values and switches, on a run of either kind."""
    command = draw(st.sampled_from(sorted(BASE_CALLS)))
    # sweep keeps its one seed: two runs with --workers above one spawn processes, seconds each
    slots = [a for a in _slots(command) if (command, _name(a)) != ("sweep", "--seeds")]
    slot = st.sampled_from(slots).flatmap(
        lambda a: st.sampled_from(ASSIGNMENTS if _name(a) == "--set" else _hostile(command, a)).map(
            lambda v: (_name(a), v)
        )
    )
    switch = st.sampled_from(_switches(command) or ["--help"]).map(lambda s: (s, None))
    changes = draw(st.lists(st.one_of(slot, slot, switch), min_size=1, max_size=3))
    return command, changes, draw(st.sampled_from(sorted(PROMPTS)))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(call=_calls())
def test_hostile_values_mixed(call, assets, in_tmp, capsys):
    """Several hostile values and switches in one call, any --set key among them."""
    command, changes, kind = call
    _check(_Sandbox(in_tmp, assets, kind, _argv(command, changes)), capsys)
