import math

import pytest

from lmlab.inspect.ngram import ngram_tables, table_entries
from lmlab.presets import load_preset


def test_an_ngram_table_has_one_free_entry_less_than_the_vocabulary_per_context():
    assert [table_entries(65, n) for n in (1, 2, 3)] == [64, 65 * 64, 65 * 65 * 64]
    assert table_entries(2, 10) == 2**9


def test_tables_beside_the_shakespeare_gpt():
    tables = ngram_tables(65, 4)
    assert [row.n for row in tables.rows] == [1, 2, 3, 4]
    assert 10.6e6 < tables.gpt_parameters < 10.9e6  # the 10.7M-parameter character GPT
    assert tables.rows[3].entries > tables.gpt_parameters > tables.rows[2].entries  # a 4-gram table is larger
    assert tables.rows[2].per_parameter == pytest.approx(65 * 65 * 64 / tables.gpt_parameters)
    assert tables.context == load_preset("shakespeare-char").model.block_size
    digits = len(str(table_entries(65, tables.context))) - 1
    assert math.floor(tables.context_exponent) == digits
