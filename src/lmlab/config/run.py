"""RunConfig: everything a run needs, built from nested dicts and saved as the run's config.json."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmlab.config.data import DataConfig
from lmlab.config.model import ModelConfig
from lmlab.config.train import TrainConfig
from lmlab.config.validation import require
from lmlab.config.values import coerce, field_type
from lmlab.errors import LmlabError


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs; saved as `config.json` in the run directory."""

    preset: str = "custom"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> RunConfig:
        """Build from nested dicts; unknown sections or keys fail naming the key."""
        sections = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(raw) - set(sections)
        require(not unknown, f"{source}: unknown section(s) {sorted(unknown)}; known: {sorted(sections)}")
        kwargs: dict[str, Any] = {}
        for name, value in raw.items():
            section_type = SECTION_TYPES.get(name)
            if section_type is None:
                kwargs[name] = value
                continue
            known = {f.name for f in dataclasses.fields(section_type)}
            bad = set(value) - known
            require(not bad, f"{source}: unknown key(s) {sorted(f'{name}.{k}' for k in bad)}")
            typed = {k: coerce(f"{name}.{k}", v, field_type(section_type, k)) for k, v in value.items()}
            kwargs[name] = section_type(**typed)
        return cls(**kwargs)


SECTION_TYPES: dict[str, type] = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig}


def load_config_file(path: Path) -> RunConfig:
    """Read a `config.json` written by a run (or a preset file)."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise LmlabError(
            f"no config file at {path}; is this a run directory made by `lmlab train`?"
        ) from None
    except json.JSONDecodeError as error:
        raise LmlabError(
            f"{path} is not valid JSON ({error.msg} at line {error.lineno}); fix or delete it"
        ) from None
    return RunConfig.from_dict(raw, source=str(path))
