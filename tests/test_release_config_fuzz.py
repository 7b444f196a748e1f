"""Fuzzed release configs: any file either loads or raises ConfigError with a one-line message, never another
exception (issue 17). Each example is the example config with values replaced (any YAML type, paths,
names with separators or newlines), keys deleted or added, duplicated in the text, or plain arbitrary text."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import yaml
from battle_fixtures import example_config_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import ConfigError
from pipeline.release_config import ReleaseConfig, load_release_config

EXAMPLE = Path(__file__).resolve().parents[1] / "release_configs" / "example.yaml"
BASE = example_config_data()

names = st.sampled_from(["", " ", "..", "/etc", "../../x", "a/b", "Mistral AI", "anonymous", "main", "x\ny",
                         "vicuna-13b", "palm-2", "nul\x00byte", "ok-name", "a" * 120, "0" * 40, "lb.txt",
                         "missing.json", ".", "~", "2024-06-01"])
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**65), 2**65), st.floats(allow_nan=True),
                    st.text(max_size=20), names, st.dates().map(str), st.dates())
values = st.recursive(scalars, lambda children: st.lists(children, max_size=3)
                      | st.dictionaries(st.one_of(names, st.integers(0, 3), st.text(max_size=6)), children,
                                        max_size=3), max_leaves=8)


def paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path in the nested config (mappings and list items)."""
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += paths(value, (*prefix, index))
    return found


PATHS = paths(BASE)


@st.composite
def mutated(draw) -> str:
    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(PATHS))
        parent = data
        try:
            for part in where[:-1]:
                parent = parent[part]
            action = draw(st.sampled_from(["replace", "delete", "add"]))
            if action == "replace":
                parent[where[-1]] = draw(values)
            elif action == "delete" and isinstance(parent, dict):
                parent.pop(where[-1], None)
            elif isinstance(parent, dict):
                parent[draw(names)] = draw(values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation changed the shape here
    text = yaml.safe_dump(data, allow_unicode=True)
    if draw(st.booleans()):  # a key given twice
        lines = text.splitlines(keepends=True)
        text += draw(st.sampled_from(lines))
    return text


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated(), st.text(max_size=200)))
def test_any_config_loads_or_fails_with_one_clear_line(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "release.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        (Path(tmp) / "lb.txt").write_text("vicuna-13b\npalm-2\n")
        try:
            config = load_release_config(path)
        except ConfigError as err:
            message = str(err)
            assert message.startswith(str(path)) and "\n" not in message and len(message) > len(str(path)) + 2
            return
        assert isinstance(config, ReleaseConfig)
        for provider in config.providers:  # what loads is safe to use as a path and a repo name
            assert "/" not in provider and ".." not in provider and provider == provider.strip()
