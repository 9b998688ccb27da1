"""Tiny BERT / RoBERTa / DistilBERT checkpoints built from configs, with tokenizers trained on test text.

They load through the same `from_pretrained` path as real hub models, but take a second to build and
need no network.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    AutoModelForSequenceClassification,
    BertConfig,
    DistilBertConfig,
    PreTrainedTokenizerFast,
    RobertaConfig,
)

from modeling import problem_types
from modeling.word_models import build_word_model

FAMILIES = ("bert", "roberta", "distilbert")
WORD_FAMILIES = ("glove", "lstm")
MAX_POSITIONS = 256


def train_wordpiece(texts: list[str], vocab_size: int = 400) -> PreTrainedTokenizerFast:
    """A BERT-style WordPiece tokenizer ([CLS] text [SEP]) trained on `texts`."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials))
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",  # the second text typed 1, as BERT's tokenizer does
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tokenizer.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        model_max_length=MAX_POSITIONS,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def train_byte_bpe(texts: list[str], vocab_size: int = 400) -> PreTrainedTokenizerFast:
    """A RoBERTa-style byte-level BPE tokenizer (<s> text </s>) trained on `texts`."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tokenizer.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer.post_processor = processors.RobertaProcessing(
        ("</s>", tokenizer.token_to_id("</s>")), ("<s>", tokenizer.token_to_id("<s>"))
    )
    tokenizer.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        model_max_length=MAX_POSITIONS,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        cls_token="<s>",
        sep_token="</s>",
        mask_token="<mask>",
    )


def build_tiny_model(
    directory: Path,
    family: str,
    texts: list[str],
    num_labels: int = 2,
    label_names: list[str] | None = None,
    problem: dict | None = None,
) -> Path:
    """Save a randomly initialised tiny `family` classifier and its tokenizer into `directory`; with `label_names`,
    its config names the classes (and their number replaces `num_labels`); `problem` (the keyword arguments of
    `problem_types.config_fields` but the names: problem_type, decision_thresholds, text_pair, ...) makes it a
    multi-label, regression or pair model, as run_classification.py records them."""
    tokenizer = train_byte_bpe(texts) if family == "roberta" else train_wordpiece(texts)
    size = dict(vocab_size=len(tokenizer))
    if family == "bert":
        config = BertConfig(
            **size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=MAX_POSITIONS,
        )
    elif family == "roberta":
        config = RobertaConfig(
            **size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=MAX_POSITIONS + 2,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    elif family == "distilbert":
        config = DistilBertConfig(
            **size,
            dim=32,
            n_layers=2,
            n_heads=2,
            hidden_dim=64,
            max_position_embeddings=MAX_POSITIONS,
            pad_token_id=tokenizer.pad_token_id,
        )
    else:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    config.num_labels = num_labels
    if label_names is not None:
        config.id2label = dict(enumerate(label_names))
        config.label2id = {name: index for index, name in enumerate(label_names)}
    if problem is not None:
        names = label_names or [f"LABEL_{index}" for index in range(num_labels)]
        problem = dict(problem)
        config.update(problem_types.config_fields(problem.pop("problem_type"), names, **problem))
        config.num_labels = len(names)  # id2label sets it; re-applied for configs that cache the count
    if family == "bert" and problem is not None and problem.get("text_pair"):
        # as BertTokenizer(Fast) does: the second text is marked by token_type_ids (the trained tokenizer's
        # defaults omit them, and a pair model without them could not tell the two texts apart)
        tokenizer.model_input_names = ["input_ids", "token_type_ids", "attention_mask"]
        tokenizer.init_kwargs["model_input_names"] = tokenizer.model_input_names  # saved in tokenizer_config.json
    model = AutoModelForSequenceClassification.from_config(config)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def build_tiny_word_model(
    directory: Path, family: str, texts: list[str], label_names: list[str], problem: dict | None = None
) -> Path:
    """A randomly initialised GloVe mean-pool or LSTM classifier (random 16-d vectors, so no vector file) with its word
    tokenizer, saved into `directory`; `problem` as in `build_tiny_model`."""
    kwargs = {"embedding_dim": 16} if family == "glove" else {"embedding_dim": 16, "hidden_size": 8}
    fields = None
    if problem is not None:
        problem = dict(problem)
        fields = problem_types.config_fields(problem.pop("problem_type"), label_names, **problem)
    model, tokenizer = build_word_model(
        family, texts, label_names, word_vectors=None, model_kwargs=kwargs, problem=fields
    )
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def assert_predict_replays_the_run(out: Path):
    """predict.py on the run's own predictions.csv gives the run's probabilities; returns predict.py's rows."""
    import numpy as np
    import pandas as pd

    import predict

    expected = pd.read_csv(out / "predictions.csv")
    replayed = out.parent / f"{out.name}_replayed.csv"
    predict.main(["--model_dir", str(out), "--input", str(out / "predictions.csv"), "--output", str(replayed)])
    predicted = pd.read_csv(replayed, keep_default_na=False)
    columns = [column for column in expected if column.startswith("prob_")]
    np.testing.assert_allclose(predicted[columns].to_numpy(), expected[columns].to_numpy(), atol=1e-4)
    return predicted
