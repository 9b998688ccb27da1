"""The model card: output_dir/README.md, what the Hub shows on the model's page.

YAML metadata (library, pipeline tag, base model, datasets, metrics with their values) through huggingface_hub's
ModelCardData, then the results of all_results.json, the class names, the settings that define the run, the
class-separation figure and how to load the model. Written at the end of every run, pushed or not (an
evaluate-only run never writes into a saved model's folder: `evaluation_output_dir`); it replaces the
template README.md that peft writes beside an adapter (its base model is the local folder the backbone was read
from).

Nothing of this machine goes in: the base model is named by the id the user gave (never the folder of an offline
copy), data files by their file names, and output, cache and data folders and tokens are left out.
"""

from __future__ import annotations

import json
import logging
from dataclasses import MISSING, dataclass, fields
from pathlib import Path

import huggingface_hub
import peft
import torch
import transformers
from huggingface_hub import EvalResult, ModelCard, ModelCardData
from transformers import PretrainedConfig

from modeling import problem_types

logger = logging.getLogger(__name__)

# Hub datasets holding the same corpora as the named datasets (linked from the card's metadata).
HUB_DATASETS = {"20newsgroups": "SetFit/20_newsgroups", "ag_news": "fancyzhx/ag_news"}
DATASET_TITLES = {"20newsgroups": "20 Newsgroups", "ag_news": "AG News"}
FIGURES = {
    "embeddings_tsne.png": "Validation documents in the model's document embedding (t-SNE), before and after training",
    "confusion_matrix.png": "Confusion matrix on the test split",
    "predictions_scatter.png": "Predicted against gold values on the test split",
    "training_curves.png": "Training and validation curves",
}
# The results table's columns per problem type: (key in all_results.json without its split prefix, title, the
# Hub's metric type, its arguments). The first two are the model-index entries.
RESULT_COLUMNS = {
    problem_types.SINGLE_LABEL: (
        ("accuracy", "accuracy", "accuracy", None),
        ("macro_f1", "macro-F1", "f1", {"average": "macro"}),
    ),
    problem_types.MULTI_LABEL: (
        ("jaccard", "Jaccard (samples)", "jaccard", {"average": "samples"}),
        ("micro_f1", "micro-F1", "f1", {"average": "micro"}),
        ("macro_f1", "macro-F1", "f1", {"average": "macro"}),
        ("subset_accuracy", "subset accuracy", "accuracy", None),
    ),
    problem_types.REGRESSION: (
        ("spearman", "Spearman", "spearmanr", None),
        ("pearson", "Pearson", "pearsonr", None),
        ("rmse", "RMSE", "rmse", None),
        ("mae", "MAE", "mae", None),
    ),
}
INDEXED_METRICS = 2  # the first columns of each type go into the Hub's model-index
TASK = {
    problem_types.SINGLE_LABEL: ("text-classification", "Text Classification"),
    problem_types.MULTI_LABEL: ("text-classification", "Multi-label Text Classification"),
    problem_types.REGRESSION: ("text-classification", "Text Regression"),
}
# Settings that are places on this machine: never in a card.
LOCAL_SETTINGS = {"cache_dir", "data_dir", "wordnet_dir", "output_dir"}
# Settings whose value is a file: the card shows its name only.
FILE_SETTINGS = {"train_file", "validation_file", "test_file", "word_vectors"}
# The TrainingArguments that define a run (the rest is logging, saving and hardware).
TRAINING_SETTINGS = (
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "warmup_steps",
    "weight_decay",
    "lr_scheduler_type",
    "optim",
    "label_smoothing_factor",
    "class_weights",
    "threshold_strategy",
    "metric_for_best_model",
    "train_sampling_strategy",
    "fp16",
    "bf16",
    "seed",
)


def write_model_card(
    output_dir: str | Path,
    repo_id: str,
    label_names: list[str],
    model_args,
    data_args,
    cleaning_args,
    augmentation_args,
    training_args,
) -> Path:
    """Write output_dir/README.md for the run whose results are in output_dir/all_results.json."""
    output_dir = Path(output_dir)
    results_file = output_dir / "all_results.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    settings = run_settings(model_args, data_args, cleaning_args, augmentation_args, training_args)
    config_file = output_dir / "config.json"
    config = PretrainedConfig.from_json_file(config_file) if config_file.is_file() else None
    if config is not None:  # the saved model's own output names (a regression's value name, say) win
        label_names = problem_types.label_names_of(config)
    card = build_model_card(
        repo_id=repo_id,
        label_names=label_names,
        results=results,
        settings=settings,
        base_model=hub_base_model(model_args.model_name_or_path) if model_args.model_type is None else None,
        kind=model_kind(model_args, output_dir),
        figures=[name for name in FIGURES if (output_dir / name).is_file()],
        # simple_preprocess is left out: the word tokenizer in the folder lowercases and splits alike, pipeline or not.
        text_cleaning=" -> ".join(
            step for step, on in cleaning_args.as_config().items() if on and step != "simple_preprocess"
        )
        or None,
        remote_code=has_custom_code(output_dir),
        problem=ProblemSummary.of(config),
    )
    path = output_dir / "README.md"
    card.save(path)
    return path


# Where an evaluate-only run whose output_dir holds a saved model writes instead (see evaluation_output_dir).
EVALUATION_FOLDER = "evaluation"


def holds_saved_model(output_dir: str | Path) -> bool:
    """Whether output_dir holds a saved model (a trained run's folder, whose card, results and reports are those of
    the run that trained it)."""
    return (Path(output_dir) / "config.json").is_file()


def evaluation_output_dir(output_dir: str) -> str:
    """Where a run that does not train writes: output_dir, or its evaluation/ subfolder when output_dir holds a saved
    model. Merged into that folder, the evaluation's results and predictions would disagree with the card and
    describe another run than the one that trained the model, with nothing to tell them apart."""
    if not holds_saved_model(output_dir):
        return output_dir
    folder = str(Path(output_dir) / EVALUATION_FOLDER)
    logger.info(
        "%s holds a saved model: its card, all_results.json, predictions.csv and reports stay those of its training; "
        "this evaluation writes into %s",
        output_dir,
        folder,
    )
    return folder


def has_custom_code(output_dir: Path) -> bool:
    """Whether the folder's model is defined by code shipped beside it (auto_map: GloVe, RNN, MLP head)."""
    config_file = output_dir / "config.json"
    return config_file.is_file() and "auto_map" in json.loads(config_file.read_text())


@dataclass
class ProblemSummary:
    """What the card says about the problem the model solves, read from its config.json (modeling.problem_types)."""

    problem_type: str = problem_types.SINGLE_LABEL
    thresholds: list[float] | None = None  # multi-label: each label's decision threshold, in label order
    text_pair: bool = False

    @classmethod
    def of(cls, config: PretrainedConfig | None) -> ProblemSummary:
        if config is None:
            return cls()
        problem_type = problem_types.problem_type_of(config)
        thresholds = None
        if problem_type == problem_types.MULTI_LABEL:
            thresholds = problem_types.decision_thresholds(config).tolist()
        return cls(problem_type, thresholds, problem_types.reads_text_pairs(config))


def build_model_card(
    repo_id: str,
    label_names: list[str],
    results: dict[str, float],
    settings: dict,
    base_model: str | None,
    kind: str,
    figures: list[str],
    text_cleaning: str | None = None,
    remote_code: bool = False,
    problem: ProblemSummary | None = None,
) -> ModelCard:
    """The card as a ModelCard; `kind` is "transformer", "lora-adapter", "glove" or "lstm"."""
    problem = problem or ProblemSummary()
    dataset = settings.get("dataset_name")
    data = ModelCardData(
        model_name=repo_id.split("/")[-1],
        base_model=base_model,
        library_name="peft" if kind == "lora-adapter" else "transformers",
        pipeline_tag="text-classification",
        datasets=[HUB_DATASETS[dataset]] if dataset in HUB_DATASETS else None,
        language="en" if dataset in HUB_DATASETS else None,
        metrics=sorted({column[2] for column in RESULT_COLUMNS[problem.problem_type][:INDEXED_METRICS]}),
        tags=card_tags(kind, settings, problem),
        eval_results=eval_results(results, dataset, problem.problem_type) or None,
    )
    sections = [
        f"# {repo_id.split('/')[-1]}",
        summary(kind, base_model, settings, label_names, problem),
        results_section(results, problem.problem_type),
        labels_section(label_names, problem),
        figures_section(figures, results),
        usage_section(
            repo_id, kind, base_model, text_cleaning, settings, remote_code or kind in ("glove", "lstm"), problem
        ),
        settings_section(settings),
        versions_section(settings),
    ]
    body = "\n\n".join(section for section in sections if section)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}\n")


def hub_base_model(model_name_or_path: str | None) -> str | None:
    """The hub id a transformer was fine-tuned from; None for a local folder (its path means nothing elsewhere)."""
    if not model_name_or_path or Path(model_name_or_path).expanduser().exists():
        return None
    return model_name_or_path


def model_kind(model_args, output_dir: Path) -> str:
    """Which loading instructions the folder needs."""
    if model_args.model_type is not None:
        return model_args.model_type
    if (output_dir / "adapter_config.json").is_file():
        return "lora-adapter"
    return "transformer"


def run_settings(*argument_groups) -> dict:
    """The settings that define the run, as a JSON config for run_classification.py, without local paths.

    Model, data, cleaning and augmentation settings appear when they differ from their defaults; the training
    settings of TRAINING_SETTINGS always.
    """
    settings: dict = {}
    *own_groups, training_args = argument_groups
    for group in own_groups:
        for item in fields(group):
            if not item.init or item.name in LOCAL_SETTINGS:
                continue
            value = getattr(group, item.name)
            default = item.default_factory() if item.default_factory is not MISSING else item.default
            always = item.name == "word_vectors" and getattr(group, "model_type", None)  # what a word model is made of
            if (value == default and not always) or value is None:
                continue
            if item.name in FILE_SETTINGS:
                value = Path(value).name
            elif item.name == "model_name_or_path":
                value = hub_base_model(value)
                if value is None:
                    continue
            settings[item.name] = value
    for name in TRAINING_SETTINGS:
        value = getattr(training_args, name)
        if name == "max_steps" and value <= 0:
            continue
        settings[name] = value.value if hasattr(value, "value") else value  # enums (lr_scheduler_type, optim)
    if training_args.world_size > 1:
        settings["processes"] = training_args.world_size
    return settings


def card_tags(kind: str, settings: dict, problem: ProblemSummary | None = None) -> list[str]:
    tags = ["text-classification", "textcls"]
    if problem is not None and problem.problem_type != problem_types.SINGLE_LABEL:
        tags.append("multi-label" if problem.problem_type == problem_types.MULTI_LABEL else "regression")
    if problem is not None and problem.text_pair:
        tags.append("sentence-pairs")
    if kind == "glove":
        tags += ["glove", "word-embeddings"]
    elif kind == "lstm":
        tags += [settings.get("cell", "lstm"), "rnn", "word-embeddings"]
    if settings.get("use_lora"):
        tags += ["lora", "peft"]
    return tags


def eval_results(
    results: dict[str, float], dataset: str | None, problem_type: str = problem_types.SINGLE_LABEL
) -> list[EvalResult]:
    """Validation and test values of the problem type's first INDEXED_METRICS metrics (accuracy and macro-F1;
    Jaccard and micro-F1; Spearman and Pearson), for the Hub's model-index."""
    dataset_type = HUB_DATASETS.get(dataset, "custom")
    dataset_title = DATASET_TITLES.get(dataset, "custom data")
    task_type, task_name = TASK[problem_type]
    found = []
    for prefix, split in (("eval", "validation"), ("test", "test")):
        for metric, title, metric_type, arguments in RESULT_COLUMNS[problem_type][:INDEXED_METRICS]:
            key = f"{prefix}_{metric}"
            if key in results:
                found.append(
                    EvalResult(
                        task_type=task_type,
                        task_name=task_name,
                        dataset_type=dataset_type,
                        dataset_name=dataset_title,
                        dataset_split=split,
                        metric_type=metric_type,
                        metric_name=title[0].upper() + title[1:],
                        metric_value=round(results[key], 4),
                        metric_args=arguments,
                    )
                )
    return found


def summary(
    kind: str, base_model: str | None, settings: dict, label_names: list[str], problem: ProblemSummary | None = None
) -> str:
    what = {
        "glove": "A GloVe mean-pool classifier (the mean of the word vectors of a text, then dense layers)",
        "lstm": f"{'A' if settings.get('cell') == 'gru' else 'An'} {settings.get('cell', 'lstm').upper()} classifier "
        "over word vectors",
        "lora-adapter": "LoRA adapters and a classification head for a transformer",
        "transformer": "A fine-tuned transformer classifier",
    }[kind]
    if base_model:
        what += f", from [{base_model}](https://huggingface.co/{base_model})"
    if kind in ("glove", "lstm"):
        vectors = settings.get("word_vectors", "random")
        random = vectors == "random" or settings.get("embedding_init") == "random"
        what += " with randomly initialised embeddings" if random else f" initialised with the {vectors} vectors"
    dataset = settings.get("dataset_name")
    if dataset:
        data = DATASET_TITLES.get(dataset, dataset)
        if settings.get("categories"):
            data += f" ({len(settings['categories'])} of its categories)"
    else:
        files = [settings[name] for name in ("train_file", "validation_file", "test_file") if name in settings]
        data = "the user's own data" + (f" ({', '.join(files)})" if files else "")
    problem = problem or ProblemSummary()
    task = {
        problem_types.SINGLE_LABEL: f"{len(label_names)} classes, one per text",
        problem_types.MULTI_LABEL: f"multi-label, any of {len(label_names)} labels per text (sigmoid outputs and a "
        "decision threshold per label)",
        problem_types.REGRESSION: f"regression of one value, `{label_names[0]}`",
    }[problem.problem_type]
    if problem.text_pair:
        task += "; it reads a pair of texts (`text`, `text_pair`)"
    return f"{what}, trained with textcls's `run_classification.py` on {data}: {task}."


def results_section(results: dict[str, float], problem_type: str = problem_types.SINGLE_LABEL) -> str:
    columns = [column for column in RESULT_COLUMNS[problem_type] if any(
        f"{prefix}_{column[0]}" in results for prefix in ("eval", "test"))]  # fmt: skip
    rows = []
    for prefix, split in (("eval", "validation"), ("test", "test")):
        if not any(f"{prefix}_{key}" in results for key, *_ in columns):
            continue
        values = [f"{results[f'{prefix}_{key}']:.4f}" if f"{prefix}_{key}" in results else "" for key, *_ in columns]
        documents = results.get(f"{prefix}_samples")
        rows.append(f"| {split} | {' | '.join(values)} | {int(documents) if documents is not None else ''} |")
    if not rows:
        return ""
    header = f"| split | {' | '.join(title for _, title, *_ in columns)} | documents |"
    rule = "| --- | " + " | ".join("---:" for _ in columns) + " | ---: |"
    table = "\n".join([header, rule, *rows])
    trained = ""
    if "train_samples" in results:
        trained = f"\n\nTrained on {int(results['train_samples'])} documents"
        epochs = results.get("epoch")
        trained += f" for {epochs:g} epoch{'' if epochs == 1 else 's'}." if epochs is not None else "."
    return f"## Results\n\n{table}{trained}"


def labels_section(label_names: list[str], problem: ProblemSummary | None = None) -> str:
    problem = problem or ProblemSummary()
    if problem.problem_type == problem_types.REGRESSION:
        return f"## Output\n\nOne value, `{label_names[0]}` (the model's single output, no activation)."
    if problem.problem_type == problem_types.MULTI_LABEL and problem.thresholds is not None:
        rows = "\n".join(
            f"| {index} | {name} | {threshold:.3f} |"
            for index, (name, threshold) in enumerate(zip(label_names, problem.thresholds, strict=True))
        )
        return (
            "## Labels\n\nA label is predicted when its sigmoid probability reaches its threshold (tuned on the "
            "validation split, saved in `config.json` as `decision_thresholds`); a text may get several labels or "
            f"none.\n\n| id | label | threshold |\n| ---: | --- | ---: |\n{rows}"
        )
    rows = "\n".join(f"| {index} | {name} |" for index, name in enumerate(label_names))
    return f"## Labels\n\n| id | label |\n| ---: | --- |\n{rows}"


def figures_section(figures: list[str], results: dict[str, float]) -> str:
    if not figures:
        return ""
    parts = ["## Figures"]
    for name in figures:
        parts.append(f"![{FIGURES[name]}]({name})")
        if name == "embeddings_tsne.png" and "embedding_silhouette_after" in results:
            parts.append(
                "Silhouette of the classes in the document embedding: "
                f"{results['embedding_silhouette_before']:.3f} before training, "
                f"{results['embedding_silhouette_after']:.3f} after; 10-NN accuracy "
                f"{results['embedding_knn_accuracy_before']:.3f} before, {results['embedding_knn_accuracy_after']:.3f} "
                "after."
            )
    return "\n\n".join(parts)


EXAMPLE_TEXT = "The shuttle put the telescope into orbit."
EXAMPLE_PAIR = "A telescope is in orbit."


def usage_section(
    repo_id: str,
    kind: str,
    base_model: str | None,
    text_cleaning: str | None,
    settings: dict,
    remote_code: bool,
    problem: ProblemSummary | None = None,
) -> str:
    problem = problem or ProblemSummary()
    remote = ", trust_remote_code=True" if remote_code else ""
    if kind == "lora-adapter":
        code = (
            "from peft import PeftModel\n"
            "from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, pipeline\n\n"
            f'config = AutoConfig.from_pretrained("{repo_id}"{remote})  # class names and head of this model\n'
            f'base = AutoModelForSequenceClassification.from_pretrained("{base_model or "BASE_MODEL"}", '
            f"config=config{remote})\n"
            f'model = PeftModel.from_pretrained(base, "{repo_id}").merge_and_unload()\n'
            f'classifier = pipeline("text-classification", model=model, tokenizer=AutoTokenizer.from_pretrained('
            f'"{repo_id}"))\n'
        )
    else:
        code = (
            "from transformers import pipeline\n\n"
            f'classifier = pipeline("text-classification", model="{repo_id}"{remote})\n'
        )
    argument = f'"{EXAMPLE_TEXT}"'
    if problem.text_pair:
        argument = f'{{"text": "{EXAMPLE_TEXT}", "text_pair": "{EXAMPLE_PAIR}"}}'
    top_k = ", top_k=None" if problem.problem_type == problem_types.MULTI_LABEL else ""
    code += f"print(classifier({argument}{top_k}))"
    parts = ["## How to use", f"```python\n{code}\n```"]
    if problem.problem_type == problem_types.MULTI_LABEL:
        parts.append(
            "The pipeline applies a sigmoid to each label (`problem_type` is multi-label in `config.json`) and, with "
            "`top_k=None`, returns every label's probability; it does not apply the decision thresholds: a label is "
            "predicted when its probability reaches its threshold in the table above (`predict.py` applies them)."
        )
    elif problem.problem_type == problem_types.REGRESSION:
        parts.append(
            "The pipeline returns the predicted value as `score` (no activation: `problem_type` is regression in "
            "`config.json`)."
        )
    if problem.text_pair:
        parts.append(
            'The model reads a pair of texts: give the pipeline a dict `{"text": ..., "text_pair": ...}`, '
            "encoded as `tokenizer(text, text_pair)` as in training."
        )
    if remote_code:
        parts.append(
            "`trust_remote_code=True` runs this repository's `configuration_*.py` and `modeling_*.py`, which define "
            "the model; read them first."
        )
    notes = []
    if text_cleaning:
        notes.append(f"was trained on cleaned text ({text_cleaning}), which a pipeline does not do")
    if settings.get("truncation_side", "head") != "head":
        notes.append(f"read long texts as `{settings['truncation_side']}` (a pipeline keeps the start only)")
    reads = f" The model {' and '.join(notes)}." if notes else ""
    parts.append(
        "textcls's `predict.py` reads a text as training did (text cleaning and truncation are recorded in "
        f"`config.json`).{reads} Download the folder, then:\n\n"
        f"```bash\nhf download {repo_id} --local-dir {repo_id.split('/')[-1]}\n"
        f'python predict.py --model_dir {repo_id.split("/")[-1]} --text "{EXAMPLE_TEXT}"'
        + (f' --text_pair "{EXAMPLE_PAIR}"' if problem.text_pair else "")
        + "\n```"
    )
    return "\n\n".join(parts)


def settings_section(settings: dict) -> str:
    config = json.dumps(settings, indent=2, ensure_ascii=False)
    return (
        "## How it was trained\n\n"
        "With textcls's `run_classification.py` and this config (model, data and cleaning settings left at their "
        "defaults are not listed; add an `output_dir`, and the data files' folders if any, to run it again):"
        f"\n\n```json\n{config}\n```"
    )


def versions_section(settings: dict) -> str:
    versions = {"transformers": transformers.__version__, "torch": torch.__version__}
    if settings.get("use_lora"):
        versions["peft"] = peft.__version__
    versions["huggingface_hub"] = huggingface_hub.__version__
    lines = "\n".join(f"- {name} {version}" for name, version in versions.items())
    return f"## Framework versions\n\n{lines}"
