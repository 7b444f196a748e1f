"""Dataset card (`README.md`) of a release, rendered from its manifest, plus its plots.

The YAML header is what the Hugging Face Hub reads: one `configs` entry per table with a
`data_files` glob, license, languages, size and task tags. The body says what a reader needs to
use the data safely: schema, row counts, languages, models, filters applied with drop counts,
classifier stages (and which did not run), disclaimers, and the changes since the previous release.
Everything shown comes from the manifest or the public tables, so nothing private reaches the card.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from pipeline.manifest import data_files_glob

CARD_NAME = "README.md"
LEADERBOARD_NAME = "leaderboard.json"
LEADERBOARD_METHOD = ("Bradley–Terry ratings with 95% bootstrap intervals; rank = 1 + the number of models whose "
                      "lower bound is above this model's upper bound")
IMAGES_DIR = "images"

COLUMN_DOCS = {
    "question_id": "battle id (the conversation id of side A)",
    "conversation_id": "conversation id",
    "model": "model that answered; `{label}` if never on the leaderboard",
    "model_a": "model of side A; `{label}` if never on the leaderboard",
    "model_b": "model of side B; `{label}` if never on the leaderboard",
    "winner": "vote: model_a, model_b, tie or tie (bothbad)",
    "judge": "voter id: keyed hash of the user, stable within the data, not reversible",
    "conversation": "messages as {content, role}",
    "conversation_a": "messages of side A as {content, role}",
    "conversation_b": "messages of side B as {content, role}",
    "turn": "number of user turns",
    "anony": "true when the voter did not know the models' names",
    "language": "detected language (English name)",
    "language_code": "detected language (ISO code)",
    "tstamp": "vote time (Unix seconds)",
    "openai_moderation": "OpenAI moderation result in lmsys's 11 categories; `flagged` is the API's verdict over "
                         "all its categories (null where the stage did not run)",
    "openai_moderation_extra": "the moderation categories the API added after lmsys's releases (e.g. illicit)",
    "toxicity": "our toxicity model's scores per message and its flag (model in the manifest; null where the "
                "stage did not run). lmsys's `toxic_chat_tag` is not published: it names ToxicChat's own taggers",
    "dedup_tag": "high_freq: prompt among the most repeated ones; sampled: kept by the leaderboard's sampling",
    "redacted": "true when personal names were replaced by NAME_1, NAME_2, ...",
    "own_side": "provider exports: which side is this provider's model (a, b or both)",
    "own_model": "provider exports: true, the model is this provider's (named or `{label}`)",
}
REASON_DOCS = {
    "taken_down": "removed at the request of the people concerned (the takedown list is private)",
    "held_back_upstream": "drawn, then held back before the release (e.g. its redaction failed)",
    "pii_not_checked": "the PII stage did not process the row",
    "moderation_not_checked": "the moderation stage did not process the row",
    "toxicity_not_checked": "the toxicity stage did not process the row",
    "bad_format": "empty conversation or a message without text",
    "too_short": "at most {max_messages} messages and every prompt under {min_prompt_chars} characters",
    "too_frequent": "every prompt among the {top} most frequent ones",
    "leftover_marker": "text still holds a redaction marker",
    "blocked_word": "text holds a blocked word",
    "blocked_model": "a blocked model answered",
    "moderation_flagged": "flagged by the moderation stage",
    "residual_pii": "withheld: after redaction its text still held structured PII or an IP address",
    "not_in_this_release": "outside this release's log window, or held back before the release",
}
# What the publishing gate (pipeline/gate.py) verified over every file of the release before publishing it.
GATE_CHECKS = (
    ("files, card, schema, counts", "every data file matches its sha256 and the public schema; counts add up"),
    ("stages", "the required classifier stages ran"),
    ("fraction, fraction_ids", "the share is the keyed-hash draw; every published id re-drawn with the salt"),
    ("models, names", "no model name off the leaderboard, in any column or text"),
    ("raw_ips, pii_patterns", "no IP address and no structured PII or secret, by the detectors redaction uses"),
    ("canaries, pii", "none of the private canary values and none of the planted test PII values"),
)
DISCLAIMERS = (
    "This dataset contains conversations that may be offensive or unsafe. It is not intended for "
    "training dialogue agents without appropriate filtering.",
    "Statements or opinions in this dataset do not reflect the views of the people or institutions "
    "who collected it.",
    "Users are responsible for using the data appropriately and within applicable laws; outputs of a "
    "model remain subject to that model's terms of use.",
    "Personal information was removed or replaced automatically; automatic redaction is not perfect. "
    "Please report anything that should not be here.",
)
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"))  # fmt: skip


def header(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The card's YAML header: the Hub's dataset configs, one per table, with a data_files glob."""
    tables = manifest["tables"]
    largest = max((t["rows"] for t in tables.values()), default=0)
    languages = sorted({code for t in tables.values() for code in t["languages"] if code != "unknown"})
    card = manifest["config"]["card"]
    # An export is under the provider terms, never the public license (Hub: `license: other` + a name).
    terms = ({"license": "other", "license_name": card["provider_license_name"]}
             if manifest["kind"] == "provider_export" else {"license": card["license"]})
    return {
        "pretty_name": card["title"],
        **terms,
        **_gating_metadata(manifest),
        "language": languages,
        "size_categories": [next((cat for limit, cat in SIZE_CATEGORIES if largest < limit), "n>100M")],
        "task_categories": ["text-generation", "text-classification"],
        "tags": ["chatbot-arena", "human-preference", "conversational", "rlhf"],
        "configs": [
            {"config_name": name,
             "data_files": [{"split": "train", "path": data_files_glob(name, manifest["version"])}],
             **({"default": True} if i == 0 else {})}
            for i, name in enumerate(tables)
        ],
    }


def _gating(manifest: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The public release's access terms (`card.gating`); an export carries the provider terms instead."""
    return manifest["config"]["card"].get("gating") if manifest["kind"] != "provider_export" else None


def _gating_metadata(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The Hub's gated-access metadata: the prompt shown, the fields asked and the button's text."""
    gating = _gating(manifest)
    if not gating:
        return {}
    fields = {label: kind if isinstance(kind, str) else {"type": kind["type"], "options": kind["options"]}
              for label, kind in gating["fields"].items()}
    return {"extra_gated_prompt": gating["prompt"], **({"extra_gated_fields": fields} if fields else {}),
            **({"extra_gated_button_content": gating["button"]} if gating.get("button") else {})}


def _access_section(manifest: Mapping[str, Any]) -> str:
    gating = _gating(manifest)
    asked = [f"- {label} ({kind if isinstance(kind, str) else 'one of: ' + ', '.join(kind['options'])})"
             for label, kind in gating["fields"].items()]
    quoted = "\n".join(f"> {line}".rstrip() for line in gating["prompt"].strip().splitlines())
    asked_for = "\n\nThey are asked for:\n\n" + "\n".join(asked) if asked else ""
    return ("## Access terms\n\nOn the Hub, the files are served only to people who accept these terms on the "
            f"dataset's page (the repo is gated when it is published):\n\n{quoted}{asked_for}")


def render_card(
    manifest: Mapping[str, Any], previous: Mapping[str, Any] | None = None, plots: list[tuple[str, str]] = (),
    leaderboard: Mapping[str, Mapping[str, Any]] | None = None, rated: Mapping[str, Any] | None = None,
) -> str:
    """README.md text: YAML header, then the sections a reader needs, from the manifest alone."""
    label = manifest["anonymous_label"]
    card = manifest["config"]["card"]
    parts = [
        "---\n" + yaml.safe_dump(header(manifest), sort_keys=False, allow_unicode=True) + "---",
        f"# {card['title']}",
        card["summary"],
    ]
    if manifest["kind"] == "provider_export":
        parts.append(
            f"> **Early access for {manifest['provider']}; not for redistribution.** Every row is part of "
            f"the public share that a later public release will contain. Only this provider's models on "
            f"the leaderboard are named; every other model is `{label}`. `own_side` (battles: `a`, `b` or "
            f"`both`) and `own_model` (conversations) mark this provider's own answers, named or not."
        )
        parts.append(f"## Terms ({card['provider_license_name']})\n\n{card['provider_terms']}")
    if _gating(manifest):
        parts.append(_access_section(manifest))
    parts += [_release_section(manifest), _load_section(manifest), _collection_section(manifest),
              _pii_section(manifest), _tables_section(manifest), _models_section(manifest),
              _languages_section(manifest), _filters_section(manifest), _stages_section(manifest),
              _verification_section(manifest)]
    if manifest.get("taken_down_after_release"):
        parts.append(_removed_section(manifest))
    if leaderboard:
        parts.append(_leaderboard_section(leaderboard, rated))
    if previous is not None:
        parts.append(_changelog(manifest, previous))
    if plots:
        parts.append("## Plots\n\n" + "\n\n".join(f"![{caption}]({path})\n\n*{caption}*" for path, caption in plots))
    parts += [_limitations_section(manifest),
              "## Disclaimers and terms\n\n" + "\n".join(f"- {line}" for line in DISCLAIMERS),
              _citation_section(manifest),
              "## Contact\n\n" + (card.get("contact") or "Open a discussion on this dataset's repository.")]
    return "\n\n".join(parts) + "\n"


def _load_section(manifest: Mapping[str, Any]) -> str:
    repo = manifest.get("repo_id") or "OWNER/NAME"
    lines = [f'{name} = load_dataset("{repo}", "{name}", split="train", revision="{manifest["version"]}")'
             for name in manifest["tables"]]
    return ("## Load\n\n```python\nfrom datasets import load_dataset\n\n" + "\n".join(lines) + "\n```\n\n"
            "`revision` pins this release (its tag); without it you get the latest release. `openai_moderation` "
            "has the features of `lmsys/chatbot_arena_conversations` and `lmsys/lmsys-chat-1m`.")


def _collection_section(manifest: Mapping[str, Any]) -> str:
    return "## Collection and terms\n\n" + manifest["config"]["card"]["collection"]


def _pii_section(manifest: Mapping[str, Any]) -> str:
    pii = next((per["pii"] for per in manifest["stages"].values() if "pii" in per), {})
    method = (f"Personal information was detected with {pii.get('model') or 'an automatic detector'} "
              f"{pii.get('version') or ''}".rstrip() + " and replaced by placeholders (`NAME_1`, `EMAIL_1`, ...) "
              "that are consistent within a conversation and across both sides of a battle; rows whose "
              "redaction failed were held back. Voter ids (`judge`) are keyed hashes, never IP addresses.\n\n"
              "Policy: every person's name is redacted, public figures and fictional characters included, "
              "because a detector cannot tell a famous namesake from a private person. Example domains "
              "(`example.com`), documentation IP ranges and UUIDs are not personal and stay as written.")
    evaluation = manifest.get("pii_evaluation")
    if not evaluation:
        measured = ("**Recall and precision: NOT MEASURED for this release** (`card.pii_evaluation` is empty; "
                    "fill it with the redaction benchmark's output).")
    else:
        measured = f"Measured on {evaluation.get('measured_on', 'an unnamed set')}" + _provenance(evaluation) + ":\n\n"
        figures = evaluation.get("figures", {})
        if all(isinstance(value, Mapping) for value in figures.values()):
            measured += _table(["held-out figure", "rate", "of"], [
                [name, f"{value['rate']:.3f}", f"{value['found']:,} / {value['total']:,}"]
                for name, value in figures.items()])
            measured += ("\n\nRates are recall (the share of planted values fully redacted), except \"hard negatives "
                         "changed\" and \"public figures redacted\": the share of those texts that redaction changed.")
        else:
            measured += _table(["figure", "value"], [[k, v] for k, v in figures.items()])
    return f"## Personal information\n\n{method}\n\n{measured}"


def _provenance(evaluation: Mapping[str, Any]) -> str:
    """Which bench run produced the figures: its command (and so the split), date and commit."""
    parts = [f"by `{evaluation['bench']}`" if evaluation.get("bench") else "",
             f"split `{evaluation['split']}`" if evaluation.get("split") else "",
             f"on {evaluation['measured_at']}" if evaluation.get("measured_at") else "",
             f"at commit `{evaluation['git_commit'][:12]}`" if evaluation.get("git_commit") else ""]
    shown = ", ".join(part for part in parts if part)
    return f" ({shown})" if shown else ""


def _removed_section(manifest: Mapping[str, Any]) -> str:
    removed = ", ".join(f"{name} {n:,}" for name, n in manifest["taken_down_after_release"].items())
    return ("## Removed after publication\n\nRows removed from this version after it was published, at the request "
            f"of the people concerned (`taken_down`): {removed}. The files, the counts and the tables above are "
            "those of the rewritten version; the leaderboard was fitted before the removal and is unchanged (it "
            "rates the window's votes, published or not, and publishes no row).")


def _limitations_section(manifest: Mapping[str, Any]) -> str:
    not_run = sorted({stage for per in manifest["stages"].values() for stage, s in per.items()
                      if s["status"] != "ok"})
    lines = [
        f"A {manifest['public_fraction']:.0%} sample of the window's conversations, after filters: not every "
        "conversation or vote, and not a uniform sample of the users.",
        "Automatic redaction misses some personal information and replaces some text that was not personal.",
        f"`{manifest['anonymous_label']}` groups every model never on the leaderboard; those models' identities "
        "and versions are not recoverable from the data.",
        "Language tags come from automatic detection on the user turns and can be wrong on short prompts.",
    ]
    if not_run:
        lines.append(f"Stages that did not run ({', '.join(not_run)}): their columns are null.")
    return "## Limitations\n\n" + "\n".join(f"- {line}" for line in lines)


def _citation_section(manifest: Mapping[str, Any]) -> str:
    card = manifest["config"]["card"]
    if card.get("citation"):
        return f"## Citation\n\n```bibtex\n{card['citation'].strip()}\n```"
    repo = manifest.get("repo_id") or "OWNER/NAME"
    key = repo.replace("/", "_").replace("-", "_")
    return (f"## Citation\n\n```bibtex\n@misc{{{key}_{manifest['version'].replace('.', '_')},\n"
            f"  title = {{{card['title']}}},\n  note = {{Release {manifest['version']}}},\n"
            f"  howpublished = {{\\url{{https://huggingface.co/datasets/{repo}}}}}\n}}\n```")


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _release_section(manifest: Mapping[str, Any]) -> str:
    window = manifest["log_window"]
    rows = [
        ["version", manifest["version"]],
        ["log window (UTC days)", f"{window['start']} to {window['end']}"],
        ["public share", f"{manifest['public_fraction']:.0%} of the rows in the window, drawn by a keyed hash "
                         f"of the id (the same rows stay public in every release), then filtered"],
        ["label of models never on the leaderboard", f"`{manifest['anonymous_label']}`"],
        ["config sha256", f"`{manifest['config_hash']}`"],
        ["content sha256", f"`{manifest['content_sha256']}`"],
    ]
    return "## Release\n\n" + _table(["", ""], rows)


def _tables_section(manifest: Mapping[str, Any]) -> str:
    label = manifest["anonymous_label"]
    out = ["## Tables"]
    for name, table in manifest["tables"].items():
        columns = [[f"`{c['name']}`", f"`{c['type']}`", COLUMN_DOCS.get(c["name"], "").replace("{label}", label)]
                   for c in table["schema"]]
        out.append(f"### `{name}`: {table['rows']:,} rows\n\n"
                   f"Files: `{data_files_glob(name, manifest['version'])}`.\n\n"
                   + _table(["column", "type", "meaning"], columns))
    return "\n\n".join(out)


def _models_section(manifest: Mapping[str, Any]) -> str:
    names = manifest["tables"]
    models = sorted({m for t in names.values() for m in t["models"]},
                    key=lambda m: (-sum(t["models"].get(m, 0) for t in names.values()), m))
    rows = [[f"`{m}`", *(t["models"].get(m, 0) for t in names.values())] for m in models]
    hidden = ("every other model, and this provider's models not on the leaderboard"
              if manifest["kind"] == "provider_export" else "every model that was never on the leaderboard")
    return ("## Models\n\nRows per model (a battle counts for both of its models). "
            f"`{manifest['anonymous_label']}` groups {hidden}.\n\n"
            + _table(["model", *names], rows))


def _languages_section(manifest: Mapping[str, Any]) -> str:
    names = manifest["tables"]
    codes = sorted({c for t in names.values() for c in t["languages"]},
                   key=lambda c: (-sum(t["languages"].get(c, 0) for t in names.values()), c))
    rows = [[c, *(t["languages"].get(c, 0) for t in names.values())] for c in codes]
    return "## Languages\n\n" + _table(["language code", *names], rows)


def _filter_details(manifest: Mapping[str, Any]) -> dict[str, Any]:
    filters = manifest["config"]["filters"]
    return {**(filters.get("too_short") or {}), **(filters.get("too_frequent") or {})}


def _filters_section(manifest: Mapping[str, Any]) -> str:
    filters = manifest["config"]["filters"]
    details = _filter_details(manifest)
    names = manifest["tables"]
    reasons = list(dict.fromkeys(r for t in names.values() for r in t["counts"]["dropped"]))
    share = f"drawn into the {manifest['public_fraction']:.0%} public share"
    rows = [["in the release window", *(t["counts"]["in_window"] for t in names.values())],
            [share, *(t["counts"]["drawn"] for t in names.values())]]
    rows += [[f"dropped: {REASON_DOCS.get(r, r).format(**details)} (`{r}`)",
              *(t["counts"]["dropped"].get(r, 0) for t in names.values())] for r in reasons]
    rows += [["published", *(t["rows"] for t in names.values())]]
    blocked = f"{filters['blocked_words']['count']} blocked words, {filters['blocked_models']['count']} blocked models"
    return ("## Filters applied\n\nRows are drawn into the public share first (a keyed hash of the id, so the "
            "same rows in every release), then FastChat's release filters run, in this order; a row is counted "
            f"under the first that applies ({blocked}; the lists are not published).\n\n"
            + _table(["", *names], rows))


def _stages_section(manifest: Mapping[str, Any]) -> str:
    required = set(manifest["required_stages"])
    rows = [
        [stage, table, s["status"] + (" (required)" if stage in required else ""), s.get("model") or "not reported",
         s.get("version") or "not reported", s.get("reason") or ""]
        for table, per_stage in manifest["stages"].items()
        for stage, s in per_stage.items()
    ]
    note = ""
    if any(r[2].startswith("not_run") for r in rows):
        note = "\n\n**Some classifier stages did not run:** their columns are null in this release."
    return "## Classifier stages\n\n" + _table(["stage", "table", "status", "model", "version", "why"], rows) + note


def _verification_section(manifest: Mapping[str, Any]) -> str:
    """What was checked before publishing; a check waived by the config is listed with its reason."""
    settings = manifest["config"]["verify"]
    waivers = settings.get("waivers") or {}
    lines = [f"- {names}: {what}" for names, what in GATE_CHECKS]
    waived = ("\n\n**Waived checks** (they did not run; the release config gives the reason):\n\n"
              + "\n".join(f"- `{name}`: {reason}" for name, reason in sorted(waivers.items()))) if waivers else (
        "\n\nNo check was waived: every one of them ran and passed.")
    return ("## Verification\n\nThis release was published only because a verification of exactly these files "
            "passed every check below (a check that cannot run counts as failed unless waived). Rows whose "
            "redacted text still held structured PII were withheld (`residual_pii` above); the release is "
            f"blocked when they exceed {settings.get('max_residual_pii_fraction', 0):.1%} of a table (and "
            f"{settings.get('residual_pii_min_rows', 0)} rows).\n\n"
            + "\n".join(lines) + waived)


def _changelog(manifest: Mapping[str, Any], previous: Mapping[str, Any]) -> str:
    lines = [f"- rows: {name} {previous['tables'].get(name, {}).get('rows', 0):,} -> {t['rows']:,}"
             for name, t in manifest["tables"].items()]
    window, before = manifest["log_window"], previous["log_window"]
    if window != before:
        lines.append(f"- log window: {before['start']}..{before['end']} -> {window['start']}..{window['end']}")
    dropped = [entry["day"] for entry in (manifest.get("log_days") or {}).get("dropped", [])]
    if dropped:
        lines.append("- log days dropped (their logs are gone): " + ", ".join(dropped))
    if manifest["public_fraction"] != previous["public_fraction"]:
        lines.append(f"- public share: {previous['public_fraction']:.0%} -> {manifest['public_fraction']:.0%}")
    added = sorted(set(manifest["leaderboard_models"]) - set(previous["leaderboard_models"]))
    if added:
        lines.append("- now named (joined the leaderboard): " + ", ".join(f"`{m}`" for m in added))
    board = manifest.get("current_leaderboard")
    board_before = previous.get("current_leaderboard", previous["leaderboard_models"])
    left = sorted(set(board_before) - set(board)) if board is not None else []
    if left:
        lines.append("- left the leaderboard (still named: a model once on it keeps its name): "
                     + ", ".join(f"`{m}`" for m in left))
    for name, table in manifest["tables"].items():
        counts = table["counts"]
        if "previously_public" not in counts:
            continue
        withdrawn = counts["withdrawn"]
        lines.append(
            f"- {name}: of the {counts['previously_public']:,} rows {previous['version']} published, "
            f"{counts['previously_public'] - sum(withdrawn.values()):,} are still published"
            + (f" ({counts['kept_as_published']:,} of them although a filter that depends on the window, "
               "such as the most frequent prompts, would now drop them: a published row stays published)"
               if counts["kept_as_published"] else "")
        )
        lines += [f"  - withdrawn, {REASON_DOCS.get(reason, reason).format(**_filter_details(manifest))} "
                  f"(`{reason}`): {n:,}" for reason, n in withdrawn.items()]
    for table, per_stage in manifest["stages"].items():
        for stage, status in per_stage.items():
            was = previous["stages"].get(table, {}).get(stage)
            if was and _stage_label(was) != _stage_label(status):
                lines.append(f"- {table} {stage}: {_stage_label(was)} -> {_stage_label(status)}")
    if manifest.get("taken_down_after_release"):
        lines.append("- removed after publication at the request of the people concerned (`taken_down`): "
                     + ", ".join(f"{name} {n:,}" for name, n in manifest["taken_down_after_release"].items()))
    if manifest["config_hash"] != previous["config_hash"]:
        lines.append("- release config changed (see manifest.json)")
    return f"## Changes since {previous['version']}\n\n" + "\n".join(lines)


def _stage_label(status: Mapping[str, Any]) -> str:
    return " ".join(str(v) for v in (status["status"], status.get("model"), status.get("version")) if v)


# ---------------------------------------------------------------------------------------- plots


def write_plots(out_dir: Path, tables: Mapping[str, pa.Table]) -> list[tuple[str, str]]:
    """PNG plots of the public tables under `images/`; returns (relative path, caption) pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = Path(out_dir) / IMAGES_DIR
    images.mkdir(parents=True, exist_ok=True)
    plots = []
    battles = tables.get("battles")
    if battles is not None and len(battles):
        models, counts, wins = _pair_matrices(battles)
        plots.append(_heatmap(plt, images / "battle_counts.png", models, counts,
                              "Battle count of each model pair", "d"))
        with np.errstate(invalid="ignore", divide="ignore"):
            fraction = wins / (wins + wins.T)
        plots.append(_heatmap(plt, images / "win_fraction.png", models, fraction,
                              "Fraction of row-model wins in non-tied battles", ".2f"))
    language_counts = {}
    for table in tables.values():
        if "language_code" in table.column_names and len(table):
            counts = pc.value_counts(table["language_code"].fill_null("unknown")).to_pylist()
            for item in counts:
                language_counts[item["values"]] = language_counts.get(item["values"], 0) + item["counts"]
    if language_counts:
        top = sorted(language_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
        fig, ax = plt.subplots(figsize=(8, 4))
        ax.bar([k for k, _ in top], [v for _, v in top])
        ax.set_ylabel("rows")
        ax.set_title("Rows per language (top 20)")
        plots.append(_save(plt, fig, images / "languages.png", "Rows per language (top 20)"))
    return [(Path(path).relative_to(out_dir).as_posix(), caption) for path, caption in plots]


def _pair_matrices(battles: pa.Table) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Models, battle counts per unordered pair (symmetric) and wins of row over column."""
    models = sorted(set(battles["model_a"].to_pylist()) | set(battles["model_b"].to_pylist()))
    index = {m: i for i, m in enumerate(models)}
    grouped = battles.group_by(["model_a", "model_b", "winner"]).aggregate([([], "count_all")]).to_pylist()
    counts = np.zeros((len(models), len(models)))
    wins = np.zeros_like(counts)
    for row in grouped:
        a, b, n = index[row["model_a"]], index[row["model_b"]], row["count_all"]
        counts[a, b] += n
        if a != b:
            counts[b, a] += n
        if row["winner"] == "model_a":
            wins[a, b] += n
        elif row["winner"] == "model_b":
            wins[b, a] += n
    return models, counts, wins


def _heatmap(plt, path: Path, models: list[str], values: np.ndarray, title: str, fmt: str) -> tuple[Path, str]:
    size = max(4.0, 0.6 * len(models) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(np.nan_to_num(values), cmap="viridis")
    ax.set_xticks(range(len(models)), models, rotation=60, ha="right")
    ax.set_yticks(range(len(models)), models)
    if len(models) <= 20:
        for (i, j), v in np.ndenumerate(values):
            if not np.isnan(v):
                ax.text(j, i, format(v if fmt != "d" else int(v), fmt), ha="center", va="center", color="w", fontsize=7)
    ax.set_title(title)
    return _save(plt, fig, path, title)


def _save(plt, fig, path: Path, caption: str) -> tuple[Path, str]:
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path, caption


def write_card(
    out_dir: Path,
    manifest: Mapping[str, Any],
    public_tables: Mapping[str, pa.Table],
    previous: Mapping[str, Any] | None = None,
    leaderboard_dir: Path | None = None,
) -> Path:
    """Plots and README.md of a release directory; with `leaderboard_dir` (leaderboard.json and its
    PNGs from the ratings stage), the leaderboard table and plots too."""
    if leaderboard_dir is not None:
        board = json.loads((Path(leaderboard_dir) / "leaderboard.json").read_text())
        rated_file = Path(leaderboard_dir) / "rated.json"
        rated = json.loads(rated_file.read_text()) if rated_file.exists() else None
        document = {"version": manifest["version"], "method": LEADERBOARD_METHOD, **(rated or {}), "models": board}
        (Path(out_dir) / LEADERBOARD_NAME).write_text(json.dumps(document, indent=2) + "\n")
        images = Path(out_dir) / IMAGES_DIR
        images.mkdir(parents=True, exist_ok=True)
        for png in sorted(Path(leaderboard_dir).glob("*.png")):
            shutil.copyfile(png, images / f"leaderboard_{png.name}")
    return rerender_card(out_dir, manifest, public_tables, previous)


def rerender_card(
    out_dir: Path, manifest: Mapping[str, Any], public_tables: Mapping[str, pa.Table],
    previous: Mapping[str, Any] | None = None,
) -> Path:
    """Plots and README.md of a release directory from its tables and the `leaderboard.json` and leaderboard
    plots it holds: how a release is first written, and how a rewritten one (a takedown) is written again."""
    out_dir = Path(out_dir)
    plots = write_plots(out_dir, public_tables)
    board = rated = None
    if (out_dir / LEADERBOARD_NAME).is_file():
        document = json.loads((out_dir / LEADERBOARD_NAME).read_text())
        board = document["models"]
        rated = {key: value for key, value in document.items() if key not in ("version", "method", "models")} or None
        plots = [(f"{IMAGES_DIR}/{png.name}", f"Leaderboard: {png.stem.removeprefix('leaderboard_').replace('_', ' ')}")
                 for png in sorted((out_dir / IMAGES_DIR).glob("leaderboard_*.png"), reverse=True)] + plots
    path = out_dir / CARD_NAME
    path.write_text(render_card(manifest, previous, plots, board, rated), encoding="utf-8")
    return path


def _leaderboard_section(board: Mapping[str, Mapping[str, Any]], rated: Mapping[str, Any] | None) -> str:
    rows = [[v["rank"], model, f"{v['rating']:.1f}", f"{v['lower']:.1f} to {v['upper']:.1f}", v["battles"]]
            for model, v in board.items()]
    which = ""
    if rated is not None:
        excluded = "; ".join(f"{reason}: {n:,}" for reason, n in rated["excluded"].items() if n) or "none"
        which = (f" Rated: {rated['battles_rated']:,} battles, those of the log window "
                 f"{rated['log_window']['start']} to {rated['log_window']['end']} after cleaning, whether or not "
                 f"they are in the public share, that were anonymous votes and in the dedup sample (excluded: "
                 f"{excluded}).")
    return (f"## Leaderboard\n\n{LEADERBOARD_METHOD}.{which} Only leaderboard models are listed; the others count "
            f"in the fit but are never named. Machine-readable: [`{LEADERBOARD_NAME}`]({LEADERBOARD_NAME}).\n\n"
            + _table(["rank", "model", "rating", "95% CI", "battles"], rows))


def read_card_header(text: str) -> dict[str, Any]:
    """The YAML header of a card; ValueError when it has none or it is not a mapping."""
    if not text.startswith("---\n"):
        raise ValueError("the card has no YAML header")
    end = text.find("\n---", 4)
    if end < 0:
        raise ValueError("the card's YAML header is not closed")
    data = yaml.safe_load(text[4:end])
    if not isinstance(data, dict):
        raise ValueError("the card's YAML header is not a mapping")
    return data

