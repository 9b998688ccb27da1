"""A model folder written by run_classification.py, ready to classify raw text.

A prediction reads a text as training did. Word-level models may have been trained on cleaned text (stop
words removed, stemmed, ...), and any model on texts cut to `max_seq_length` from the head, the tail or both
ends: run_classification.py records both in config.json (`text_cleaning`, `text_truncation`), and the same
functions that prepared the training data prepare the texts here. (`pipeline("text-classification")`
serves these folders too, but cleans nothing and cuts long texts at the end only.)
"""

from __future__ import annotations

import argparse
import itertools
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import AutoConfig, AutoTokenizer

import modeling  # noqa: F401  registers the GloVe and RNN models with the Auto classes
from data_scripts.text_cleaning import build_cleaner
from inference.backends import BACKENDS, check_weight_files, open_backend
from inference.outputs import Outputs, outputs_from_logits
from modeling import problem_types
from modeling.classifier_heads import WORD_MODEL_TYPES, backbone_config
from modeling.lora import load_for_inference
from modeling.word_tokenizer import splits_like_simple_preprocess
from textcls_errors import TextclsError
from training.arguments import TRUNCATION_SIDES
from training.preprocessing import make_plain_ids_function, make_tokenize_function
from training.text_reading import saved_reading

logger = logging.getLogger(__name__)

MIN_LENGTH = 8  # as for max_seq_length in training
WORD_MODEL_THREADS = 1  # intra-op threads for GloVe and RNN models unless told otherwise


def add_reading_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options of the scripts that load a model folder: device and how long texts are read."""
    parser.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda when available).")
    parser.add_argument("--max_length", type=int, help="Cut texts to this many tokens (default: as training did).")
    parser.add_argument(
        "--truncation_side",
        choices=TRUNCATION_SIDES,
        help="Which part of a long text to read (default: as training did; for folders without that record: head).",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="What computes the logits: torch, onnx (MODEL_DIR/model.onnx) or onnx-int8 (MODEL_DIR/model.int8.onnx), "
        "both written by export_onnx.py. auto (default): onnx when model.onnx was exported from these weights and "
        "the device is a CPU, else torch.",
    )
    parser.add_argument(
        "--num_threads",
        type=int,
        help="Intra-op threads on a CPU (default: 1 for GloVe and RNN models, else the number of physical cores).",
    )


class TextClassifier:
    """Class probabilities for raw texts, batched; `label_names[i]` is the class of column i."""

    def __init__(
        self,
        model_dir: str | Path,
        device: str | None = None,
        batch_size: int = 32,
        max_length: int | None = None,
        wordnet_dir: str | None = None,
        truncation_side: str | None = None,
        backend: str = "auto",
        num_threads: int | None = None,
    ):
        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file():
            raise TextclsError(f"{model_dir} holds no config.json: give a folder written by run_classification.py")
        if not (model_dir / "tokenizer.json").is_file():
            raise TextclsError(
                f"{model_dir} holds no tokenizer.json: copy it from the run's output_dir (run_classification.py saves "
                "the tokenizer beside the model)"
            )
        if num_threads is not None and num_threads < 1:
            raise TextclsError(f"num_threads={num_threads}: expected at least 1")
        check_weight_files(model_dir)
        try:
            config = AutoConfig.from_pretrained(model_dir)
            tokenizer = AutoTokenizer.from_pretrained(model_dir)
        except (OSError, ValueError) as error:
            raise TextclsError(f"cannot load the model in {model_dir}: {error}") from None
        self.model_dir = model_dir
        self.config = config
        self.label_names = problem_types.label_names_of(config)
        self.problem_type = problem_types.problem_type_of(config)
        self.reads_pairs = problem_types.reads_text_pairs(config)
        self.batch_size = batch_size
        # Long texts are cut as in training; without a record (an older folder), at the model's limit.
        reading = saved_reading(config)  # the cleaning and cut training recorded
        saved_cut = reading.truncation or {}
        if not saved_cut and max_length is None:
            logger.warning(
                "%s does not record how training cut long texts (trained before text_truncation was saved): "
                "reading up to the model's limit from the start. Give --max_length and --truncation_side (the "
                "run's max_seq_length and truncation_side) to match training.",
                model_dir,
            )
        if truncation_side is not None and truncation_side not in TRUNCATION_SIDES:
            raise TextclsError(f"truncation_side={truncation_side!r}: expected one of {', '.join(TRUNCATION_SIDES)}")
        if max_length is not None and max_length < MIN_LENGTH:
            raise TextclsError(f"max_length={max_length}: expected at least {MIN_LENGTH} tokens")
        backbone = backbone_config(config)  # an MLP head's config holds its backbone's
        limits = [tokenizer.model_max_length, getattr(backbone, "max_position_embeddings", None)]
        limit = min([value for value in limits if isinstance(value, int) and 0 < value < 1_000_000] or [512])
        self.max_length = min(max_length or saved_cut.get("max_seq_length") or limit, limit)
        self.tokenizer = tokenizer
        # Ids of already cleaned texts, cut as training cut them (explanations reuse it to read a text alike).
        side, head_tokens = truncation_side or saved_cut.get("side", "head"), saved_cut.get("head_tokens")
        try:  # pairs as training read them: tokenizer(text, text_pair), the longer text cut first
            self.tokenize = make_tokenize_function(
                tokenizer, self.max_length, side, head_tokens, text_pair=self.reads_pairs
            )
        except TextclsError as error:
            raise TextclsError(f"--truncation_side for the pair model in {model_dir}: {error}") from None
        # The same ids as one flat array, for tokenizers that allow it (the word tokenizer): no list per text.
        self._plain_ids = (
            None if self.reads_pairs else make_plain_ids_function(tokenizer, self.max_length, side, head_tokens)
        )
        self.cleaning = reading.cleaning_options(wordnet_dir)
        self._cleaner = build_cleaner(self.cleaning, import_gensim=False) if self.cleaning is not None else None
        # simple_preprocess alone, before a tokenizer that splits alike: the tokenizer cleans (most texts) itself.
        self._tokenizer_cleans = (
            self._cleaner is not None
            and self._cleaner.word_tokenizer_cleans
            and splits_like_simple_preprocess(tokenizer)
        )
        try:
            self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
            torch.empty(0, device=self.device)
        except (RuntimeError, AssertionError) as error:  # an unknown name, or CUDA asked for and absent
            raise TextclsError(f"cannot use device {device!r}: {error}") from None
        self._model = None
        if num_threads is None and config.model_type in WORD_MODEL_TYPES:
            # A word model's batch is a few small operations: a second thread's hand-offs cost more than it does
            # (benchmarks/README.md, word models: 2.1x the texts/s of two threads for GloVe, 3.9x for the BiLSTM).
            num_threads = WORD_MODEL_THREADS
        self.backend = open_backend(model_dir, backend, self.device, lambda: self.model, num_threads)
        self.pad_token_id = tokenizer.pad_token_id or 0

    @property
    def model(self) -> torch.nn.Module:
        """The PyTorch model (attributions need it whichever backend predicts), loaded on first use."""
        if self._model is None:
            try:
                self._model = load_for_inference(self.model_dir).to(self.device).eval()
            except (OSError, ValueError) as error:
                raise TextclsError(f"cannot load the model in {self.model_dir}: {error}") from None
        return self._model

    @classmethod
    def from_options(cls, options: argparse.Namespace, **settings) -> TextClassifier:
        """The classifier of a script's --model_dir and the options of `add_reading_arguments`."""
        return cls(
            options.model_dir,
            device=options.device,
            max_length=options.max_length,
            truncation_side=options.truncation_side,
            backend=options.backend,
            num_threads=options.num_threads,
            **settings,
        )

    def clean(self, texts: Sequence[str]) -> list[str]:
        """The texts as the model read its training data (unchanged when it was trained on raw text)."""
        if self._cleaner is None:
            return list(texts)
        return self._cleaner({"text": list(texts)})["text"]

    def _for_tokenizer(self, texts: Sequence[str]) -> list[str]:
        """What to give the tokenizer for it to read the texts as in training: `clean`'s texts, or the same words
        for less work where the tokenizer splits like the cleaning (`TextCleaner.for_word_tokenizer`)."""
        if self._tokenizer_cleans:
            return self._cleaner.for_word_tokenizer(list(texts))
        return self.clean(texts)

    def check_pairs(self, text_pairs: Sequence[str] | None) -> None:
        """A pair model needs its second texts; a single-text model refuses them (it would read them as noise)."""
        if self.reads_pairs and text_pairs is None:
            raise TextclsError(
                f"{self.model_dir} was trained on text pairs (text, text_pair): give the second texts too "
                "(predict.py: --text_pair_column, or --text_pair with --text)"
            )
        if not self.reads_pairs and text_pairs is not None:
            raise TextclsError(
                f"{self.model_dir} reads one text per example (trained without text_pair): drop the second texts "
                "(--text_pair_column / --text_pair)"
            )

    def encode(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None) -> dict[str, list]:
        """Token ids (and `length`) of the texts, cleaned and cut as training did; pairs as `tokenizer(text,
        text_pair)` with the tokenizer's own separator and token_type_ids, the longer side cut first."""
        self.check_pairs(text_pairs)
        if text_pairs is None:
            return self.tokenize({"text": self._for_tokenizer(texts)})
        if len(text_pairs) != len(texts):
            raise TextclsError(f"{len(texts)} texts but {len(text_pairs)} second texts: give one pair per row")
        return self.tokenize({"text": self._for_tokenizer(texts), "text_pair": self._for_tokenizer(text_pairs)})

    def padded_batch(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """One right-padded batch of model inputs (CPU tensors) of the texts (and pairs), read as in training: what
        the ONNX export checks its graph on."""
        texts, text_pairs = self._checked(texts, text_pairs)
        flat, lengths = self._flat_inputs(texts, text_pairs)
        rows = np.arange(len(lengths))
        batch = self._pad(flat, np.cumsum(lengths) - lengths, lengths, rows)
        return {name: torch.from_numpy(array) for name, array in batch.items()}

    def logits(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None) -> np.ndarray:
        """Logits of shape (len(texts), number of outputs), from whichever backend was chosen."""
        texts, text_pairs = self._checked(texts, text_pairs)
        logits = np.zeros((len(texts), len(self.label_names)), dtype=np.float32)
        if not texts:
            return logits
        flat, lengths = self._flat_inputs(texts, text_pairs)
        starts = np.cumsum(lengths) - lengths
        # Similar lengths share a batch (less padding); rows go back to their places below.
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            logits[rows] = self.backend(self._pad(flat, starts, lengths, rows))
        return logits

    def _checked(self, texts: Sequence[str], text_pairs: Sequence[str] | None) -> tuple[list[str], list[str] | None]:
        """The texts (and pairs) as lists, the pairs checked against the model (`check_pairs`)."""
        texts = list(texts)
        text_pairs = None if text_pairs is None else list(text_pairs)
        self.check_pairs(text_pairs)
        return texts, text_pairs

    def _flat_inputs(
        self, texts: list[str], text_pairs: list[str] | None
    ) -> tuple[dict[str, np.ndarray | None], np.ndarray]:
        """The model inputs of every text concatenated (int64, by input name; the attention mask is all ones and left
        to `_pad`) and each text's length: as `encode` reads the texts."""
        if text_pairs is None and self._plain_ids is not None:
            ids, lengths = self._plain_ids(self._for_tokenizer(texts))
            return {"input_ids": ids, "attention_mask": None}, lengths
        encoded = self.encode(texts, text_pairs)
        lengths = np.asarray(encoded["length"], dtype=np.int64)
        flat = {
            name: None
            if name == "attention_mask"  # an unpadded encoding's mask is all ones
            else np.fromiter(itertools.chain.from_iterable(encoded[name]), np.int64, int(lengths.sum()))
            for name in ("input_ids", "attention_mask", "token_type_ids")
            if name in encoded
        }
        return flat, lengths

    def _pad(
        self, flat: dict[str, np.ndarray | None], starts: np.ndarray, lengths: np.ndarray, rows: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Right-padded int64 arrays of the `rows` (as DataCollatorWithPadding pads, without its per-row dicts)."""
        width = int(lengths[rows].max(initial=0))
        filled = np.arange(width) < lengths[rows, None]
        where = (starts[rows, None] + np.arange(width))[filled]  # row-major: each row's tokens, then the next row's
        batch = {}
        for name, values in flat.items():
            if values is None:
                batch[name] = filled.astype(np.int64)
                continue
            array = np.full((len(rows), width), self.pad_token_id if name == "input_ids" else 0, dtype=np.int64)
            array[filled] = values[where]
            batch[name] = array
        return batch

    def predict(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None) -> Outputs:
        """Scores, decisions and their names, as the model's problem type reads its logits (inference.outputs)."""
        return outputs_from_logits(self.config, self.logits(texts, text_pairs))

    def predict_proba(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None) -> np.ndarray:
        """Probabilities of shape (len(texts), number of classes or labels), columns in `label_names` order
        (softmax for single-label, sigmoid per label for multi-label; a regression model has none)."""
        return self.predict(texts, text_pairs).probabilities
