"""The BPE assignment's data pipeline: its line cleaning and its tokenizer (data.tokenizer=course_bpe)."""

import math
import random

import pytest
import torch

from lmlab.config import apply_overrides
from lmlab.data import shakespeare
from lmlab.data.batches import make_batches
from lmlab.data.corpus import load_corpus, window_split
from lmlab.data.lines import drop_lines
from lmlab.errors import LmlabError
from lmlab.presets import load_preset
from lmlab.runs.run_dir import RunDir
from lmlab.runs.trainer import train
from lmlab.tokenizers import load_tokenizer, save_tokenizer, tokenizer_from_dict
from lmlab.tokenizers.course_bpe import CourseBPETokenizer, fold_caps, learn_vocab
from lmlab.tokenizers.labels import visible_token

from .conftest import SHARED_DATA, TINY

PLAY = (
    "First Citizen:\nBefore we proceed.\n\nAll:\nSpeak, speak.\n\n\n"
    "Second Citizen:\nYou are all resolved.\nRather to die.\n"
)


def test_cleaning_drops_the_speaker_lines_by_position_and_the_blank_lines():
    kept = "Before we proceed.\nSpeak, speak.\nYou are all resolved.\nRather to die."
    assert drop_lines(PLAY, True, True) == kept
    assert drop_lines(PLAY, True, False) == (
        "Before we proceed.\n\nSpeak, speak.\n\n\nYou are all resolved.\nRather to die."
    )
    assert drop_lines(PLAY, False, True) == (
        "First Citizen:\nBefore we proceed.\nAll:\nSpeak, speak.\nSecond Citizen:\nYou are all resolved.\n"
        "Rather to die."
    )
    assert drop_lines(PLAY, False, False) == PLAY
    # only an empty line is blank: one of spaces is text, and the line after it is kept
    assert drop_lines("A:\nhi\n \nB:\nyo\n\n", True, True) == "hi\n \nB:\nyo"


def test_the_cleaning_applies_to_a_text_corpus_before_it_is_split(tmp_path):
    (tmp_path / "play.txt").write_text(PLAY)
    overrides = [*TINY, f"data.data_file={tmp_path / 'play.txt'}", "data.drop_speaker_lines=true"]
    config = apply_overrides(load_preset("text"), [*overrides, "data.drop_blank_lines=true"]).data
    corpus = load_corpus(config)
    ids = [*corpus.train.tolist(), *corpus.val.tolist()]
    assert corpus.tokenizer.decode(ids) == drop_lines(PLAY, True, True)


def naive_vocab(words: dict[str, int], alphabet: set[str], size: int) -> list[str]:
    """The assignment's procedure done plainly: recount every pair each round, take the first of the
    most frequent (max keeps the first maximum met), merge it everywhere."""
    splits = {word: list(word) for word in words}
    vocab = set(alphabet)
    while len(vocab) < size:
        counts: dict[tuple[str, str], int] = {}
        for word, freq in words.items():
            for pair in zip(splits[word], splits[word][1:], strict=False):
                counts[pair] = counts.get(pair, 0) + freq
        if not counts:
            break
        best = max(counts, key=counts.__getitem__)
        for word in words:
            old, new, i = splits[word], [], 0
            while i < len(old):
                if i + 1 < len(old) and (old[i], old[i + 1]) == best:
                    new.append(best[0] + best[1])
                    i += 2
                else:
                    new.append(old[i])
                    i += 1
            splits[word] = new
        vocab.add(best[0] + best[1])
    return sorted(vocab, key=lambda token: (len(token), token))


def test_incremental_learning_gives_the_vocabulary_of_the_plain_procedure():
    rng = random.Random(0)
    for _ in range(200):
        words: dict[str, int] = {}
        for _ in range(rng.randint(1, 8)):
            word = "".join(rng.choice("abcd") for _ in range(rng.randint(1, 8)))
            words[word] = words.get(word, 0) + rng.randint(1, 3)
        alphabet = {ch for word in words for ch in word}
        size = len(alphabet) + rng.randint(0, 12)
        assert learn_vocab(words, alphabet, size) == naive_vocab(words, alphabet, size)


def test_ties_go_to_the_pair_met_first_and_the_vocabulary_has_the_size_asked():
    # "cd" and " ab" (Ġab) hold three pairs of one count each; ("c", "d") comes first in the text
    assert CourseBPETokenizer.fit("cd ab", 6).tokens == ["a", "b", "c", "d", "Ġ", "cd"]
    text = drop_lines(PLAY, True, True)
    assert [CourseBPETokenizer.fit(text, size).vocab_size for size in (30, 41, 60)] == [30, 41, 60]
    with pytest.raises(LmlabError, match="data.bpe_vocab_size=5 is smaller than"):
        CourseBPETokenizer.fit(text, 5)


def test_words_in_capitals_are_folded_for_learning_but_encoded_as_written():
    assert [fold_caps(w) for w in ("ROMEO", "ĠROMEO", "ĠI", "I", "Romeo", "ĠĠ")] == [
        "Romeo", "Ġromeo", "Ġi", "I", "Romeo", "Ġġ",
    ]  # fmt: skip
    text = "ROMEO ROMEO romeo"
    tokenizer = CourseBPETokenizer.fit(text, 30, alphabet_text=text)  # folded, the words lack O, M, E
    assert "Ġromeo" in tokenizer.tokens and not any("ROM" in t or "ĠR" in t for t in tokenizer.tokens)
    assert [tokenizer.token_text(i) for i in tokenizer.encode(" ROMEO")] == [" ", "R", "O", "M", "E", "O"]
    assert [tokenizer.token_text(i) for i in tokenizer.encode(" romeo")] == [" romeo"]


def test_encoding_is_the_greedy_longest_match_from_the_left():
    tokenizer = CourseBPETokenizer(["a", "b", "c", "ab", "bc"])
    assert tokenizer.encode("abc") == [3, 2]  # ab c, though a bc would be as short
    assert tokenizer.encode("abcbc") == [3, 2, 4]
    assert tokenizer.encode("ab\nc") == [3, 2]  # lines are read joined
    tokenizer = CourseBPETokenizer.fit("the the", 10)
    assert visible_token(tokenizer.token_text(tokenizer.ids["Ġthe"])) == "␣the"


def test_decode_gives_the_text_back_without_newlines_and_saved_tokenizers_load_the_same(tmp_path):
    text = "Naïve café — O ROMEO!\n  spaced  out \n\nlast line"
    tokenizer = CourseBPETokenizer.fit(text, 40, alphabet_text=text)
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text.replace("\n", "")
    save_tokenizer(tokenizer, tmp_path / "tokenizer.json")
    loaded = load_tokenizer(tmp_path / "tokenizer.json")
    assert isinstance(loaded, CourseBPETokenizer) and loaded.tokens == tokenizer.tokens
    assert loaded.encode(text) == ids
    assert tokenizer_from_dict(tokenizer.to_dict()).tokens == tokenizer.tokens


def test_a_character_never_seen_is_a_one_line_error_not_a_hang():
    tokenizer = CourseBPETokenizer.fit("abc abc", 8)
    with pytest.raises(LmlabError, match="never saw the character 'z'"):
        tokenizer.encode("ab zz")
    # the alphabet takes the whole corpus's characters: validation text encodes
    assert CourseBPETokenizer.fit("abc", 8, alphabet_text="abc\nxyz").encode("zyx") == [5, 4, 3]


def test_tiny_shakespeare_as_the_assignment_prepares_it_gives_its_counts():
    text = drop_lines(shakespeare.load_text(SHARED_DATA), True, True)
    tokenizer = CourseBPETokenizer.fit(text, 500, alphabet_text=text)  # all the text, as the assignment
    assert tokenizer.vocab_size == 500
    alphabet = [t for t in tokenizer.tokens if len(t) == 1]
    assert len(alphabet) == 65  # the folded words' characters; the text adds none
    ids = torch.from_numpy(tokenizer.encode_array(text))
    assert len(ids) - 50 == 423_593  # the assignment's stride-1 windows of 50 tokens
    train, val = window_split(ids, 0.8, 50)
    assert (len(train) - 50, len(val) - 50) == (338_874, 84_719)
    # the assignment's first words, as it prints them: Be fore, Ġwe, Ġpro ce ed, Ġan y, Ġf ur ther
    first = [70, 363, 354, 416, 92, 99, 295, 61, 187, 164, 376]
    assert tokenizer.encode("Before we proceed any further") == first
    # lmlab learns the merges from the train part only: other tokens, a few more windows
    config = apply_overrides(
        load_preset("shakespeare-bpe"),
        ["data.tokenizer=course_bpe", "data.drop_speaker_lines=true", "data.drop_blank_lines=true"]
        + ["data.windows=all", "data.train_fraction=0.8", "model.block_size=50"],
    )
    data = make_batches(config, SHARED_DATA)
    assert data.tokenizer.vocab_size == 500
    assert (data.epoch_size, data.window_count("val")) == (339_070, 84_768)


def test_a_run_trains_and_saves_the_course_tokenizer_and_reads_a_text_in_epochs(tmp_path):
    path = tmp_path / "play.txt"
    path.write_text(PLAY * 4)
    course = [f"data.data_file={path}", "data.tokenizer=course_bpe", "data.bpe_vocab_size=60"]
    epochs = ["data.windows=all", "data.drop_speaker_lines=true", "train.max_epochs=1", "model.block_size=8"]
    config = apply_overrides(load_preset("text"), [*course, *epochs], shared=TINY)
    result = train(config, tmp_path / "run", progress=False)
    run = RunDir(tmp_path / "run")
    tokenizer = run.tokenizer()
    assert isinstance(tokenizer, CourseBPETokenizer) and tokenizer.vocab_size == 60
    assert result.step == run.config().train.max_steps == math.ceil(make_batches(config).epoch_size / 4)


def test_sampling_and_comparing_a_course_bpe_run_start_without_a_newline_token(tmp_path, capsys):
    """A course_bpe vocabulary has no newline: samples start from a capital letter instead."""
    from lmlab.api import load
    from lmlab.cli.main import main
    from lmlab.experiments.compare import compare
    from lmlab.inspect.prompt import start_text

    path = tmp_path / "play.txt"
    path.write_text(PLAY * 4)
    entry = f"text:data.data_file={path},data.tokenizer=course_bpe,data.bpe_vocab_size=60"
    rows = compare([entry], [*TINY, "model.block_size=8"], tmp_path / "cmp", progress=False)
    assert rows[0].sample  # it used to fail on an empty prompt
    run = next(p for p in (tmp_path / "cmp").iterdir() if p.is_dir())
    tokenizer = RunDir(run).tokenizer()
    assert tokenizer.encode("\n") == [] and start_text(tokenizer).isupper()
    assert load(run).sample(seed=0, max_new_tokens=5).startswith(start_text(tokenizer))
    assert main(["sample", str(run), "--seed", "0", "--max-new-tokens", "5"]) == 0
    assert capsys.readouterr().out.startswith(start_text(tokenizer))
