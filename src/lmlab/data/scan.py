"""SCAN (Lake & Baroni 2018): navigation commands and the action sequences they mean.

The grammar, as in the paper (Figure 6 of its appendix):

    C -> S and S | S after S | S
    S -> V twice | V thrice | V
    V -> D[1] opposite D[2] | D[1] around D[2] | D | U
    D -> U left | U right | turn left | turn right
    U -> walk | look | run | jump

and its interpretation: a primitive is its action (walk -> I_WALK); "turn" alone does nothing but
turn; "x left" turns left, then does x; "x opposite left" turns left twice, then does x; "x around
left" does (turn left, x) four times; "twice" and "thrice" repeat; "a and b" is a then b; "a after b"
is b then a. It generates exactly the 20,910 commands of the official tasks.txt (tested).

Rule-based splits, generated from the grammar and checked against the official files as multisets:
length (train: action sequences of at most 22 actions; test: 24 or more), and the add-primitive
splits, whose train set holds every command without the primitive plus the bare primitive repeated
so that it makes up a tenth of the lines, and whose test set holds every other command using it.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from pathlib import Path

from lmlab.config.data import ADDPRIM_COMPLEX_PATTERN
from lmlab.data.download import RemoteFile, find_local, locate, locate_or_fetch
from lmlab.data.scan_files import ADDPRIM_COMPLEX_DIR, ADDPRIM_COMPLEX_SHA256
from lmlab.errors import LmlabError

PRIMITIVES = {"walk": "I_WALK", "look": "I_LOOK", "run": "I_RUN", "jump": "I_JUMP"}
TURNS = {"left": "I_TURN_LEFT", "right": "I_TURN_RIGHT"}
REPEATS = {"twice": 2, "thrice": 3}
TOTAL_COMMANDS = 20_910  # Lake & Baroni 2018, and the line count of tasks.txt

Pair = tuple[str, str]  # (command, actions), words separated by single spaces


def _verb_phrases() -> Iterator[tuple[str, list[str]]]:
    """Every V with its meaning: 4 + 10 + 10 + 10 = 34 phrases."""
    for word, action in PRIMITIVES.items():
        yield word, [action]
    for verb, direction in itertools.product([*PRIMITIVES, "turn"], TURNS):
        turn = TURNS[direction]
        act = [PRIMITIVES[verb]] if verb != "turn" else []
        yield f"{verb} {direction}", [turn, *act]
        yield f"{verb} opposite {direction}", [turn, turn, *act]
        yield f"{verb} around {direction}", [turn, *act] * 4


def _sentences() -> list[tuple[str, list[str]]]:
    """Every S: 34 verb phrases, each alone, twice and thrice (102)."""
    sentences = []
    for phrase, actions in _verb_phrases():
        sentences.append((phrase, actions))
        for word, times in REPEATS.items():
            sentences.append((f"{phrase} {word}", actions * times))
    return sentences


def generate_commands() -> list[Pair]:
    """All 20,910 (command, actions) pairs of SCAN, in a fixed order."""
    sentences = _sentences()
    pairs = [(command, " ".join(actions)) for command, actions in sentences]
    for (first, first_actions), (second, second_actions) in itertools.product(sentences, repeat=2):
        pairs.append((f"{first} and {second}", " ".join(first_actions + second_actions)))
        pairs.append((f"{first} after {second}", " ".join(second_actions + first_actions)))
    assert len(pairs) == TOTAL_COMMANDS
    return pairs


def length_split(pairs: list[Pair]) -> tuple[list[Pair], list[Pair]]:
    """Train on action sequences of at most 22 actions, test on those of 24 or more (none has 23)."""
    train = [p for p in pairs if len(p[1].split()) <= 22]
    test = [p for p in pairs if len(p[1].split()) >= 24]
    return train, test


def add_primitive_split(pairs: list[Pair], primitive: str) -> tuple[list[Pair], list[Pair]]:
    """ "jump" or "turn left": train without it except its bare command, which fills a tenth of the lines."""
    if primitive not in ("jump", "turn left"):
        raise LmlabError(f"add-primitive split {primitive!r} is unknown; choose jump or turn left")
    uses = [p for p in pairs if _uses(p[0], primitive)]
    others = [p for p in pairs if not _uses(p[0], primitive)]
    bare = next(p for p in pairs if p[0] == primitive)
    train = others + [bare] * (len(others) // 9)  # the bare command is one line in ten
    test = [p for p in uses if p[0] != primitive]
    return train, test


def simple_split(pairs: list[Pair], seed: int, test_fraction: float = 0.2) -> tuple[list[Pair], list[Pair]]:
    """A seeded random split, 80/20 by default (the official simple split: 16,728 / 4,182)."""
    shuffled = sorted(pairs)
    random.Random(seed).shuffle(shuffled)
    n_test = round(test_fraction * len(shuffled))
    return shuffled[n_test:], shuffled[:n_test]


def _uses(command: str, primitive: str) -> bool:
    return f" {primitive} " in f" {command} "


def parse_line(line: str, source: str = "SCAN file", line_number: int = 0) -> Pair:
    """`IN: <command> OUT: <actions>` -> (command, actions)."""
    head, sep, actions = line.strip().partition(" OUT: ")
    if not head.startswith("IN: ") or not sep:
        raise LmlabError(
            f"{source}:{line_number}: expected 'IN: <command> OUT: <actions>', got {line.strip()[:60]!r}"
        )
    return head[len("IN: ") :], actions


def read_pairs(path: Path) -> list[Pair]:
    """Every pair of a file in the official format; blank lines are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise LmlabError(
            f"SCAN file {path} not found; give a path to a file of 'IN: ... OUT: ...' lines"
        ) from None
    except UnicodeDecodeError as error:
        raise LmlabError(
            f"SCAN file {path} is not UTF-8 (byte {error.start}); give a file of 'IN: ... OUT: ...' lines"
        ) from None
    return [parse_line(line, str(path), i + 1) for i, line in enumerate(lines) if line.strip()]


_OFFICIAL_BASE = "https://raw.githubusercontent.com/brendenlake/SCAN/master/"
_OFFICIAL_FILES = {  # file name -> (path in the brendenlake/SCAN repository, SHA-256)
    "tasks.txt": ("tasks.txt", "d824c7d9e9149ba497e25f701981dac79954e04bf670d22e5c209f076ac6c89f"),
    **{
        f"tasks_{part}_template_{name}.txt": (f"template_split/tasks_{part}_template_{name}.txt", sha)
        for (part, name), sha in {
            ("train", "around_right"): "d5d35d174d557645fc61f289424afa0d95fde21422c59a9819e2d0fcfa9d419f",
            ("test", "around_right"): "fc78a5d1077dc2c206d6c42ed89fb9022867618c3f331179bafd3ec1ca699474",
            ("train", "opposite_right"): "b4fe224a2dd636952a90b7e5552017620ab07e0c465db0ee2dddfb0f727feeb6",
            ("test", "opposite_right"): "e7fc129633f82decd39248517a8945385b77009f721f9f4f58df213f73a29a47",
            ("train", "right"): "a09e125dc95c59843d087fd50852c57bc4e77997e2cd69aa04a9a934eea9089b",
            ("test", "right"): "506bed814f8a6ec1eef9c226eb9b2055bc984925902a94d020a23a41080993bb",
            ("train", "jump_around_right"): (
                "f63ba9149feeb021fbb44132265d7b15e6a07e6b12c9d3220418d97d97d71735"
            ),
            ("test", "jump_around_right"): "a3a27e06adece97da26ae506de08c4b6848035970c561691edbf4dcb1e45f9af",
        }.items()
    },
    "tasks_train_simple.txt": (
        "simple_split/tasks_train_simple.txt",
        "941bb8a088c5f53ceff12fde902dc008933cf0c4203cc672c47b5f79d73262dd",
    ),
    "tasks_test_simple.txt": (
        "simple_split/tasks_test_simple.txt",
        "1fe1c8f5a19d0dc40e41bab94278f45f66f3dc415a978bd29855a23440610fc6",
    ),
    "tasks_train_length.txt": (
        "length_split/tasks_train_length.txt",
        "b034212dc7cf87ce62f3a067dd6ad49c4d5cd18d51d615d13825516bcb1ebbc2",
    ),
    "tasks_test_length.txt": (
        "length_split/tasks_test_length.txt",
        "0760752ed34a75116ae11dcc1ee17526b7500060da1366540730fa24894d7db3",
    ),
    "tasks_train_addprim_jump.txt": (
        "add_prim_split/tasks_train_addprim_jump.txt",
        "e3c78485692e028eed4205e1b8b3fd0e785ef2c12d45b5b89204dadf5b239e23",
    ),
    "tasks_test_addprim_jump.txt": (
        "add_prim_split/tasks_test_addprim_jump.txt",
        "8147ae2651422c701162e174d9d66158daa57858a26b30317ac61797118ac7a5",
    ),
    "tasks_train_addprim_turn_left.txt": (
        "add_prim_split/tasks_train_addprim_turn_left.txt",
        "1b3fed86055dd7689d217f1b90cc8960aeb1cf200f4f209dc47935761b05304c",
    ),
    "tasks_test_addprim_turn_left.txt": (
        "add_prim_split/tasks_test_addprim_turn_left.txt",
        "15a82c2d25ac7c3c1fff7e18051fb085974ef3617de895c520d02144396a10e2",
    ),
    **{  # the add-primitive jump split with num composed jump commands (lmlab.data.scan_files)
        name: (f"{ADDPRIM_COMPLEX_DIR}/{name}", sha)
        for (part, num, rep), sha in ADDPRIM_COMPLEX_SHA256.items()
        for name in [f"tasks_{part}_addprim_complex_jump_num{num}_rep{rep}.txt"]
    },
}


def official_file(name: str) -> RemoteFile:
    """The official SCAN file `name` (e.g. tasks_train_length.txt): its address and checksum."""
    if name not in _OFFICIAL_FILES:
        known = ", ".join(sorted(n for n in _OFFICIAL_FILES if "_complex_" not in n))
        pattern = f"tasks_{{train,test}}_{ADDPRIM_COMPLEX_PATTERN}.txt"
        raise LmlabError(f"no official SCAN file {name!r}; known: {known} and {pattern}")
    repo_path, sha256 = _OFFICIAL_FILES[name]
    return RemoteFile(url=_OFFICIAL_BASE + repo_path, sha256=sha256, relative_path=f"scan/{name}")


def load_official(name: str, data_dir: Path | None = None, fetch: bool = False) -> list[Pair]:
    """Pairs of an official file: from `data_dir` / $LMLAB_DATA_DIR (which must hold it), the cache, or
    a download from its canonical address, checked against its SHA-256. With `fetch` (data.source=official
    asked for it), a data directory without the file falls back to the cache and the download."""
    remote = official_file(name)
    return read_pairs(locate_or_fetch(remote, data_dir) if fetch else locate(remote, data_dir))


def generated_simple_warning(seed: int) -> str:
    """The one-line warning a run on the seeded simple split logs (and `lmlab eval` prints)."""
    return (
        f"SCAN simple is a seeded 80/20 split (seed {seed}) of the grammar's {TOTAL_COMMANDS:,} commands, "
        "NOT the official split: pass --data-dir FOLDER holding tasks_train_simple.txt and "
        "tasks_test_simple.txt, or --set data.source=official to download them"
    )


GENERATED_SPLITS = ("simple", "length", "addprim_jump", "addprim_turn_left")


def load_split(
    split: str, source: str = "auto", data_dir: Path | None = None, seed: int = 0
) -> tuple[list[Pair], list[Pair], str]:
    """(train, test, where they came from) for a named split; the description starts with
    "official" or "generated", the source that "auto" resolved to.

    source "generated": from the grammar (the template splits of Loula et al. 2018 are not
    rule-generated here, only fetched); "official": the published files, fetched and verified on
    first use; "auto": the official simple split when a local copy exists (else a seeded 80/20),
    the rule-based splits from the grammar (equal to the official files as multisets, tested), the
    template splits and the add-primitive jump splits with composed examples
    (addprim_complex_jump_num8_rep1 …) from the official files.
    """
    names = (f"tasks_train_{split}.txt", f"tasks_test_{split}.txt")
    if source == "generated" and split not in GENERATED_SPLITS:
        raise LmlabError(
            f"split {split!r} has no generator here; use data.source=official (or auto) to fetch its files"
        )
    if source == "auto" and split == "simple":
        local = [find_local(official_file(name), data_dir) for name in names]
        if all(local):
            return read_pairs(local[0]), read_pairs(local[1]), f"official files in {local[0].parent}"
        source = "generated"
    if source == "official" or split not in GENERATED_SPLITS:
        fetch = source == "official"
        train, test = (load_official(name, data_dir, fetch) for name in names)
        return train, test, "official files"
    pairs = generate_commands()
    if split == "simple":
        train, test = simple_split(pairs, seed)
        return train, test, f"generated from the grammar, seeded 80/20 (seed {seed})"
    if split == "length":
        train, test = length_split(pairs)
    else:
        train, test = add_primitive_split(pairs, split.removeprefix("addprim_").replace("_", " "))
    return train, test, "generated from the grammar"
