"""explain.py and inference/attributions, attention, explanation_html/plots: on tiny models of every family."""

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import pairwise_distances

import explain
from data_scripts.text_cleaning import TextCleaning, build_cleaner
from inference import TextClassifier
from inference.attention import cls_attention, has_attention
from inference.attributions import (
    METHODS,
    TokenAttributions,
    _lime_similarity,
    attribute,
    baseline_ids,
    class_probabilities,
    encode,
)
from inference.explanation_html import attributions_html
from modeling.word_models import build_word_model
from tests.tiny_models import build_tiny_model
from textcls_errors import TextclsError
from training.reports import write_predictions

REPO = Path(__file__).resolve().parent.parent
LABELS = ["business", "science", "sports"]
TEXTS = [
    "The Rockets won the game in overtime, the coach said.",
    "Shares of the bank fell after its quarterly report!",
    "Astronomers found water ice on a distant moon.",
    "It was a quiet day.",
]
KEY_WORD = "rockets"
WORD_FAMILIES = ("glove", "lstm", "gru")
FAMILIES = ("bert", "roberta", "distilbert", *WORD_FAMILIES)


def make_model_dir(folder: Path, family: str, cleaning: TextCleaning | None = None) -> Path:
    """A tiny randomly initialised classifier of `family`, saved as run_classification.py saves one."""
    torch.manual_seed(0)
    if family in WORD_FAMILIES:
        texts = build_cleaner(cleaning)({"text": TEXTS})["text"] if cleaning else TEXTS
        kwargs = {"embedding_dim": 16} | ({"cell": family, "hidden_size": 8} if family != "glove" else {})
        model, tokenizer = build_word_model(
            "glove" if family == "glove" else "lstm", texts, LABELS, word_vectors=None, model_kwargs=kwargs
        )
        if cleaning:
            model.config.text_cleaning = cleaning.as_config()
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        return folder
    return build_tiny_model(folder, family, TEXTS * 10, label_names=LABELS)


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    return {family: make_model_dir(tmp_path_factory.mktemp(family), family) for family in FAMILIES}


@pytest.mark.parametrize("family", FAMILIES)
def test_one_score_per_word_for_the_predicted_class(family, model_dirs):
    classifier = TextClassifier(model_dirs[family], device="cpu")
    text = TEXTS[2]
    explained = attribute(classifier, text)
    probabilities = classifier.predict_proba([text])[0]
    assert explained.label == LABELS[int(np.argmax(probabilities))]
    assert explained.probability == pytest.approx(probabilities.max(), abs=1e-5)
    # Word pieces are merged back into the words of the text; the full stop is a token of its own for
    # transformers and dropped by the word tokenizer (as are one-letter words).
    words = ["Astronomers", "found", "water", "ice", "on", "a", "distant", "moon"]
    expected = [w for w in words if len(w) > 1] if family in WORD_FAMILIES else [*words, "."]
    assert explained.tokens == expected
    assert len(explained.scores) == len(explained.tokens)
    assert all(np.isfinite(explained.scores))
    assert [explained.text[a:b] for a, b in explained.offsets] == explained.tokens


@pytest.mark.parametrize("family", FAMILIES)
def test_integrated_gradients_add_up_to_the_change_from_the_baseline(family, model_dirs):
    """Completeness: the scores sum to p(text) - p(all words padding), up to the path's numerical error."""
    classifier = TextClassifier(model_dirs[family], device="cpu")
    explained = attribute(classifier, TEXTS[0], n_steps=100)
    encoded = encode(classifier, TEXTS[0])
    target = LABELS.index(explained.label)
    with torch.no_grad():
        at_baseline = float(class_probabilities(classifier, baseline_ids(encoded), encoded.extras)[0, target])
    change = explained.probability - at_baseline
    assert sum(explained.scores) == pytest.approx(change, abs=max(0.02 * abs(change), 2e-3))


def relies_on_one_word(classifier: TextClassifier, text: str, word: str) -> None:
    """Make every token of `text` but `word` read exactly like padding, so only `word` can move the prediction."""
    encoded = encode(classifier, text)
    pieces = encoded.words[[token.lower() for token in encoded.tokens].index(word)]
    key_ids = set(encoded.input_ids[0, pieces].tolist())
    others = set(encoded.input_ids[0].tolist()) - key_ids
    assert key_ids.isdisjoint(others | {classifier.tokenizer.unk_token_id})
    embeddings = classifier.model.get_input_embeddings().weight
    with torch.no_grad():
        generator = torch.Generator().manual_seed(1)
        embeddings[:] = embeddings[encoded.pad_token_id].clone()
        for key in key_ids:
            embeddings[key] = torch.randn(embeddings.shape[1], generator=generator) * 3


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method", METHODS)
def test_the_word_the_model_relies_on_gets_the_top_attribution(family, method, model_dirs):
    classifier = TextClassifier(model_dirs[family], device="cpu")
    relies_on_one_word(classifier, TEXTS[0], KEY_WORD)
    explained = attribute(classifier, TEXTS[0], method=method, n_samples=200)
    magnitudes = np.abs(explained.scores)
    assert explained.tokens[int(np.argmax(magnitudes))].lower() == KEY_WORD
    others = np.delete(magnitudes, int(np.argmax(magnitudes)))
    # Integrated gradients give exactly 0 to a token that reads like its baseline. LIME's fit is noisier, and for
    # RoBERTa a padding token also shifts the positions of the tokens after it (its position ids skip padding).
    assert others.max() < (0.05 if method == "integrated_gradients" else 0.5) * magnitudes.max()


def test_another_class_can_be_explained_and_unknown_ones_are_refused(model_dirs):
    classifier = TextClassifier(model_dirs["glove"], device="cpu")
    predicted = attribute(classifier, TEXTS[1])
    other = next(name for name in LABELS if name != predicted.label)
    explained = attribute(classifier, TEXTS[1], label=other)
    assert explained.label == other
    assert explained.probability == pytest.approx(classifier.predict_proba([TEXTS[1]])[0][LABELS.index(other)])
    with pytest.raises(TextclsError, match="label='weather'.*business, science, sports"):
        attribute(classifier, TEXTS[1], label="weather")
    with pytest.raises(TextclsError, match="method='shap'"):
        attribute(classifier, TEXTS[1], method="shap")


def test_attributions_are_on_the_text_as_the_model_read_it(tmp_path):
    cleaning = TextCleaning(simple_preprocess=True, remove_stopwords=True)
    classifier = TextClassifier(make_model_dir(tmp_path / "glove", "glove", cleaning), device="cpu")
    explained = attribute(classifier, TEXTS[0])
    assert explained.text == "rockets won game overtime coach said"
    assert explained.tokens == explained.text.split()


def test_long_texts_are_cut_as_the_classifier_cuts_them(model_dirs):
    classifier = TextClassifier(model_dirs["bert"], device="cpu", max_length=8)
    explained = attribute(classifier, " ".join(TEXTS))
    assert len(explained.tokens) <= 6  # 8 ids minus [CLS] and [SEP]; pieces of a word merge into one token
    assert explained.tokens[0] == "The"
    # The rest of the text was never read: the page greys it and says so, rather than showing it as read.
    last_read = explained.offsets[-1][1]
    [(unread_start, unread_end)] = explained.unread
    assert unread_start > last_read
    fragment = attributions_html(explained)
    assert fragment.count("not read by the model") == 1
    unread_text = explained.text[unread_start:unread_end]
    assert f">{unread_text}</span>" in fragment.replace("&#x27;", "'")
    assert attribute(TextClassifier(model_dirs["bert"], device="cpu"), TEXTS[0]).unread == []
    article = attributions_html(attribute(classifier, " ".join(TEXTS * 20)))  # pages of unread text: cut short
    assert "more characters not read)" in article and len(article) < 5000


def test_empty_text_has_no_tokens(model_dirs):
    explained = attribute(TextClassifier(model_dirs["glove"], device="cpu"), "!!! 42")
    assert explained.tokens == [] and explained.scores == []
    assert "no words" in attributions_html(explained)


def test_html_highlights_every_token_and_escapes_the_text(model_dirs):
    classifier = TextClassifier(model_dirs["bert"], device="cpu")
    explained = attribute(classifier, "Shares <fell> & the bank")
    fragment = attributions_html(explained)
    assert "<html" not in fragment and "<body" not in fragment
    assert fragment.count('title="') == len(explained.tokens)
    assert "&lt;" in fragment and "&amp;" in fragment and "<fell>" not in fragment
    for token in ("Shares", "fell", "bank"):
        assert f">{token}</span>" in fragment
    strongest = int(np.argmax(np.abs(explained.scores)))
    assert f'0.800);border-radius:2px" title="{explained.scores[strongest]:+.4f}"' in fragment
    assert "padding" not in fragment  # padding would open gaps between the pieces of one word


@pytest.mark.parametrize("family", ["bert", "roberta", "distilbert"])
def test_cls_attention_rows_are_distributions_over_the_tokens_read(family, model_dirs):
    classifier = TextClassifier(model_dirs[family], device="cpu")
    assert has_attention(classifier)
    attention = cls_attention(classifier, TEXTS[0])
    assert attention.weights.shape == (2, len(attention.tokens))  # the tiny models have 2 heads
    np.testing.assert_allclose(attention.weights.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(attention.mean, attention.weights.mean(axis=0))
    assert attention.tokens[0] == classifier.tokenizer.cls_token
    # switching to eager attention changes nothing in the predictions
    np.testing.assert_allclose(
        classifier.predict_proba(TEXTS),
        TextClassifier(model_dirs[family], device="cpu").predict_proba(TEXTS),
        atol=1e-5,
    )


@pytest.mark.parametrize("family", WORD_FAMILIES)
def test_word_models_have_no_attention(family, model_dirs):
    assert not has_attention(TextClassifier(model_dirs[family], device="cpu"))


def is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 2000


def test_cli_writes_page_pictures_and_scores_for_a_transformer(model_dirs, tmp_path):
    out = tmp_path / "explained"
    page = explain.main(
        ["--model_dir", str(model_dirs["bert"]), "--text", TEXTS[0], "--text", TEXTS[2], "--output_dir", str(out),
         "--attention_heads", "--top_k", "5"]
    )  # fmt: skip
    assert page == out / "explanations.html"
    for number in (1, 2):
        assert is_png(out / f"text{number:03d}_tokens.png")
        assert is_png(out / f"text{number:03d}_attention.png")
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and 'src="text002_attention.png"' in html
    records = [json.loads(line) for line in (out / "attributions.jsonl").read_text().splitlines()]
    assert [record["tokens"][:2] for record in records] == [["The", "Rockets"], ["Astronomers", "found"]]
    for record in records:
        for token in record["tokens"]:
            assert f">{token}</span>" in html or token in "<>&"


def test_cli_word_model_writes_no_attention_and_says_so(model_dirs, tmp_path, caplog):
    out = tmp_path / "explained"
    with caplog.at_level(logging.INFO, logger="explain"):
        explain.main(["--model_dir", str(model_dirs["lstm"]), "--text", TEXTS[0], "--output_dir", str(out)])
    assert is_png(out / "text001_tokens.png")
    assert not list(out.glob("*attention*"))
    assert "has no attention layers" in caplog.text


def test_cli_explains_the_most_confident_errors_with_lime(model_dirs, tmp_path):
    probabilities = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]])
    predictions = write_predictions(tmp_path / "predictions.csv", TEXTS, [1, 1, 0, 2], probabilities, LABELS)
    out = tmp_path / "explained"
    explain.main(
        ["--model_dir", str(model_dirs["glove"]), "--errors", "2", "--predictions", str(predictions),
         "--output_dir", str(out), "--method", "lime", "--n_samples", "50"]
    )  # fmt: skip
    records = [json.loads(line) for line in (out / "attributions.jsonl").read_text().splitlines()]
    # errors: rows 0 (p 0.9), 2 (p 0.8) and 3 (p 0.6); the two most confident, most confident first
    assert [record["heading"] for record in records] == [
        "Error 1: gold science, predicted business (p = 0.900)",
        "Error 2: gold business, predicted sports (p = 0.800)",
    ]
    assert {record["method"] for record in records} == {"lime"}
    assert is_png(out / "text002_tokens.png")


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda d, t: ["--model_dir", str(t), "--text", "x"], "holds no config.json"),
        (lambda d, t: ["--model_dir", str(d), "--errors", "3"], "predictions.csv, which does not exist"),
        (lambda d, t: ["--model_dir", str(d), "--errors", "0"], "--errors must be a positive integer, got 0"),
        (lambda d, t: ["--model_dir", str(d), "--text", "x", "--label", "weather"], "label='weather'"),
    ],
)
def test_bad_input_is_one_clear_message(make_args, message, model_dirs, tmp_path):
    with pytest.raises(TextclsError, match=message):
        explain.main([*make_args(model_dirs["glove"], tmp_path), "--output_dir", str(tmp_path / "out")])


def test_end_to_end_on_a_lora_run_of_run_classification(tmp_path):
    """Train a LoRA adapter with run_classification.py, then explain its test errors from the command line."""
    import run_classification
    from tests.test_run_classification import config_for, write_splits

    (tmp_path / "csv").mkdir()
    csv_files = write_splits(tmp_path / "csv", 48, 12, 24)
    texts = pd.read_csv(csv_files["train"])["body"].tolist()
    torch.manual_seed(0)
    backbone = build_tiny_model(tmp_path / "bert", "bert", texts, num_labels=3)
    config = config_for(tmp_path, backbone, csv_files, use_lora=True, lora_r=4, num_train_epochs=1,
                        embedding_projection=False)  # fmt: skip
    run_classification.main([config])
    model_dir = tmp_path / "out"
    assert (model_dir / "adapter_config.json").is_file()
    out = tmp_path / "explained"
    finished = subprocess.run(
        [sys.executable, "explain.py", "--model_dir", str(model_dir), "--errors", "3", "--output_dir", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert finished.returncode == 0, finished.stderr
    records = [json.loads(line) for line in (out / "attributions.jsonl").read_text().splitlines()]
    assert 1 <= len(records) <= 3 and all(record["heading"].startswith("Error") for record in records)
    assert is_png(out / "text001_attention.png") and is_png(out / "text001_tokens.png")


def test_script_exits_2_without_a_traceback(tmp_path):
    finished = subprocess.run(
        [sys.executable, "explain.py", "--model_dir", str(tmp_path), "--text", "hi", "--output_dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert finished.returncode == 2
    assert "error:" in finished.stderr and "Traceback" not in finished.stderr


def test_top_words_count_a_repeated_word_once_with_its_summed_score(tmp_path):
    from inference.explanation_plots import plot_top_tokens

    explained = TokenAttributions(
        text="key key key door key",
        tokens=["key", "key", "key", "door", "key"],
        scores=[0.1, 0.1, 0.1, -0.3, 0.1],
        label="locks",
        probability=0.9,
        method="integrated_gradients",
    )
    assert explained.top(2) == [("key", pytest.approx(0.4), 4), ("door", -0.3, 1)]
    assert plot_top_tokens(explained, tmp_path / "top.png").stat().st_size > 5_000


@pytest.mark.parametrize(("kept", "total"), [(10, 10), (7, 10), (1, 10), (3, 4)])
def test_lime_weighs_a_perturbed_text_as_the_lime_package_does(kept, total):
    """LimeTextExplainer: distance = 100 x cosine distance to the original, weight = sqrt(exp(-d^2 / 25^2))."""
    interpretable = torch.tensor([[1] * kept + [0] * (total - kept)])
    distance = 100 * pairwise_distances(interpretable.numpy(), np.ones((1, total)), metric="cosine")[0, 0]
    expected = np.sqrt(np.exp(-(distance**2) / 25**2))
    assert _lime_similarity(None, None, interpretable) == pytest.approx(expected, abs=1e-9)
