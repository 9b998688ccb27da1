"""The run's settings: four dataclasses whose help strings are the documentation, and the config parser.

A run is configured by a JSON file and/or command-line flags; flags given after the JSON override it.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from transformers import HfArgumentParser, TrainingArguments
from transformers.utils import is_torch_bf16_gpu_available

from data_scripts.augmentation import Augmentation
from data_scripts.text_cleaning import TextCleaning
from modeling.classifier_heads import CLASSIFIER_HEADS
from textcls_errors import TextclsError
from training.distributed import check_precision, launcher_precision, no_accelerator

logger = logging.getLogger(__name__)

TRUNCATION_SIDES = ("head", "tail", "head+tail")
THRESHOLD_STRATEGIES = ("per_label", "global")
WORD_MODEL_CHOICES = {
    "model_type": ("glove", "lstm"),
    "embedding_init": ("pretrained", "random"),
    "cell": ("lstm", "gru", "rnn"),
    "pooling": ("last", "mean", "max"),
}


@dataclass
class ModelArguments:
    """Which model to fine-tune and where its files come from."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "Hub id (e.g. 'sentence-transformers/all-MiniLM-L6-v2', 'roberta-base') or a local model "
            "folder, including one saved by an earlier run. Offline, known hub ids resolve to packaged copies "
            "(see README, 'Offline use'). Leave empty and set model_type to build a word-level model."
        },
    )
    model_type: str | None = field(
        default=None,
        metadata={
            "help": "Build a new word-level model instead of loading one: 'glove' (mean of word vectors) or "
            "'lstm' (a recurrent network; see cell). Its vocabulary comes from the training split."
        },
    )
    tokenizer_name: str | None = field(
        default=None, metadata={"help": "Tokenizer to use when it differs from model_name_or_path."}
    )
    cache_dir: str | None = field(
        default=None,
        metadata={"help": "Where downloaded models and datasets are cached (default: HF cache)."},
    )
    ignore_mismatched_sizes: bool = field(
        default=False,
        metadata={"help": "Load a checkpoint whose classification head has another number of labels."},
    )
    early_stopping_patience: int | None = field(
        default=None,
        metadata={
            "help": "Stop after this many evaluations without improving metric_for_best_model "
            "(EarlyStoppingCallback). Needs eval_strategy != 'no'."
        },
    )

    # Classification head of a pretrained transformer (model_name_or_path).
    classifier_head: str = field(
        default="linear",
        metadata={
            "help": "'linear': the architecture's own head (BERT's pooler + linear layer, RoBERTa's head, ...). "
            "'mlp': dense layers (classifier_hidden_sizes) over the first-token vector; saved folders and Hub "
            "repos reload with the same layers (model type textcls-transformer-mlp)."
        },
    )
    classifier_hidden_sizes: list[int] | None = field(
        default=None,
        metadata={"help": "mlp head: widths of its dense layers, e.g. 256 64 (default: one as wide as the encoder)."},
    )
    classifier_dropout: float | None = field(
        default=None,
        metadata={
            "help": "Dropout before each layer of the head (default: the architecture's own, e.g. BERT's "
            "hidden_dropout_prob 0.1, DistilBERT's seq_classif_dropout 0.2)."
        },
    )

    # Word-level models (model_type glove / lstm).
    word_vectors: str | None = field(
        default="glove.6B.50d",
        metadata={
            "help": "Word vectors for the embedding layer: a name ('glove.6B.50d' is packaged; others such as "
            "'glove-wiki-gigaword-100' download through gensim), a GloVe .txt/.txt.gz file, 'glove.6B.zip:MEMBER', "
            "or a word2vec .bin. 'random' (or embedding_init random) trains embeddings from scratch."
        },
    )
    embedding_init: str = field(
        default="pretrained", metadata={"help": "'pretrained' (from word_vectors) or 'random'."}
    )
    embedding_dim: int | None = field(
        default=None, metadata={"help": "Embedding size for random initialisation (default: 100)."}
    )
    freeze_embeddings: bool = field(
        default=False, metadata={"help": "Keep the word vectors fixed instead of fine-tuning them."}
    )
    max_vocab_size: int = field(
        default=20000,
        metadata={"help": "Keep the most frequent training words that have vectors, at most this many."},
    )
    oov_min_count: int = field(
        default=0,
        metadata={
            "help": "Training words without a pretrained vector: 0 reads them as [UNK]; N >= 1 keeps those seen at "
            "least N times in the vocabulary (within max_vocab_size), starting from small random vectors."
        },
    )
    hidden_sizes: list[int] | None = field(
        default=None, metadata={"help": "glove: sizes of dense layers between the mean and the head (default none)."}
    )
    cell: str = field(default="lstm", metadata={"help": "lstm: the recurrent cell, 'lstm', 'gru' or 'rnn'."})
    hidden_size: int = field(default=128, metadata={"help": "lstm: hidden units per direction."})
    num_layers: int = field(default=1, metadata={"help": "lstm: stacked recurrent layers."})
    bidirectional: bool = field(default=True, metadata={"help": "lstm: read the text both ways."})
    pooling: str = field(
        default="max",
        metadata={"help": "lstm: document vector from the outputs, 'last' (final states), 'mean' or 'max'."},
    )
    dropout: float = field(default=0.2, metadata={"help": "glove / lstm: dropout before the classification head."})
    embedding_dropout: float | None = field(
        default=None,
        metadata={
            "help": "lstm: word dropout in training, the probability that a token's whole vector is zeroed before "
            "the recurrent layers (default 0: none)."
        },
    )
    use_lora: bool = field(
        default=False,
        metadata={"help": "Train LoRA adapters (peft) on the attention projections instead of the whole backbone."},
    )
    lora_r: int = field(default=8, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling numerator (updates are scaled by alpha/r)."})
    lora_dropout: float = field(default=0.1, metadata={"help": "Dropout on the LoRA branch."})
    lora_target_modules: list[str] | None = field(
        default=None,
        metadata={
            "help": "Layers to adapt (default: query/value for BERT, RoBERTa and MiniLM; q_lin/v_lin for DistilBERT)."
        },
    )
    merge_lora: bool = field(
        default=False,
        metadata={"help": "Save the backbone with the adapters merged in (a plain model) instead of the adapter."},
    )

    def __post_init__(self) -> None:
        if (self.model_name_or_path is None) == (self.model_type is None):
            raise TextclsError(
                "give either model_name_or_path (a model to fine-tune) or model_type (glove or lstm, a new word-level "
                f"model); got model_name_or_path={self.model_name_or_path!r}, model_type={self.model_type!r}."
            )
        for name, allowed in WORD_MODEL_CHOICES.items():
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise TextclsError(f"{name} must be one of {', '.join(allowed)}; got {value!r}.")
        if self.use_lora and self.model_type is not None:
            raise TextclsError(
                f"use_lora adapts a pretrained transformer; model_type={self.model_type!r} builds a small word-level "
                "model that trains in full anyway. Remove use_lora, or give model_name_or_path."
            )
        self._check_classifier_head()
        if self.embedding_dropout is not None and self.model_type != "lstm":
            raise TextclsError(
                f"embedding_dropout is word dropout before an RNN's recurrent layers (model_type lstm); got "
                f"model_type={self.model_type!r}. Remove embedding_dropout, or use dropout."
            )
        if self.oov_min_count < 0:
            raise TextclsError(f"oov_min_count={self.oov_min_count}: expected 0 (no words without a vector) or more")
        if self.max_vocab_size < 1:
            raise TextclsError(f"max_vocab_size={self.max_vocab_size}: expected 1 word or more (e.g. 20000)")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 0:
            raise TextclsError(
                f"early_stopping_patience={self.early_stopping_patience}: expected a number of evaluations without "
                "improvement (1 or more), or 0 / null for no early stopping"
            )
        if self.word_vectors in (None, "random"):
            self.embedding_init = "random"  # one switch for "no pretrained vectors", whichever field said it
        if self.oov_min_count and self.embedding_init == "random":
            raise TextclsError(
                f"oov_min_count={self.oov_min_count} keeps words without a pretrained vector, but this run has no "
                "pretrained vectors (random embeddings keep every training word, most frequent first, up to "
                "max_vocab_size). Remove oov_min_count, or give word_vectors."
            )

    def _check_classifier_head(self) -> None:
        if self.classifier_head not in CLASSIFIER_HEADS:
            raise TextclsError(
                f"classifier_head must be one of {', '.join(CLASSIFIER_HEADS)}; got {self.classifier_head!r}."
            )
        head_settings = {
            "classifier_head": self.classifier_head if self.classifier_head != "linear" else None,
            "classifier_hidden_sizes": self.classifier_hidden_sizes,
            "classifier_dropout": self.classifier_dropout,
        }
        given = [name for name, value in head_settings.items() if value is not None]
        if self.model_type is not None and given:
            raise TextclsError(
                f"{', '.join(given)} set the head of a pretrained transformer; model_type={self.model_type!r} builds "
                "a word-level model, whose dense layers and dropout are hidden_sizes (glove) and dropout."
            )
        if self.classifier_hidden_sizes is not None and self.classifier_head != "mlp":
            raise TextclsError(
                f"classifier_hidden_sizes={self.classifier_hidden_sizes} needs classifier_head 'mlp' (the linear "
                "head has no hidden layers); got classifier_head={self.classifier_head!r}."
            )
        if self.classifier_hidden_sizes is not None and (
            not self.classifier_hidden_sizes or min(self.classifier_hidden_sizes) < 1
        ):
            raise TextclsError(
                f"classifier_hidden_sizes must be one or more positive widths, e.g. 256 64; got "
                f"{self.classifier_hidden_sizes}."
            )
        if self.classifier_dropout is not None and not 0 <= self.classifier_dropout < 1:
            raise TextclsError(f"classifier_dropout must be in [0, 1); got {self.classifier_dropout}.")


@dataclass
class DataArguments:
    """Which corpus to read and how to turn it into model inputs."""

    dataset_name: str | None = field(
        default=None,
        metadata={"help": "'ag_news' or '20newsgroups'; leave empty to read train_file/validation_file/test_file."},
    )
    data_dir: str | None = field(
        default=None,
        metadata={
            "help": "Local copy of the named dataset (ag_news_csv layout, or 20news-bydate.tar.gz / its folders). "
            "Default: $TEXTCLS_DATA_DIR/<dataset_name> when it exists, else the network."
        },
    )
    train_file: str | None = field(default=None, metadata={"help": "Training data: CSV, TSV, JSON, JSONL or parquet."})
    validation_file: str | None = field(
        default=None,
        metadata={"help": "Validation data (same formats). Default: a stratified split of train."},
    )
    test_file: str | None = field(default=None, metadata={"help": "Test data (same formats), used by do_predict."})
    text_columns: list[str] | None = field(
        default=None,
        metadata={"help": "Column(s) holding the text; several are joined with a newline. Default: text."},
    )
    label_column: str = field(
        default="label",
        metadata={
            "help": "Column holding the label: class names or integers (single-label), numbers (regression), lists "
            "or label_separator-delimited names (multi-label)."
        },
    )
    label_columns: list[str] | None = field(
        default=None,
        metadata={"help": "Multi-label as several 0/1 columns, one per label, e.g. anger joy fear (their order kept)."},
    )
    label_separator: str | None = field(
        default=None,
        metadata={"help": "Multi-label as one delimited string per row, e.g. '|' for 'sport|politics'."},
    )
    problem_type: str | None = field(
        default=None,
        metadata={
            "help": "single_label_classification, multi_label_classification or regression. Default: inferred from "
            "the training labels (a list column, label_columns or label_separator -> multi-label; numbers not all "
            "whole -> regression; else single-label), and logged."
        },
    )
    text_pair_column: str | None = field(
        default=None,
        metadata={
            "help": "Column holding the second text of a pair (premise/hypothesis, sentence 1/2): the model reads "
            "tokenizer(text, text_pair)."
        },
    )
    text_pair: bool = field(
        default=False, metadata={"help": "Read the two text_columns as a pair (first, second) instead of joining them."}
    )
    delimiter: str | None = field(
        default=None,
        metadata={
            "help": "Field separator of delimited files when the extension does not say it (e.g. '\\t' for a "
            "tab-separated .txt or .csv)."
        },
    )
    column_names: list[str] | None = field(
        default=None,
        metadata={
            "help": "Delimited files without a header: the names of their columns. Fields beyond them (ragged "
            "trailing notes) are ignored, with a logged count."
        },
    )
    quoting: str | None = field(
        default=None,
        metadata={
            "help": "Delimited files: 'minimal' (quoted fields, as CSV writers do; the default) or 'none' (quotes "
            "are text)."
        },
    )
    categories: list[str] | None = field(
        default=None, metadata={"help": "20newsgroups: keep only these groups (e.g. sci.space rec.autos)."}
    )
    remove: list[str] | None = field(
        default=None,
        metadata={"help": "20newsgroups: strip any of headers, footers, quotes (as scikit-learn does)."},
    )
    test_split_percentage: float | None = field(
        default=None,
        metadata={
            "help": "Percent of train held out (seeded; stratified when single-label) as the test split, for data "
            "that comes as one file (e.g. SemEval-2018 E-c). Not with test_file."
        },
    )
    validation_split_percentage: float = field(
        default=10.0,
        metadata={"help": "Percent of train held out (stratified, seeded) when the corpus has no validation split."},
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Train on a stratified sample of this many documents (quick runs)."}
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Evaluate on a stratified sample of this many validation documents."}
    )
    max_predict_samples: int | None = field(
        default=None, metadata={"help": "Predict on a stratified sample of this many test documents."}
    )
    max_seq_length: int = field(
        default=128,
        metadata={"help": "Longest input in tokens, special tokens included; longer texts are truncated."},
    )
    truncation_side: str = field(
        default="head",
        metadata={
            "help": "Which part of a long text to keep: head, tail, or head+tail (Sun et al. 2019 kept the first "
            "128 and last 382 tokens of 512)."
        },
    )
    head_tokens: int | None = field(
        default=None,
        metadata={
            "help": "With truncation_side=head+tail: tokens kept from the start; the rest of max_seq_length comes "
            "from the end. Default: 128/510 of the budget, the paper's ratio."
        },
    )
    pad_to_max_length: bool = field(
        default=False,
        metadata={
            "help": "Pad every input to max_seq_length (only for hardware that needs fixed shapes: dynamic padding "
            "is 2-3x faster on CPU)."
        },
    )
    preprocessing_num_workers: int | None = field(
        default=None, metadata={"help": "Processes for tokenization (datasets.map num_proc)."}
    )
    overwrite_cache: bool = field(default=False, metadata={"help": "Tokenize again instead of reusing the cache."})

    def __post_init__(self) -> None:
        if self.truncation_side not in TRUNCATION_SIDES:
            raise TextclsError(
                f"truncation_side must be one of {', '.join(TRUNCATION_SIDES)}; got {self.truncation_side!r}."
            )
        if self.max_seq_length < 8:
            raise TextclsError(f"max_seq_length must be at least 8 tokens; got {self.max_seq_length}.")
        if self.delimiter == "\\t":  # typed on a command line as backslash-t
            self.delimiter = "\t"
        for name in ("train_file", "validation_file", "test_file"):  # "$TEXTCLS_DATA_DIR/..." in shared configs
            if getattr(self, name) is not None:
                setattr(self, name, os.path.expandvars(getattr(self, name)))

    def corpus_settings(self, with_samples: bool = True) -> dict:
        """The keyword arguments of `data_scripts.load_corpus` that these settings give (sample limits optional)."""
        names = [
            "data_dir", "train_file", "validation_file", "test_file", "text_columns", "label_column", "categories",
            "remove", "validation_split_percentage", "label_columns", "label_separator", "problem_type",
            "text_pair_column", "text_pair", "delimiter", "column_names", "quoting", "test_split_percentage",
        ]  # fmt: skip
        if with_samples:
            names += ["max_train_samples", "max_eval_samples", "max_predict_samples"]
        return {name: getattr(self, name) for name in names}


@dataclass
class TextclsTrainingArguments(TrainingArguments):
    """transformers' TrainingArguments with defaults for classification runs.

    Evaluate and save every epoch, keep the best model by macro-F1, group training batches by length,
    and train, evaluate and predict unless told otherwise.
    """

    do_train: bool = field(default=True, metadata={"help": "Fine-tune on the train split."})
    do_eval: bool = field(default=True, metadata={"help": "Evaluate on the validation split."})
    do_predict: bool = field(default=True, metadata={"help": "Predict the test split and write the reports."})
    eval_strategy: str = field(default="epoch", metadata={"help": "When to evaluate: no, steps or epoch."})
    save_strategy: str = field(default="epoch", metadata={"help": "When to save a checkpoint: no, steps, epoch."})
    logging_strategy: str = field(default="steps", metadata={"help": "When to log the training loss."})
    logging_steps: float = field(
        default=0.02,
        metadata={
            "help": "Log the training loss every this many steps, or a fraction (< 1) of all training steps: "
            "the default gives about 50 points on the training curve however long the run."
        },
    )
    save_total_limit: int | None = field(default=2, metadata={"help": "Checkpoints kept in output_dir."})
    load_best_model_at_end: bool = field(
        default=True,
        metadata={"help": "Reload the checkpoint with the best metric_for_best_model at the end."},
    )
    metric_for_best_model: str | None = field(
        default=None,
        metadata={
            "help": "Validation metric that picks the best checkpoint (and that early stopping watches). Default: "
            "macro_f1 for single-label, micro_f1 for multi-label, spearman for regression."
        },
    )
    greater_is_better: bool | None = field(default=True, metadata={"help": "Whether higher metric is better."})
    train_sampling_strategy: str = field(
        default="group_by_length",
        metadata={"help": "random, sequential or group_by_length (batches of similar length: less padding)."},
    )
    warmup_steps: float = field(
        default=0.1, metadata={"help": "Linear warm-up: steps, or a fraction (< 1) of all training steps."}
    )
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    # Plain defaults, not default_factory: HfArgumentParser gives a bool field with a factory the default False.
    dataloader_pin_memory: bool = field(
        default=torch.cuda.is_available(),
        metadata={"help": "Pin batches in page-locked memory (only helps when copying to a GPU)."},
    )
    hub_strategy: str = field(
        default="end",
        metadata={
            "help": "Only 'end': with push_to_hub, the finished model, its card and results go to the Hub in one "
            "commit at the end of the run (checkpoints are not pushed)."
        },
    )
    use_cpu: bool = field(
        default=no_accelerator(),
        metadata={
            "help": "Train on the CPU (gloo between processes). Default: true when torch sees no GPU, so that "
            "processes started by accelerate launch or torchrun on such a machine form one process group "
            "instead of each training alone."
        },
    )
    average_tokens_across_devices: bool = field(
        default=False,
        metadata={
            "help": "Scale the loss by the label count of all processes. Off: classification losses are means per "
            "batch, and transformers' scaling would report (and step with) the loss times the number of processes."
        },
    )
    class_weights: str | None = field(
        default=None,
        metadata={
            "help": "Weigh rare classes up in the loss: 'balanced' (n / (classes x count); multi-label: pos_weight = "
            "negatives / positives per label), 'none', or a JSON object {label: weight} (others weigh 1). Saved in "
            "config.json; applied to every model family."
        },
    )
    threshold_strategy: str = field(
        default="per_label",
        metadata={
            "help": "Multi-label: decision thresholds tuned on the validation split, 'per_label' (each label's own, "
            "best F1) or 'global' (one for all, best micro-F1); saved in config.json as decision_thresholds."
        },
    )
    embedding_projection: bool = field(
        default=True,
        metadata={
            "help": "Before and after training, embed a sample of validation documents and write t-SNE maps "
            "(embeddings_tsne.png, embeddings_tsne_3d.html) and class-separation numbers (silhouette, 10-NN "
            "accuracy, Davies-Bouldin) to all_results.json."
        },
    )
    embedding_sample_size: int | None = field(
        default=None,
        metadata={
            "help": "Validation documents in that sample (stratified, fixed by the seed). Default: a tenth of the "
            "training examples the run plans to see (rows x epochs, or max_steps x batch), from 200 to 2,000."
        },
    )
    embedding_eval_every: int = field(
        default=0,
        metadata={
            "help": "Also measure the class separation (and save a 2D map in embeddings_tsne_steps/) at every N-th "
            "evaluation during training; 0 = only before and after."
        },
    )
    hp_search_space: str | None = field(
        default=None,
        metadata={
            "help": "A W&B sweep YAML (configs/sweeps/): its parameters, metric and method define the search that "
            "hp_search_trials runs offline with Optuna."
        },
    )
    hp_search_trials: int = field(
        default=0,
        metadata={
            "help": "Run this many Optuna trials over hp_search_space (Trainer.hyperparameter_search), each scored by "
            "its best evaluation of the sweep's metric, instead of one run; writes best_trial.json (and the command "
            "that trains with the best settings) to output_dir and stops. 0 = no search."
        },
    )

    def __post_init__(self) -> None:
        # None: the problem type's own metric, chosen once the data is read (run_classification); macro-F1 until then
        self.best_metric_is_default = self.metric_for_best_model is None
        if self.best_metric_is_default:
            self.metric_for_best_model = "macro_f1"
        if self.threshold_strategy not in THRESHOLD_STRATEGIES:
            raise TextclsError(
                f"threshold_strategy must be one of {', '.join(THRESHOLD_STRATEGIES)}; got {self.threshold_strategy!r}."
            )
        self.class_weights = parse_class_weights(self.class_weights)
        for name in ("per_device_train_batch_size", "per_device_eval_batch_size"):
            if getattr(self, name) < 1:
                raise TextclsError(f"{name}={getattr(self, name)}: expected 1 document or more")
        if self.output_dir and Path(self.output_dir).exists() and not Path(self.output_dir).is_dir():
            raise TextclsError(f"output_dir {self.output_dir} is an existing file: give a folder (new or existing)")
        if not (self.fp16 or self.bf16):  # an accelerate config's mixed_precision, seen by every check below
            precision = launcher_precision()
            self.fp16, self.bf16 = precision == "fp16", precision == "bf16"
        if self.bf16 and not self.use_cpu and not is_torch_bf16_gpu_available():
            raise TextclsError(
                "bf16=True with use_cpu=False needs a GPU that computes in bf16 (e.g. NVIDIA Ampere or newer), and "
                "none is here: set use_cpu to true to train in bf16 on the CPU, or bf16 to false."
            )
        super().__post_init__()
        check_precision(self.fp16, self.bf16, self.device)
        if self.hub_strategy != "end":
            raise TextclsError(
                f"hub_strategy={str(self.hub_strategy.value)!r}: only 'end' is supported (run_classification.py "
                "pushes the finished model with its card once, at the end; checkpoints stay local)."
            )
        if self.do_train and not self.learning_rate > 0:
            raise TextclsError(f"learning_rate={self.learning_rate}: expected a positive number, e.g. 5e-5")
        if self.do_train and not (self.num_train_epochs > 0 or self.max_steps > 0):
            raise TextclsError(
                f"num_train_epochs={self.num_train_epochs}: expected a positive number of epochs (or max_steps > 0)"
            )
        if self.embedding_sample_size is not None and self.embedding_sample_size < 2:
            raise TextclsError(f"embedding_sample_size={self.embedding_sample_size}: expected 2 documents or more")
        if self.embedding_eval_every < 0:
            raise TextclsError(f"embedding_eval_every={self.embedding_eval_every}: expected 0 (off) or a positive N")
        if self.embedding_eval_every and self.eval_strategy == "no":
            raise TextclsError(
                "embedding_eval_every measures at evaluations, but eval_strategy is 'no': set eval_strategy to "
                "epoch or steps, or embedding_eval_every to 0."
            )
        if self.hp_search_trials < 0:
            raise TextclsError(f"hp_search_trials={self.hp_search_trials}: expected 0 (no search) or a count")
        if self.hp_search_trials:
            if not self.hp_search_space:
                raise TextclsError(
                    f"hp_search_trials={self.hp_search_trials} needs hp_search_space, the sweep YAML that defines the "
                    "search (e.g. configs/sweeps/minilm_20ng.yaml)."
                )
            if not (self.do_train and self.do_eval):
                raise TextclsError(
                    f"hp_search_trials={self.hp_search_trials} trains a model per trial and scores it on the "
                    f"validation split, but do_train={self.do_train} and do_eval={self.do_eval}: set both to true."
                )
        elif self.hp_search_space:
            logger.warning("hp_search_space is not used: hp_search_trials is 0 (no search)")


def parse_class_weights(value: str | dict | None) -> str | dict | None:
    """class_weights as given: 'balanced', 'none', None, or {label: weight} (a JSON object on the command line)."""
    if value is None or isinstance(value, dict) or value in ("balanced", "none"):
        return value
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise TextclsError(
            f"class_weights must be 'balanced', 'none' or a JSON object {{label: weight}}; got {value!r}."
        )
    return parsed


# Text cleaning (for the word-level models) is its own group: its options live beside the code that runs them.
ARGUMENT_CLASSES = (ModelArguments, DataArguments, TextCleaning, Augmentation, TextclsTrainingArguments)


def parse_arguments(argv: list[str] | None = None):
    """Parse `[CONFIG.json] [--flag value ...]` into (ModelArguments, DataArguments, TextCleaning, Augmentation,
    TrainingArguments).

    The JSON's keys become flags placed before the command-line ones, so a flag on the command line
    overrides the same key in the file.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    # No abbreviations: a misspelt flag such as --learning_rat must not quietly become --learning_rate.
    parser = SettingsParser(ARGUMENT_CLASSES, allow_abbrev=False)
    if argv and argv[0].endswith(".json"):
        argv = config_to_flags(read_config(argv[0]), parser) + argv[1:]
    check_flags(argv, parser)
    try:
        return parser.parse_args_into_dataclasses(args=argv)
    except ValueError as error:  # TrainingArguments.__post_init__ checks combinations of values
        raise TextclsError(f"invalid training arguments: {error}") from None


class SettingsParser(HfArgumentParser):
    """HfArgumentParser whose errors (a value of the wrong type, a flag without its value) are one TextclsError line,
    instead of argparse's usage of every setting (some 175 lines) before it."""

    def error(self, message: str):
        message = re.sub(r"(--\w+)(/--[\w-]+)+", r"\1", message)  # argparse lists each spelling: --a_b/--a-b
        raise TextclsError(f"{message}. Run `python run_classification.py --help` for the accepted settings.")


def check_flags(argv: list[str], parser: HfArgumentParser) -> None:
    """Reject flags no dataclass declares, suggesting the closest one (argparse would list them without a hint)."""
    options = set(parser._option_string_actions)  # every spelling argparse accepts: --x, --x-y, --no_x, -h
    unknown = [arg.split("=")[0] for arg in argv if arg.startswith("--") and arg.split("=")[0] not in options]
    if not unknown:
        return
    hints = []
    for flag in unknown:
        close = difflib.get_close_matches(flag, sorted(options), n=1)
        hints.append(flag + (f" (did you mean {close[0]}?)" if close else ""))
    raise TextclsError(
        f"unknown setting(s): {', '.join(hints)}. Run `python run_classification.py --help` for the accepted ones."
    )


def read_config(path: str) -> dict:
    """Read a JSON config file, with errors that name the file and the problem."""
    config_path = Path(path)
    if not config_path.is_file():
        raise TextclsError(f"config file not found: {path}")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise TextclsError(f"{path} is not valid JSON: {error}") from None
    except UnicodeDecodeError as error:
        raise TextclsError(f"{path} is not UTF-8 text ({error}): save it as UTF-8") from None
    if not isinstance(config, dict):
        raise TextclsError(f"{path} must hold a JSON object of settings, got {type(config).__name__}")
    return config


def config_to_flags(config: dict, parser: HfArgumentParser) -> list[str]:
    """Turn a config dict into command-line flags, rejecting keys no dataclass declares."""
    known = {f.name for cls in ARGUMENT_CLASSES for f in fields(cls) if f.init}
    unknown = sorted(set(config) - known)
    if unknown:
        raise TextclsError(
            f"unknown setting(s) in the config: {', '.join(unknown)}. "
            "Run `python run_classification.py --help` for the accepted ones."
        )
    flags: list[str] = []
    for key, value in config.items():
        if value is None:
            continue  # null means "use the default"
        flags.append(f"--{key}")
        if isinstance(value, list):
            flags.extend(str(item) for item in value)
        elif isinstance(value, dict):
            flags.append(json.dumps(value))
        else:
            flags.append(str(value))
    return flags
