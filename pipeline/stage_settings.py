"""Deployment settings of the model stages (language, moderation, toxicity, PII), as validated data.

Defaults in `pipeline/data/stages.yaml` run offline; a deployment points at its own file (CLI
`--stages FILE`, Dagster resource `stages_file`, or `$ARENA_STAGES_FILE`).
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from classifiers.language import LanguageSettings
from classifiers.moderation import ModerationSettings
from classifiers.toxicity import ToxicitySettings
from pipeline.errors import ConfigError
from pipeline.yamlfile import read_yaml_mapping
from redaction.settings import RedactionSettings, SettingsError

DEFAULT_STAGES_PATH = Path(__file__).parent / "data" / "stages.yaml"


class StageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    language: LanguageSettings = LanguageSettings()
    moderation: ModerationSettings = ModerationSettings()
    toxicity: ToxicitySettings = ToxicitySettings()
    redaction_file: Path | None = Field(None, strict=False)  # None: redaction/default_settings.yaml
    workers: int = os.cpu_count() or 1

    def redaction(self) -> RedactionSettings:
        try:
            if self.redaction_file is None:
                return RedactionSettings.default()
            return RedactionSettings.from_yaml(self.redaction_file)
        except (SettingsError, OSError) as err:
            raise ConfigError(str(err)) from None


def load_stage_settings(path: Path | None = None) -> StageSettings:
    path = Path(path or os.environ.get("ARENA_STAGES_FILE") or DEFAULT_STAGES_PATH)
    data = read_yaml_mapping(path)
    if isinstance(data.get("redaction_file"), str):
        data["redaction_file"] = (path.parent / data["redaction_file"]).resolve()
    try:
        return StageSettings.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"{path}: {problems}") from None
