"""Classifier stages that tag every kept battle and conversation (REFERENCE §3, §6).

- language: fastText lid.176 on user turns -> `language` (English name), code, confidence.
- moderation: OpenAI moderation via the official client -> the public `openai_moderation` struct.
- toxicity: Detoxify, or the offline alt-profanity-check model -> per-message scores and a flag.
- cache: results by content hash and model identity, so nothing is scored or requested twice.
- tagging: adds all of these columns to Arrow tables; status: what each stage did, for the manifest.
"""
