"""Project a saved model's document embeddings: t-SNE maps and class-separation numbers for any split.

For models trained before the embedding callback existed, or to look at another split:

    python -m training.project_embeddings --model_dir outputs/glove_20ng configs/glove_20ng.json --split test

The config (and any run_classification.py flags after it) says which corpus to read, as for training; the
model folder gives the model, its tokenizer and the word-level cleaning it was trained with. Writes
`embeddings_tsne.png`, `embeddings_tsne_3d.html` and `embedding_separation.json` to `--projection_dir`
(default `MODEL_DIR/projection_SPLIT`). A multi-label model's documents are grouped as training groups them
(`class_separation.separation_groups`: by their rarest label, with the label frequencies its training recorded in
`MODEL_DIR/embedding_separation.json`); a regression model has no classes and is refused.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from datasets import DatasetDict
from transformers import AutoTokenizer, DataCollatorWithPadding

import modeling  # noqa: F401  registers the GloVe and RNN models with the Auto classes
from data_scripts import clean_corpus, load_corpus
from data_scripts.labels import label_names_of_features, problem_type_of_features
from data_scripts.splits import labels_of
from modeling import problem_types
from modeling.label_mapping import check_classes, fit_output_rows, saved_label_names
from modeling.lora import load_for_inference
from textcls_errors import TextclsError, run_cli
from training.arguments import parse_arguments, read_config
from training.class_separation import (
    SAMPLE_CAP,
    SeparationGroups,
    automatic_sample_size,
    document_embeddings,
    mistakes,
    recorded_separation_groups,
    recorded_training_examples,
    separation_groups,
    separation_metrics,
    stratified_sample,
)
from training.preprocessing import tokenize_corpus
from training.projection_plots import plot_projections, tsne_maps, write_projection_html
from training.text_reading import saved_reading

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training.project_embeddings",
        description="t-SNE maps and class-separation numbers of a saved model's document embeddings. Arguments "
        "not listed here (a config file, --dataset_name, --categories, --max_seq_length, ...) are read as "
        "run_classification.py reads them, to load the same corpus.",
    )
    parser.add_argument("--model_dir", required=True, help="A folder written by run_classification.py.")
    parser.add_argument("--split", default="validation", help="train, validation or test (default: validation).")
    parser.add_argument(
        "--sample_size",
        type=int,
        help="Documents to project (stratified sample). Default: the size a run of the folder's size samples (a "
        "tenth of the training examples it planned, from 200 to 2,000; 2,000 when the folder records no training).",
    )
    parser.add_argument("--projection_dir", help="Where the files go (default: MODEL_DIR/projection_SPLIT).")
    parser.add_argument("--no_3d", action="store_true", help="Skip the 3D map (the slowest part).")
    parser.add_argument("--batch_size", type=int, default=64, help="Documents per forward pass.")
    return parser


@dataclass
class EmbeddedSample:
    """A saved model's document vectors and predictions for a stratified sample of one split."""

    vectors: np.ndarray
    predictions: np.ndarray
    labels: np.ndarray  # the model's targets: class ids, or rows of 0/1 labels (multi-label)
    texts: list[str]
    groups: SeparationGroups  # what the maps colour by and the numbers group by
    seed: int


def main(argv: list[str] | None = None) -> dict[str, float]:
    options, rest = build_parser().parse_known_args(argv)
    model_dir = Path(options.model_dir)
    started = time.perf_counter()
    embedded = embed_saved_model(options, rest)
    vectors, groups, seed = embedded.vectors, embedded.groups, embedded.seed
    labels, decided = groups(embedded.labels), groups(embedded.predictions)
    wrong = mistakes(embedded.predictions, embedded.labels)
    metrics = separation_metrics(vectors, labels, seed)
    out = Path(options.projection_dir or model_dir / f"projection_{options.split}")
    out.mkdir(parents=True, exist_ok=True)
    maps = tsne_maps(vectors, (2,) if options.no_3d else (2, 3), seed)  # one neighbour search for both maps
    plot_projections(
        out / "embeddings_tsne.png",
        [(f"{model_dir.name}, {options.split} split", maps[2], metrics)],
        labels,
        groups.names,
        wrong,
    )
    if not options.no_3d:
        write_projection_html(
            out / "embeddings_tsne_3d.html",
            maps[3],
            labels,
            groups.names,
            embedded.texts,
            decided,
            title=f"{model_dir.name}: t-SNE of {len(labels)} {options.split} documents",
        )
    results = {
        "split": options.split,
        "documents": len(labels),
        **{f"embedding_{name}": value for name, value in metrics.items()},
        "accuracy": float(1 - wrong.mean()),  # multi-label: the share of documents with every label right
        "seconds": round(time.perf_counter() - started, 2),
    }
    if groups.note:
        results["groups"] = groups.note
    (out / "embedding_separation.json").write_text(json.dumps(results, indent=2) + "\n")
    logger.info("wrote %s: %s", out, results)
    return results


def sample_size(options: argparse.Namespace) -> int:
    """--sample_size when given, else the class-separation sample a run chooses (`automatic_sample_size`) for the
    training the folder records; SAMPLE_CAP (the largest) when it records none (a model trained elsewhere)."""
    if options.sample_size is not None:
        return options.sample_size
    planned = recorded_training_examples(options.model_dir)
    if planned is None:
        logger.info(
            "%s records no training (train_samples in all_results.json, trainer_state.json): a sample of up to %d "
            "documents",
            options.model_dir,
            SAMPLE_CAP,
        )
        return SAMPLE_CAP
    size = automatic_sample_size(planned)
    logger.info("a sample of up to %d documents (its run planned %d examples of training)", size, planned)
    return size


def projection_groups(model_dir: Path, problem_type: str, label_names: list[str], train) -> SeparationGroups:
    """How the documents are grouped, as training grouped them: a multi-label run by their rarest label, with the
    label frequencies its training recorded (counted on the rows it trained on, after max_train_samples and
    augmentation); counted on `train`, the whole training split, for a folder without them. Regression is refused."""
    if problem_type != problem_types.MULTI_LABEL:
        return separation_groups(problem_type, label_names, train)  # refuses regression
    recorded = recorded_separation_groups(model_dir, label_names)
    if recorded is not None:
        return recorded
    logger.info(
        "%s records no label frequencies of its training (label_frequency in embedding_separation.json): the "
        "rarest labels are counted on the whole training split, which differ from training's when it sampled "
        "(max_train_samples) or augmented its rows",
        model_dir,
    )
    return separation_groups(problem_type, label_names, train)


def embed_saved_model(options: argparse.Namespace, rest: list[str]) -> EmbeddedSample:
    """Load the model in `options.model_dir` and the corpus `rest` describes, and embed a sample of the split."""
    model_dir = Path(options.model_dir)
    if not (model_dir / "config.json").is_file():
        raise TextclsError(f"{model_dir} holds no config.json: give a folder written by run_classification.py")
    # run_classification.py's own parser reads the corpus settings; the output_dir it requires is not used.
    given = set(rest) | (set(read_config(rest[0])) if rest and rest[0].endswith(".json") else set())
    if not given & {"model_name_or_path", "--model_name_or_path", "model_type", "--model_type"}:
        rest = [*rest, "--model_name_or_path", str(model_dir)]  # the parser wants a model; this is the one
    arguments = parse_arguments(rest + ["--output_dir", str(model_dir)])
    model_args, data_args, cleaning_args, _, training_args = arguments  # augmentation plays no part here
    seed = training_args.seed

    try:
        model = load_for_inference(model_dir)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    except (OSError, ValueError) as error:
        raise TextclsError(f"cannot load the model in {model_dir}: {error}") from None

    # the whole split: the projection takes its own stratified sample below
    settings = data_args.corpus_settings(with_samples=False)
    corpus = load_corpus(data_args.dataset_name, **settings, seed=seed, cache_dir=model_args.cache_dir)
    if options.split not in corpus:
        raise TextclsError(f"the corpus has no {options.split!r} split; it has {', '.join(corpus)}")
    features = corpus[options.split].features
    label_names = label_names_of_features(features)
    groups = projection_groups(model_dir, problem_type_of_features(features), label_names, corpus["train"])
    # Classes are matched by name: a model saved in another class order has its output rows put in this order.
    fit_output_rows(model, check_classes(str(model_dir), saved_label_names(model.config), label_names), str(model_dir))
    rows = corpus[options.split]
    rows = rows.select(stratified_sample(groups.of_rows(rows), sample_size(options), seed))
    texts = list(rows["text"])

    # The model read its training text through the cleaning recorded in its config: read this text alike.
    reading = saved_reading(model.config)
    cleaning = reading.cleaning_options(cleaning_args.wordnet_dir)
    sample = clean_corpus(DatasetDict({options.split: rows}), cleaning, cache_dir=model_args.cache_dir)
    # Long texts are cut as in training when the model recorded it, else as the config says.
    cut = reading.truncation or {}
    sample = tokenize_corpus(
        sample,
        tokenizer,
        max_seq_length=cut.get("max_seq_length") or data_args.max_seq_length,
        truncation_side=cut.get("side") or data_args.truncation_side,
        head_tokens=cut.get("head_tokens") if cut else data_args.head_tokens,
        cache_dir=model_args.cache_dir,
    )[options.split]

    vectors, predictions = document_embeddings(
        model, sample, DataCollatorWithPadding(tokenizer), options.batch_size, with_predictions=True
    )
    return EmbeddedSample(vectors, predictions, labels_of(sample), texts, groups, seed)


if __name__ == "__main__":
    sys.exit(run_cli(main))
