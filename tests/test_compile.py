import logging

import torch

from lmlab.models import build_model
from lmlab.training.compile import maybe_compile

from .conftest import tiny_config, with_vocab


def _model_and_batch():
    torch.manual_seed(0)
    model = build_model(with_vocab(tiny_config()).model)
    idx = torch.randint(65, (2, 16))
    return model, idx


def test_compiled_forward_matches_eager():
    model, idx = _model_and_batch()
    forward = maybe_compile(model, enabled=True, backend="eager")  # dynamo tracing, no C++ toolchain needed
    torch.testing.assert_close(forward(idx), model(idx))
    assert forward is not model


def test_a_failing_compiler_falls_back_with_one_warning(caplog):
    def broken_backend(graph, example_inputs):
        raise RuntimeError("no compiler on this machine")

    model, idx = _model_and_batch()
    with caplog.at_level(logging.WARNING):
        forward = maybe_compile(model, enabled=True, backend=broken_backend)
        first = forward(idx)
        second = forward(idx)
    torch.testing.assert_close(first, model(idx))
    torch.testing.assert_close(second, first)
    warnings = [r for r in caplog.records if "torch.compile" in r.getMessage()]
    assert len(warnings) == 1 and "no compiler on this machine" in warnings[0].getMessage()


def test_disabled_compile_is_the_model_itself():
    model, _ = _model_and_batch()
    assert maybe_compile(model, enabled=False) is model
