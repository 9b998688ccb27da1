#!/usr/bin/env python
"""Fine-tune a text classifier with the Hugging Face Trainer, from a JSON config and/or flags.

    python run_classification.py configs/minilm_20ng.json
    python run_classification.py configs/minilm_20ng.json --learning_rate 3e-5 --num_train_epochs 2
    python run_classification.py configs/minilm_20ng.json --hp_search_space configs/sweeps/minilm_20ng.yaml \
        --hp_search_trials 20
    accelerate launch run_classification.py configs/roberta_20ng.json

Reads like transformers' run_glue.py, top to bottom: settings -> logging -> checkpoint to resume ->
corpus -> model and tokenizer -> tokenized splits -> Trainer -> train / evaluate / predict -> reports.
"""

from __future__ import annotations

import itertools
import logging
import sys
from functools import partial
from pathlib import Path

import datasets
import numpy as np
import torch
import transformers
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    TrainerCallback,
    default_data_collator,
    set_seed,
)

import modeling  # noqa: F401  registers the GloVe, RNN and transformer-MLP models with the Auto classes
from data_scripts import clean_corpus, label_names_of_features, load_corpus, problem_type_of_features
from data_scripts.augmentation import augment_train_split
from data_scripts.mapped_pages import release_in_background
from data_scripts.overlap import split_overlap
from data_scripts.splits import TextColumn, label_counts, labels_of
from modeling import problem_types
from modeling.classifier_heads import classifier_config
from modeling.hub import LOAD_DTYPE, model_not_found_error, resolve_model_path
from modeling.label_mapping import check_classes, fit_output_rows, head_labels, require_same_order, saved_label_names
from modeling.lora import add_lora, save_lora_result
from modeling.word_models import WORD_MODELS, build_word_model
from textcls_errors import TextclsError
from training.arguments import parse_arguments
from training.checkpoints import RecordSettings, checkpoint_to_resume, quiet_fractional_steps_warning, training_settings
from training.class_separation import (
    automatic_sample_size,
    planned_training_examples,
    separation_groups,
    stratified_sample,
)
from training.distributed import announce_process
from training.embedding_callback import ClassSeparationCallback
from training.hp_search import check_search_for_problem, prepare_search, run_search, sweep_run_output_dir
from training.hub_push import create_repo as create_hub_repo
from training.hub_push import for_trainer, push_run, repo_name
from training.model_card import evaluation_output_dir, write_model_card
from training.preprocessing import tokenize_corpus
from training.text_reading import given_settings, read_as_recorded, record_reading
from training.trainer import ClassificationTrainer, restore_order, sort_by_length
from training.wandb_media import active_run as active_wandb_run
from training.wandb_media import log_confusion_matrix as log_wandb_confusion_matrix
from training.wandb_media import wandb_requested

logger = logging.getLogger("run_classification")
# What the end-of-run summary shows for each problem type.
HEADLINE_METRICS = {
    problem_types.SINGLE_LABEL: ("accuracy", "macro_f1"),
    problem_types.MULTI_LABEL: ("jaccard", "micro_f1", "macro_f1"),
    problem_types.REGRESSION: ("pearson", "spearman", "rmse"),
}


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run one experiment (or, with hp_search_trials, a search); returns the metrics also written to output_dir."""
    argv = list(sys.argv[1:] if argv is None else argv)
    model_args, data_args, cleaning_args, augmentation_args, training_args = parse_arguments(argv)
    if model_args.model_type and not training_args.do_train:
        raise TextclsError(
            f"model_type={model_args.model_type!r} builds a new, untrained model, but do_train is false. To evaluate a "
            "trained GloVe or RNN model, give its folder as model_name_or_path instead of model_type."
        )
    setup_logging(training_args)
    # Pages of the corpus's Arrow files leave the process's RSS once read, so it stays flat as the corpus grows.
    release_in_background()
    if not training_args.do_train:  # evaluate a saved folder: read text as it was trained to, unless told otherwise
        cleaning_args, data_args = evaluation_reading(model_args, cleaning_args, data_args, argv)
    training_args.output_dir = sweep_run_output_dir(training_args.output_dir)  # one folder per W&B sweep run
    if not training_args.do_train:  # a saved model's folder keeps the results of its training: see the function
        training_args.output_dir = evaluation_output_dir(training_args.output_dir)
    # An Optuna search over a W&B sweep YAML's space, checked before any data is read.
    search = prepare_search(argv, training_args) if training_args.hp_search_trials else None
    announce_process(training_args.process_index, training_args.world_size, training_args.device)
    # The Hub repository is made before training, so that a missing login fails now and not after hours (once, by
    # the global main process: see create_hub_repo).
    hub_repo = None
    if training_args.push_to_hub and search is None:
        hub_repo = create_hub_repo(training_args, model_args)
    # Recorded in every checkpoint; resuming one trained with other settings stops (trials start afresh).
    settings = training_settings(model_args, data_args, cleaning_args, augmentation_args, training_args)
    resume_from = checkpoint_to_resume(training_args, settings) if search is None else None
    set_seed(training_args.seed)

    # Corpus: DatasetDict(text, [text_pair,] label) with train / validation / test; the label feature says the
    # problem type (data_scripts.labels).
    with training_args.main_process_first(desc="loading the corpus"):
        corpus = load_corpus(
            data_args.dataset_name,
            **data_args.corpus_settings(),
            seed=training_args.seed,
            cache_dir=model_args.cache_dir,
        )
    problem_type = problem_type_of_features(corpus["train"].features)
    label_names = label_names_of_features(corpus["train"].features, data_args.label_column)
    logger.info(
        "corpus: %s; %s over %d output(s): %s",
        {split: len(rows) for split, rows in corpus.items()},
        problem_type,
        len(label_names),
        ", ".join(label_names[:12]) + (", ..." if len(label_names) > 12 else ""),
    )
    problem = problem_settings(problem_type, label_names, corpus, training_args)
    overlap = split_overlap(corpus)  # validation/test rows leaked from train, texts labelled two ways
    if search is not None:  # the sweep's metric and parameters, now that the problem type is known
        check_search_for_problem(search, problem_type)
    if problem["text_pair"] and cleaning_args.enabled:
        raise TextclsError(
            "text cleaning (simple_preprocess, remove_stopwords, wordnet_filter, stem, max_doc_tokens) reads one text "
            "per row and would leave text_pair as it is; turn it off for sentence pairs (the word tokenizer already "
            "splits words as simple_preprocess does)."
        )
    if training_args.do_predict and "test" not in corpus:
        raise TextclsError("do_predict is set but the corpus has no test split: give test_file or --do_predict false")

    # Changed copies of training documents (off unless the config asks); validation and test stay as they are.
    with training_args.main_process_first(desc="augmenting the training split"):
        corpus = augment_train_split(
            corpus, augmentation_args, training_args.seed, cleaning_args.wordnet_dir, model_args.cache_dir
        )

    # Word-level cleaning (off unless the config turns it on; meant for the GloVe and RNN models).
    # Reports show the texts as they were, not as the model read them.
    raw_test = corpus["test"] if "test" in corpus else None  # on disk: no copy of the texts
    raw_validation = corpus["validation"]
    # overwrite_cache recomputes the maps in the first process only: the others then read its fresh cache (the
    # same content: caches are named by the data and the function) instead of deleting it while it is being read.
    overwrite_cache = data_args.overwrite_cache and training_args.process_index == 0
    with training_args.main_process_first(desc="cleaning text"):
        corpus = clean_corpus(
            corpus,
            cleaning_args,
            num_proc=data_args.preprocessing_num_workers,
            cache_dir=model_args.cache_dir,
            overwrite_cache=overwrite_cache,
        )

    # Model and tokenizer, with the dataset's class names in the config. A search builds a fresh model for every
    # trial (Trainer's model_init) with the model settings the trial picked; the tokenizer stays the same.
    if model_args.model_type and cleaning_args.stem and model_args.embedding_init == "pretrained":
        logger.warning("stem with pretrained word vectors: many stems (e.g. 'studi') have no vector and become [UNK]")
    model, tokenizer = build_model(
        model_args, data_args, cleaning_args, training_args, corpus, label_names, resume_from, problem
    )

    def model_init(trial=None):
        if trial is None:  # the Trainer's first call, before any trial
            return model
        trial_args = search.model_arguments(model_args, trial)
        return build_model(trial_args, data_args, cleaning_args, training_args, corpus, label_names, None, problem)[0]

    # Tokenize once (cached on disk; the main process goes first so others read its cache).
    with training_args.main_process_first(desc="tokenizing"):
        tokenized = tokenize_corpus(
            corpus,
            tokenizer,
            max_seq_length=data_args.max_seq_length,
            truncation_side=data_args.truncation_side,
            head_tokens=data_args.head_tokens,
            pad_to_max_length=data_args.pad_to_max_length,
            num_proc=data_args.preprocessing_num_workers,
            overwrite_cache=overwrite_cache,
            cache_dir=model_args.cache_dir,
        )
    # Imported here, not at the top: scikit-learn and matplotlib would add seconds to --help and to the first log line.
    from training.metrics import metrics_for
    from training.reports import plot_training_curves, write_test_reports

    # Evaluation sets are read in length order (less padding) and predictions are put back in row order.
    eval_dataset, _ = sort_by_length(tokenized["validation"])

    if data_args.pad_to_max_length:
        collator = default_data_collator
    else:
        collator = DataCollatorWithPadding(
            tokenizer, pad_to_multiple_of=8 if training_args.fp16 or training_args.bf16 else None
        )
    callbacks = [] if search else [RecordSettings(settings)]
    if model_args.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=model_args.early_stopping_patience))

    separation = None
    wants_separation = training_args.do_train and training_args.embedding_projection and search is None
    if wants_separation and problem_type == problem_types.REGRESSION:
        logger.info("embedding_projection: class separation needs classes and a regression run has none; skipped")
    elif wants_separation:  # too slow in trials
        groups = separation_groups(problem_type, label_names, corpus["train"])
        if groups.note:
            logger.info("class separation: %s", groups.note)
        sample_groups = groups(labels_of(tokenized["validation"]))
        rows = stratified_sample(sample_groups, separation_sample_size(training_args, tokenized), training_args.seed)
        check_separation_sample(sample_groups[rows])
        separation = ClassSeparationCallback(
            tokenized["validation"].select(rows),
            raw_validation.select(rows)["text"],  # the hover texts of the 3D map: as written, not as cleaned
            groups.names,
            training_args.output_dir,
            collator,
            batch_size=training_args.per_device_eval_batch_size,
            seed=training_args.seed,
            eval_every=training_args.embedding_eval_every,
            groups=groups,
        )
        callbacks.append(separation)
    tuning = None
    if training_args.do_train and search is None and problem_type == problem_types.MULTI_LABEL:
        # placed after `separation` in the list but run first: see TuneThresholdsAtTrainEnd
        tuning = TuneThresholdsAtTrainEnd(training_args.threshold_strategy)
        callbacks.insert(0, tuning)

    trainer = ClassificationTrainer(
        model=None if search else model,
        model_init=model_init if search else None,
        args=for_trainer(training_args),  # the Trainer pushes nothing itself: push_run does, with the card
        train_dataset=tokenized["train"] if training_args.do_train else None,
        eval_dataset=eval_dataset if training_args.do_eval else None,
        processing_class=tokenizer,
        data_collator=collator,
        compute_metrics=metrics_for(model.config),
        callbacks=callbacks,
    )
    if separation is not None:
        separation.log = trainer.log  # its numbers reach every reporter (W&B, TensorBoard, ...)
    if tuning is not None:
        tuning.tune = partial(tune_decision_thresholds, trainer, eval_dataset)

    if search is not None:  # the trials, then best_trial.json; the final model is trained by the command it gives
        return run_search(trainer, search, argv)

    results: dict[str, float] = {}
    if training_args.do_train:
        train_result = trainer.train(resume_from_checkpoint=resume_from)  # multi-label: thresholds tuned at its end
        trainer.save_model()  # the best checkpoint when load_best_model_at_end is set
        if model_args.use_lora and trainer.is_world_process_zero():
            base_name = model_args.model_name_or_path
            save_lora_result(trainer.model, training_args.output_dir, base_name, model_args.merge_lora)
        metrics = dict(train_result.metrics, train_samples=len(tokenized["train"]))
        if separation is not None:
            metrics.update(separation.results)
        trainer.log_metrics("train", metrics)
        trainer.save_metrics("train", metrics)
        trainer.save_state()
        results.update(metrics)

    if training_args.do_eval:
        metrics = dict(trainer.evaluate(), eval_samples=len(eval_dataset), **overlap.get("eval", {}))
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", metrics)
        results.update(metrics)

    output_dir = Path(training_args.output_dir)
    if training_args.do_predict:
        test_dataset, order = sort_by_length(tokenized["test"])
        prediction = trainer.predict(test_dataset, metric_key_prefix="test")
        metrics = dict(prediction.metrics, test_samples=len(test_dataset), **overlap.get("test", {}))
        trainer.log_metrics("test", metrics)
        trainer.save_metrics("test", metrics)
        results.update(metrics)
        if trainer.is_world_process_zero():
            logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
            logits = restore_order(np.asarray(logits), order)
            gold = labels_of(tokenized["test"])  # through Arrow; multi-label: the multi-hot rows
            pairs = TextColumn(raw_test, "text_pair") if "text_pair" in raw_test.column_names else None
            config = trainer.model.config  # predictions.csv is written in chunks, its texts read through Arrow
            write_test_reports(output_dir, config, TextColumn(raw_test, "text"), pairs, gold, logits)
            wandb_run = active_wandb_run() if wandb_requested(training_args.report_to) else None
            if wandb_run is not None and problem_type == problem_types.SINGLE_LABEL:
                log_wandb_confusion_matrix(wandb_run, gold, problem_types.predict(config, logits), label_names)

    if trainer.is_world_process_zero():
        if training_args.do_train:  # an evaluation alone logs its scores at epoch 0: no curve to draw
            plot_training_curves(output_dir / "training_curves.png", trainer.state.log_history)
        arguments = (model_args, data_args, cleaning_args, augmentation_args, training_args)
        write_model_card(output_dir, hub_repo or repo_name(training_args), label_names, *arguments)
        log_summary(results, output_dir, problem_type)
        if hub_repo is not None:
            push_run(training_args, hub_repo)
    return results


def build_model(
    model_args, data_args, cleaning_args, training_args, corpus, label_names: list[str], resume_from, problem: dict
):
    """The model to train and its tokenizer: a word model built from the training texts, the one a checkpoint
    holds, or a pretrained transformer with a new head (LoRA-wrapped if asked), with the text settings and the
    problem (`problem_types.config_fields`: type, labels, class weights, pairs) recorded in its config."""
    if model_args.model_type and resume_from:
        # The checkpoint's vocabulary is the one its weights were trained with; rebuilding it from the
        # current settings could give another one.
        model, tokenizer = load_checkpoint(resume_from, model_args.model_type, label_names)
    elif model_args.model_type:
        with training_args.main_process_first(desc="building the word model"):  # the first caches parsed vectors
            texts = TextColumn(corpus["train"], "text")  # read once, streamed from disk in Arrow batches
            if problem["text_pair"]:  # the vocabulary covers both texts of a pair
                texts = itertools.chain(texts, TextColumn(corpus["train"], "text_pair"))
            model, tokenizer = build_word_model(
                model_args.model_type,
                texts,
                label_names,
                word_vectors=None if model_args.embedding_init == "random" else model_args.word_vectors,
                max_vocab_size=model_args.max_vocab_size,
                oov_min_count=model_args.oov_min_count,
                model_kwargs=word_model_settings(model_args),
                model_max_length=data_args.max_seq_length,
                cache_dir=model_args.cache_dir,
                problem=problem,
            )
    else:
        model, tokenizer = load_pretrained(model_args, label_names, problem, training_args.do_train)
        if resume_from and (Path(resume_from) / "config.json").is_file():  # the Trainer loads its weights over these
            remedy = "Use another output_dir, or delete the checkpoint to start afresh."
            require_same_order(resume_from, head_labels(resume_from) or label_names, label_names, remedy)
    # Saved in config.json: whoever serves the model must clean and cut text alike. A run that only evaluates a
    # folder keeps its record (it read text that way, unless flags overrode it).
    if training_args.do_train:
        max_length, side, head = data_args.max_seq_length, data_args.truncation_side, data_args.head_tokens
        record_reading(model.config, cleaning_args, max_length, side, head)
    if model_args.use_lora:
        model = add_lora(
            model, model_args.lora_r, model_args.lora_alpha, model_args.lora_dropout, model_args.lora_target_modules
        )
    return model, tokenizer


def evaluation_reading(model_args, cleaning_args, data_args, argv: list[str]):
    """The folder's recorded cleaning and truncation for a run that does not train it (flags given explicitly win)."""
    try:
        config = AutoConfig.from_pretrained(
            resolve_model_path(model_args.model_name_or_path), cache_dir=model_args.cache_dir
        )
    except (OSError, ValueError):
        return cleaning_args, data_args  # load_pretrained reports a folder it cannot read
    return read_as_recorded(config, model_args.model_name_or_path, cleaning_args, data_args, given_settings(argv))


def separation_sample_size(training_args, tokenized) -> int:
    """embedding_sample_size when given, else a size that grows with the training the run plans (its cost too)."""
    if training_args.embedding_sample_size is not None:
        return training_args.embedding_sample_size
    args = training_args
    global_batch = args.train_batch_size * args.gradient_accumulation_steps * args.world_size
    planned = planned_training_examples(len(tokenized["train"]), args.num_train_epochs, args.max_steps, global_batch)
    size = automatic_sample_size(planned)
    logger.info("class separation: a sample of up to %d validation documents (%d examples of training)", size, planned)
    return size


def check_separation_sample(labels) -> None:
    """Fail before training, not at its first step, when the sample cannot measure class separation."""
    classes = len(set(labels.tolist()))
    if classes < 2 or len(labels) <= classes:
        raise TextclsError(
            f"the class-separation sample has {len(labels)} validation documents in {classes} class(es): it needs "
            "two classes or more, and more documents than classes. Raise embedding_sample_size, or turn the "
            "measurement off with embedding_projection false."
        )


def load_pretrained(model_args, label_names: list[str], problem: dict | None = None, training: bool = True):
    """A hub or local model and its tokenizer, with a classification head (linear or MLP) for these class names
    (and `problem`, the `problem_types.config_fields` of this run; default single-label). A fine-tuned head's
    classes are matched by name; `training` false refuses to evaluate an untrained new one."""
    if problem is None:
        problem = problem_types.config_fields(problem_types.SINGLE_LABEL, label_names)
    model_path = resolve_model_path(model_args.model_name_or_path)
    tokenizer_path = resolve_model_path(model_args.tokenizer_name) if model_args.tokenizer_name else model_path
    try:
        # A fine-tuned folder's head is matched to this data's classes by name (never by position).
        saved_labels = head_labels(model_path, model_args.cache_dir)
        if saved_labels is not None:
            match = check_classes(
                model_args.model_name_or_path, saved_labels, label_names, model_args.ignore_mismatched_sizes, training
            )
        config = AutoConfig.from_pretrained(model_path, cache_dir=model_args.cache_dir)
        problem_types.apply_fields(config, problem)  # labels, problem type, class weights, pairs
        # The architecture's own linear head, or an MLP: the config decides which model from_pretrained builds.
        config = classifier_config(
            config, model_args.classifier_head, model_args.classifier_hidden_sizes, model_args.classifier_dropout
        )
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_path, cache_dir=model_args.cache_dir)
        model = AutoModelForSequenceClassification.from_pretrained(
            model_path,
            config=config,
            cache_dir=model_args.cache_dir,
            ignore_mismatched_sizes=model_args.ignore_mismatched_sizes,
            dtype=LOAD_DTYPE,
        )
    except OSError as error:
        raise model_not_found_error(model_args.model_name_or_path, error) from None
    except RuntimeError as error:
        if "ignore_mismatched_sizes" not in str(error):
            raise
        raise TextclsError(
            f"{model_args.model_name_or_path} was fine-tuned for another set of labels than this data's "
            f"{len(label_names)} ({', '.join(label_names[:5])}{', ...' if len(label_names) > 5 else ''}). "
            "Set ignore_mismatched_sizes to true to train a new classification head on it."
        ) from None
    if saved_labels is not None:
        fit_output_rows(model, match, model_args.model_name_or_path)
    return model, tokenizer


def load_checkpoint(checkpoint: str, model_type: str, label_names: list[str]):
    """A GloVe or RNN model and its tokenizer as a checkpoint saved them, checked against this run."""
    folder = Path(checkpoint)
    if not (folder / "tokenizer.json").is_file():
        raise TextclsError(
            f"cannot resume the {model_type} model from {checkpoint}: it has no tokenizer.json, so its vocabulary "
            "is unknown. Give a checkpoint folder written by this script, or delete it to start afresh."
        )
    try:
        model = AutoModelForSequenceClassification.from_pretrained(folder, dtype=LOAD_DTYPE)
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError) as error:
        raise TextclsError(f"cannot resume from {checkpoint}: {error}") from None
    expected_type = WORD_MODELS[model_type][0].model_type
    remedy = "Use another output_dir, or delete it to start afresh."
    if model.config.model_type != expected_type:
        raise TextclsError(
            f"{checkpoint} holds a {model.config.model_type} model for the classes {saved_label_names(model.config)}, "
            f"but this run trains a {expected_type} model for {list(label_names)}. {remedy}"
        )
    require_same_order(checkpoint, saved_label_names(model.config), label_names, remedy)
    return model, tokenizer


def problem_settings(problem_type: str, label_names: list[str], corpus, training_args) -> dict:
    """What this run records about its problem (`problem_types.config_fields`): the class weights it asks for,
    whether it reads pairs; and the metric that picks the best model. Refuses what cannot work."""
    from training.metrics import BEST_MODEL_METRIC, METRIC_NAMES, greater_is_better  # scikit-learn: not at start-up

    try:
        problem_types.check_label_smoothing(problem_type, training_args.label_smoothing_factor)
        weights = problem_types.resolve_class_weights(
            training_args.class_weights,
            problem_type,
            label_names,
            # through Arrow, batch by batch: counts, not a (rows, labels) matrix
            lambda: (label_counts(corpus["train"], len(label_names)), len(corpus["train"])),
        )
    except ValueError as error:
        raise TextclsError(str(error)) from None
    if weights is not None:
        logger.info("class weights in the loss: %s", dict(zip(label_names, np.round(weights, 3).tolist(), strict=True)))
    if training_args.best_metric_is_default:
        training_args.metric_for_best_model = BEST_MODEL_METRIC[problem_type]
    metric = training_args.metric_for_best_model.removeprefix("eval_")
    if metric != "loss" and metric not in METRIC_NAMES[problem_type]:
        raise TextclsError(
            f"metric_for_best_model={training_args.metric_for_best_model!r} is not a metric of a {problem_type} run; "
            f"its metrics are {', '.join(METRIC_NAMES[problem_type])} (and loss)."
        )
    training_args.greater_is_better = greater_is_better(metric)
    text_pair = "text_pair" in corpus["train"].column_names
    fields = problem_types.config_fields(problem_type, label_names, class_weights=weights, text_pair=text_pair)
    if not training_args.do_train and training_args.class_weights is None:
        del fields["class_weights"]  # evaluating a trained folder: the weights it trained with stay on record
    return fields


class TuneThresholdsAtTrainEnd(TrainerCallback):
    """Multi-label: tunes the decision thresholds (saved with the model, so predict.py decides alike) when training
    ends, after the best model is loaded and before the class-separation callback draws its "after" map, whose
    circled mistakes and 3D hover decisions must be the decisions the saved model makes (it runs first: callbacks
    run in list order, and this one is inserted at the front)."""

    def __init__(self, strategy: str):
        self.strategy = strategy
        self.tune = None  # set once the Trainer exists: partial(tune_decision_thresholds, trainer, eval_dataset)

    def on_train_end(self, args, state, control, **kwargs):
        self.tune(self.strategy)


def tune_decision_thresholds(trainer, eval_dataset, strategy: str) -> None:
    """Multi-label: the decision thresholds that score best on the validation split, set in the model's config."""
    from training.metrics import tune_thresholds

    output = trainer.predict(eval_dataset, metric_key_prefix="threshold_tuning")
    logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
    config = trainer.model.config
    scores = problem_types.output_scores(config, logits)
    thresholds = tune_thresholds(scores, output.label_ids, strategy)
    problem_types.set_decision_thresholds(config, thresholds)
    names = problem_types.label_names_of(config)
    logger.info(
        "decision thresholds (%s, tuned on %d validation rows): %s",
        strategy,
        len(scores),
        ", ".join(f"{name} {value:.2f}" for name, value in zip(names, thresholds, strict=True)),
    )


def word_model_settings(model_args) -> dict:
    """The ModelArguments that configure a new GloVe or RNN model (those of the other kind are ignored)."""
    shared = ["freeze_embeddings", "dropout"]
    own = (
        ["hidden_sizes"]
        if model_args.model_type == "glove"
        else ["cell", "hidden_size", "num_layers", "bidirectional", "pooling", "embedding_dropout"]
    )
    settings = {name: getattr(model_args, name) for name in shared + own if getattr(model_args, name) is not None}
    if model_args.embedding_init == "random":
        settings["embedding_dim"] = model_args.embedding_dim or 100
    elif model_args.embedding_dim is not None:
        settings["embedding_dim"] = model_args.embedding_dim  # must match the vectors: build_word_model checks
    return settings


def setup_logging(training_args) -> None:
    """One format for all logs; our own modules speak at INFO on the main process only.

    transformers and datasets keep their own level (log_level / log_level_replica) because at INFO
    they print every config and file they touch.
    """
    rank = f" rank {training_args.process_index}" if training_args.world_size > 1 else ""  # whose line it is
    logging.basicConfig(
        format=f"%(asctime)s{rank} %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    own_level = logging.INFO if training_args.should_log else logging.WARNING
    for name in ("run_classification", "data_scripts", "modeling", "training"):
        logging.getLogger(name).setLevel(own_level)
    library_level = training_args.get_process_log_level()
    datasets.utils.logging.set_verbosity(library_level)
    transformers.utils.logging.set_verbosity(library_level)
    quiet_fractional_steps_warning()


def log_summary(results: dict[str, float], output_dir: Path, problem_type: str) -> None:
    """The few lines a person reads at the end of a run."""
    from training.reports import SCATTER_FIGURE

    lines = [f"Results in {output_dir}/"]
    for split in ("eval", "test"):
        shown = [name for name in HEADLINE_METRICS[problem_type] if f"{split}_{name}" in results]
        if shown:
            lines.append(f"  {split:4s} " + "   ".join(f"{name} {results[f'{split}_{name}']:.4f}" for name in shown))
    figures = ("confusion_matrix.png", SCATTER_FIGURE, "training_curves.png", "embeddings_tsne.png")
    figures = [name for name in figures if (output_dir / name).exists()]
    if figures:
        lines.append("  figures: " + ", ".join(str(output_dir / name) for name in figures))
    logger.info("\n".join(lines))


def cli() -> int:
    """Entry point: user errors print one clear message and exit non-zero, without a traceback."""
    try:
        main()
    except TextclsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        # Several processes (torchrun, accelerate launch) that exit with the process group still open can
        # abort at interpreter shutdown.
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(cli())
