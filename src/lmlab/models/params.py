"""Parameter counts by named component, counted in one place."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class ParameterReport:
    """Parameters per top-level component; embeddings are the nn.Embedding tables."""

    by_component: dict[str, int]
    embedding_components: tuple[str, ...]
    tied: dict[str, str]  # parameter name -> the name it shares storage with

    @property
    def total(self) -> int:
        return sum(self.by_component.values())

    @property
    def non_embedding(self) -> int:
        return self.total - sum(self.by_component[c] for c in self.embedding_components)


def count_parameters(model: nn.Module) -> ParameterReport:
    """Count each distinct parameter once (tied weights under their first name)."""
    by_component: dict[str, int] = {}
    first_name_of: dict[int, str] = {}
    tied: dict[str, str] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        if id(param) in first_name_of:
            tied[name] = first_name_of[id(param)]
            continue
        first_name_of[id(param)] = name
        component = name.split(".")[0]
        by_component[component] = by_component.get(component, 0) + param.numel()
    embeddings = tuple(
        name
        for name, module in model.named_children()
        if isinstance(module, nn.Embedding) and name in by_component
    )
    report = ParameterReport(by_component, embeddings, tied)
    assert report.total == sum(p.numel() for p in model.parameters()), "every parameter counted once"
    return report
