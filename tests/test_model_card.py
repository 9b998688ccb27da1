"""The model card: YAML metadata the Hub reads, the numbers of all_results.json, the class names, the run's settings
without a path of this machine, and a figure only where there is one."""

import json
from pathlib import Path

import pytest
import yaml
from huggingface_hub import ModelCard

from training.arguments import parse_arguments
from training.model_card import write_model_card

LABELS = ["alt.atheism", "sci.space", "rec.autos"]
RESULTS = {
    "eval_accuracy": 0.812345,
    "eval_macro_f1": 0.801234,
    "eval_samples": 200,
    "test_accuracy": 0.7891,
    "test_macro_f1": 0.77777,
    "test_samples": 400,
    "train_samples": 800,
    "epoch": 3.0,
    "embedding_silhouette_before": 0.01,
    "embedding_silhouette_after": 0.35,
    "embedding_knn_accuracy_before": 0.4,
    "embedding_knn_accuracy_after": 0.9,
}


def card_for(
    tmp_path: Path,
    *flags: str,
    figures=("embeddings_tsne.png",),
    adapter: bool = False,
    results=None,
    config: dict | None = None,
) -> ModelCard:
    """Write a card for a run folder holding `results` (default RESULTS) and the given figures; parse it back."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "all_results.json").write_text(json.dumps(RESULTS if results is None else results))
    for name in figures:
        (out / name).write_bytes(b"\x89PNG")
    if adapter:
        (out / "adapter_config.json").write_text("{}")
    if config is not None:
        (out / "config.json").write_text(json.dumps(config))
    arguments = parse_arguments(
        [
            *("--output_dir", str(out), "--cache_dir", str(tmp_path / "cache"), "--report_to", "none"),
            *flags,
        ]
    )
    path = write_model_card(out, "someone/topics", LABELS, *arguments)
    assert path == out / "README.md"
    return ModelCard.load(path)


def front_matter(card: ModelCard) -> dict:
    return yaml.safe_load(str(card).split("---")[1])


def test_transformer_card_metadata_results_and_labels(tmp_path):
    card = card_for(
        tmp_path,
        *("--model_name_or_path", "sentence-transformers/all-MiniLM-L6-v2", "--dataset_name", "20newsgroups"),
        *("--data_dir", str(tmp_path / "data"), "--truncation_side", "head+tail", "--learning_rate", "3e-4"),
    )
    meta = front_matter(card)
    assert meta["library_name"] == "transformers"
    assert meta["pipeline_tag"] == "text-classification"
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert meta["datasets"] == ["SetFit/20_newsgroups"]
    assert "textcls" in meta["tags"]
    values = {
        (result["dataset"]["split"], metric["type"]): metric["value"]
        for result in meta["model-index"][0]["results"]
        for metric in result["metrics"]
    }
    assert values == {
        ("validation", "accuracy"): 0.8123,
        ("validation", "f1"): 0.8012,
        ("test", "accuracy"): 0.7891,
        ("test", "f1"): 0.7778,
    }
    text = card.text
    assert "| validation | 0.8123 | 0.8012 | 200 |" in text
    assert "| test | 0.7891 | 0.7778 | 400 |" in text
    for index, name in enumerate(LABELS):
        assert f"| {index} | {name} |" in text
    assert "![" in text and "(embeddings_tsne.png)" in text and "0.010 before training, 0.350 after" in text
    assert 'pipeline("text-classification", model="someone/topics")' in text
    assert "trust_remote_code" not in text
    # the training config is a config run_classification.py reads, minus the folders of this machine
    config = json.loads(text.split("```json\n")[1].split("```")[0])
    assert config["model_name_or_path"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert config["learning_rate"] == 3e-4 and config["truncation_side"] == "head+tail"
    assert not {"output_dir", "cache_dir", "data_dir", "hub_token"} & set(config)
    assert str(tmp_path) not in str(card) and str(Path.home()) not in str(card)


def test_no_figure_no_link(tmp_path):
    card = card_for(tmp_path, "--model_name_or_path", "bert-base-uncased", "--dataset_name", "ag_news", figures=())
    assert ".png" not in card.text
    assert front_matter(card)["datasets"] == ["fancyzhx/ag_news"]


def test_word_model_on_local_files(tmp_path):
    data = tmp_path / "mydata"
    card = card_for(
        tmp_path,
        *("--model_type", "lstm", "--cell", "gru", "--word_vectors", str(tmp_path / "vectors" / "glove.6B.50d.txt")),
        *("--train_file", str(data / "train.csv"), "--validation_file", str(data / "dev.csv")),
        *("--simple_preprocess", "true", "--remove_stopwords", "true"),
    )
    meta = front_matter(card)
    assert "base_model" not in meta and "datasets" not in meta
    assert "gru" in meta["tags"]
    text = card.text
    assert 'model="someone/topics", trust_remote_code=True' in text
    assert "cleaned text (remove_stopwords)" in text  # a pipeline does not remove stop words; the card says so
    assert "simple_preprocess" not in text.split("## How it was trained")[0]  # the tokenizer splits alike
    config = json.loads(text.split("```json\n")[1].split("```")[0])
    assert config["train_file"] == "train.csv" and config["word_vectors"] == "glove.6B.50d.txt"
    assert config["model_type"] == "lstm" and config["cell"] == "gru"
    assert str(tmp_path) not in str(card)


def test_local_backbone_is_not_named_and_adapters_say_peft(tmp_path):
    backbone = tmp_path / "my-bert"
    backbone.mkdir()
    card = card_for(tmp_path, "--model_name_or_path", str(backbone), "--use_lora", "true", adapter=True)
    meta = front_matter(card)
    assert meta["library_name"] == "peft"
    assert "base_model" not in meta and "model_name_or_path" not in card.text
    assert "PeftModel.from_pretrained" in card.text
    assert str(tmp_path) not in str(card)


@pytest.mark.parametrize("missing", ["test", "eval"])
def test_a_split_that_did_not_run_is_left_out(tmp_path, missing):
    results = {key: value for key, value in RESULTS.items() if not key.startswith(f"{missing}_")}
    card = card_for(tmp_path, "--model_name_or_path", "bert-base-uncased", "--dataset_name", "ag_news", results=results)
    split = "validation" if missing == "eval" else "test"
    assert f"| {split} |" not in card.text
    splits = {result["dataset"]["split"] for result in front_matter(card)["model-index"][0]["results"]}
    assert split not in splits


@pytest.mark.parametrize("adapter", [False, True])
def test_a_model_defined_by_shipped_code_is_loaded_with_trust_remote_code(tmp_path, adapter):
    # An MLP head on a transformer backbone: config.json's auto_map points at code in the folder, which plain
    # transformers cannot load without trust_remote_code.
    mlp_config = {
        "model_type": "textcls-transformer-mlp",
        "auto_map": {
            "AutoModelForSequenceClassification": "modeling_transformer_mlp.TransformerMlpForSequenceClassification"
        },
    }
    flags = ("--model_name_or_path", "sentence-transformers/all-MiniLM-L6-v2", "--classifier_head", "mlp")
    usage = str(card_for(tmp_path, *flags, adapter=adapter, config=mlp_config)).split("## How to use")[1]
    code = usage.split("```python")[1].split("```")[0]
    loads = [
        line for line in code.splitlines() if "Auto" in line and "from_pretrained(" in line and "Tokenizer" not in line
    ]
    loads += [line for line in code.splitlines() if "pipeline(" in line and "model=" in line and not adapter]
    assert loads and all("trust_remote_code=True" in line for line in loads)
    assert "read them first" in usage
    (tmp_path / "plain").mkdir()
    plain = str(card_for(tmp_path / "plain", *flags[:2], adapter=adapter, config={"model_type": "bert"}))
    assert "trust_remote_code" not in plain


MINILM = ("--model_name_or_path", "sentence-transformers/all-MiniLM-L6-v2")


def test_multi_label_card_has_its_metrics_thresholds_and_pipeline_call(tmp_path):
    from modeling import problem_types

    fields = problem_types.config_fields(problem_types.MULTI_LABEL, LABELS, decision_thresholds=[0.3, 0.55, 0.7])
    results = {"eval_jaccard": 0.61, "eval_micro_f1": 0.7, "eval_macro_f1": 0.5, "test_jaccard": 0.6,
               "test_micro_f1": 0.69, "test_macro_f1": 0.48, "test_subset_accuracy": 0.3,
               "test_samples": 40}  # fmt: skip
    card = card_for(tmp_path, *MINILM, figures=(), results=results, config=fields)
    text = card.text
    assert "| split | Jaccard (samples) | micro-F1 | macro-F1 | subset accuracy | documents |" in text
    assert "| test | 0.6000 | 0.6900 | 0.4800 | 0.3000 | 40 |" in text
    assert "| 1 | sci.space | 0.550 |" in text and "any of 3 labels per text" in text
    assert "top_k=None" in text and "does not apply the decision thresholds" in text
    metadata = front_matter(card)
    assert "multi-label" in metadata["tags"] and metadata["metrics"] == ["f1", "jaccard"]
    indexed = metadata["model-index"][0]["results"]
    indexed_metrics = [(metric["type"], metric["value"]) for entry in indexed for metric in entry["metrics"]]
    assert indexed_metrics == [("jaccard", 0.61), ("f1", 0.7), ("jaccard", 0.6), ("f1", 0.69)]


def test_regression_pair_card_names_the_value_and_the_pair_call(tmp_path):
    from modeling import problem_types

    fields = problem_types.config_fields(problem_types.REGRESSION, ["similarity"], text_pair=True)
    results = {"test_spearman": 0.81, "test_pearson": 0.83, "test_rmse": 0.9, "test_mae": 0.7, "test_samples": 1500}
    text = card_for(tmp_path, *MINILM, figures=(), results=results, config=fields).text
    assert "| test | 0.8100 | 0.8300 | 0.9000 | 0.7000 | 1500 |" in text
    assert "regression of one value, `similarity`; it reads a pair of texts" in text
    assert '{"text": "The shuttle put the telescope into orbit.", "text_pair": ' in text
    assert '--text_pair "A telescope is in orbit."' in text and "no activation" in text
    assert "accuracy" not in text.split("## Results")[1].split("##")[0]
