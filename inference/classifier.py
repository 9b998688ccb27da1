"""A model folder written by run_classification.py, ready to classify raw text.

Transformer, GloVe and RNN models all go through `pipeline("text-classification")`. Word-level models may
have been trained on cleaned text (stop words removed, stemmed, ...): the steps are in their config.json
(`text_cleaning`), and are applied here so that a prediction sees the text as training did.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

import modeling  # noqa: F401  registers the GloVe and RNN models with the Auto classes
from data_scripts.text_cleaning import TextCleaning, build_cleaner
from textcls_errors import TextclsError

logger = logging.getLogger(__name__)


class TextClassifier:
    """Class probabilities for raw texts, batched; `label_names[i]` is the class of column i."""

    def __init__(
        self,
        model_dir: str | Path,
        device: str | None = None,
        batch_size: int = 32,
        max_length: int | None = None,
        wordnet_dir: str | None = None,
    ):
        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file():
            raise TextclsError(f"{model_dir} holds no config.json: give a folder written by run_classification.py")
        try:
            model = AutoModelForSequenceClassification.from_pretrained(model_dir)
            tokenizer = AutoTokenizer.from_pretrained(model_dir)
        except (OSError, ValueError) as error:
            raise TextclsError(f"cannot load the model in {model_dir}: {error}") from None
        self.model_dir = model_dir
        self.config = model.config
        self.label_names = [model.config.id2label[index] for index in range(model.config.num_labels)]
        self.batch_size = batch_size
        # Longer texts are cut to what the model was built for (position embeddings, or the word model's
        # max_seq_length); a smaller max_length trades accuracy on long texts for speed.
        limits = [tokenizer.model_max_length, getattr(model.config, "max_position_embeddings", None), max_length]
        self.max_length = min(limit for limit in limits if isinstance(limit, int) and 0 < limit < 1_000_000)
        saved = getattr(model.config, "text_cleaning", None)
        self.cleaning = TextCleaning(**saved, wordnet_dir=wordnet_dir) if saved else None
        self._cleaner = build_cleaner(self.cleaning) if self.cleaning is not None else None
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.pipeline = pipeline("text-classification", model=model, tokenizer=tokenizer, device=device)

    def clean(self, texts: Sequence[str]) -> list[str]:
        """The texts as the model read its training data (unchanged when it was trained on raw text)."""
        if self._cleaner is None:
            return list(texts)
        return self._cleaner({"text": list(texts)})["text"]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities of shape (len(texts), number of classes), columns in `label_names` order."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.label_names)))
        outputs = self.pipeline(
            self.clean(texts), batch_size=self.batch_size, top_k=None, truncation=True, max_length=self.max_length
        )
        column = {name: index for index, name in enumerate(self.label_names)}
        probabilities = np.zeros((len(texts), len(self.label_names)))
        for row, scores in enumerate(outputs):
            for score in scores:
                probabilities[row, column[score["label"]]] = score["score"]
        return probabilities
