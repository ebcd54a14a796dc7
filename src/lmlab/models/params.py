"""Parameter counts by named component, counted in one place."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class ParameterReport:
    """Parameters per component, repeated layers summed (`blocks.*.attn`); embeddings: nn.Embedding tables."""

    by_component: dict[str, int]
    embedding_components: tuple[str, ...]
    tied: dict[str, str]  # parameter name -> the name it shares storage with

    @property
    def total(self) -> int:
        return sum(self.by_component.values())

    @property
    def non_embedding(self) -> int:
        return self.total - sum(self.by_component[c] for c in self.embedding_components)

    def top_level(self, name: str) -> int:
        """Parameters under one top-level module, e.g. "blocks"."""
        return sum(n for c, n in self.by_component.items() if c.split(".")[0] == name)


def component_of(parameter_name: str) -> str:
    """`blocks.3.attn.qkv.weight` -> `blocks.*.attn`; `lm_head.weight` -> `lm_head`."""
    parts = parameter_name.split(".")
    if len(parts) > 2 and parts[1].isdigit():
        return ".".join([parts[0], "*", parts[2]]) if len(parts) > 3 else f"{parts[0]}.*"
    return parts[0]


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
        component = component_of(name)
        by_component[component] = by_component.get(component, 0) + param.numel()
    declared = getattr(model, "embedding_names", None)  # a model may say which tables are embeddings
    # a table, or a list of tables (`value_embeddings.*`, one per layer)
    tables = {
        name if isinstance(module, nn.Embedding) else f"{name}.*": name
        for name, module in model.named_children()
        if isinstance(module, nn.Embedding)
        or (isinstance(module, nn.ModuleList) and all(isinstance(m, nn.Embedding) for m in module))
    }
    embeddings = tuple(
        component
        for component, name in tables.items()
        if component in by_component and (declared is None or name in declared)
    )
    report = ParameterReport(by_component, embeddings, tied)
    assert report.total == sum(p.numel() for p in model.parameters()), "every parameter counted once"
    return report
