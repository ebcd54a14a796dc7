"""Stop sequences: streamed and batched samples end before the first stop string."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmlab.cli.main import main
from lmlab.errors import LmlabError
from lmlab.generation.stop import StopFilter, parse_stop
from lmlab.runs.trainer import train

from .conftest import SHARED_DATA, tiny_config


def test_a_stop_split_over_pieces_is_never_half_shown():
    stop_filter = StopFilter(["\n\n"])
    assert stop_filter.push("ab\n") == "ab"  # the newline may start a stop: held back
    assert stop_filter.push("c") == "\nc"  # it did not
    assert stop_filter.push("d\n") == "d"
    assert stop_filter.push("\nmore") == "" and stop_filter.stopped
    assert stop_filter.push("ignored") == "" and stop_filter.flush() == ""


@given(
    text=st.text(alphabet="ab\n", max_size=40),
    cuts=st.lists(st.integers(0, 40), max_size=8),
    stops=st.lists(st.text(alphabet="ab\n", min_size=1, max_size=3), min_size=1, max_size=3),
)
def test_shown_text_is_the_text_up_to_the_first_stop(text, cuts, stops):
    bounds = sorted({0, len(text), *[min(c, len(text)) for c in cuts]})
    stop_filter = StopFilter(stops)
    shown = "".join(stop_filter.push(text[a:b]) for a, b in zip(bounds, bounds[1:], strict=False))
    shown += stop_filter.flush()
    first = min((i for i in (text.find(s) for s in stops) if i >= 0), default=len(text))
    assert shown == text[:first]


def test_escapes_in_stop_arguments():
    assert parse_stop("\\n\\n") == "\n\n" and parse_stop("é\\t") == "é\t" and parse_stop("END") == "END"
    with pytest.raises(LmlabError, match="non-empty"):
        parse_stop("")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("stop") / "run"
    train(tiny_config(), path, data_dir=SHARED_DATA, progress=False)
    return path


def _sample(capsys, run, *extra) -> str:
    args = ["sample", str(run), "--prompt", "ROMEO:", "--max-new-tokens", "60", "--temperature", "0"]
    assert main([*args, *extra]) == 0
    return capsys.readouterr().out


def test_greedy_samples_stop_at_the_first_stop_string_streamed_batched_and_uncached(trained, capsys):
    full = _sample(capsys, trained)[len("ROMEO:") : -1]
    stop = next(c for c in full if full.count(c) >= 2)  # a character the sample holds, twice or more
    expected = "ROMEO:" + full[: full.index(stop)] + "\n"
    assert _sample(capsys, trained, "--stop", stop) == expected
    assert _sample(capsys, trained, "--stop", stop, "--no-cache") == expected
    batched = _sample(capsys, trained, "--stop", stop, "--num-samples", "3").split("\n" + "-" * 40 + "\n")
    assert batched == [expected] * 3
    unstopped = _sample(capsys, trained, "--stop", "never in text")
    assert unstopped == "ROMEO:" + full + "\n"  # --max-new-tokens still bounds it
