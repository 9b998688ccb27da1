"""The sample, the document embeddings and the separation numbers behind the t-SNE pictures."""

import numpy as np
import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

from data_scripts.splits import sample_indices
from modeling.word_models import build_word_model
from tests.tiny_models import FAMILIES, build_tiny_model
from textcls_errors import TextclsError
from training.class_separation import document_embeddings, separation_metrics, stratified_sample
from training.projection_plots import plot_projections, tsne_projection, write_projection_html

TEXTS = [
    "the rocket reached orbit",
    "a goal in the last minute",
    "bake the bread for an hour",
    "the shuttle docked with the station after a long and careful approach",
    "match",
    "sugar flour butter",
]


def test_stratified_sample_keeps_class_shares_and_is_repeatable():
    labels = np.array([0] * 600 + [1] * 300 + [2] * 100)
    chosen = stratified_sample(labels, 100, seed=3)
    assert len(chosen) == 100 and np.all(np.diff(chosen) > 0)
    assert np.bincount(labels[chosen]).tolist() == [60, 30, 10]
    assert np.array_equal(chosen, stratified_sample(labels, 100, seed=3))
    assert not np.array_equal(chosen, stratified_sample(labels, 100, seed=4))
    assert np.array_equal(stratified_sample(labels[:50], 2000, seed=0), np.arange(50))
    with pytest.raises(TextclsError, match="must be positive"):
        stratified_sample(labels, 0, seed=0)


def test_the_embedding_sample_is_drawn_by_the_corpus_sampler():
    """One stratified sampler in the project: the class-separation sample is the one max_*_samples would take."""
    labels = np.repeat(np.arange(5), [400, 250, 200, 100, 50])
    for size, seed in ((100, 0), (333, 7), (999, 3)):
        assert np.array_equal(stratified_sample(labels, size, seed), sample_indices(labels, size, seed))


def test_a_sample_nearly_as_large_as_the_split_still_works():
    labels = np.repeat(np.arange(20), [101] * 10 + [100] * 10)  # 2,010 documents, 20 classes
    rows = stratified_sample(labels, 2000, seed=0)
    assert len(rows) == 2000 and len(set(labels[rows])) == 20


def test_separated_clusters_score_better_than_mixed_ones():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 50)
    centres = rng.normal(size=(4, 16)) * 5
    separated = centres[labels] + rng.normal(size=(200, 16))
    mixed = rng.normal(size=(200, 16))
    good, bad = separation_metrics(separated, labels), separation_metrics(mixed, labels)
    assert good["silhouette"] > 0.5 > bad["silhouette"] and abs(bad["silhouette"]) < 0.1
    assert good["knn_accuracy"] > 0.95 and bad["knn_accuracy"] < 0.45  # chance is 0.25
    assert good["davies_bouldin"] < 1.0 < bad["davies_bouldin"]


def test_separation_needs_two_classes():
    with pytest.raises(TextclsError, match="at least two classes"):
        separation_metrics(np.ones((5, 3)), [1, 1, 1, 1, 1])


def test_a_singleton_class_still_gets_numbers():
    rng = np.random.default_rng(1)
    labels = np.array([0] * 30 + [1] * 30 + [2])
    metrics = separation_metrics(rng.normal(size=(61, 8)), labels)
    assert set(metrics) == {"silhouette", "knn_accuracy", "davies_bouldin"}
    assert all(np.isfinite(value) for value in metrics.values()), metrics
    assert 0.0 <= metrics["knn_accuracy"] <= 1.0
    assert -1.0 <= metrics["silhouette"] <= 1.0 and metrics["davies_bouldin"] >= 0.0


def embed_directly(model, tokenizer, texts):
    """The document vectors from one padded batch, computed by hand."""
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**batch, output_hidden_states=True).hidden_states[-1][:, 0].numpy()


@pytest.mark.parametrize("family", FAMILIES)
def test_transformer_embeddings_are_the_cls_vectors_whatever_the_batching(family, tmp_path):
    folder = build_tiny_model(tmp_path, family, TEXTS * 5)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    dataset = Dataset.from_dict(dict(tokenizer(TEXTS)))
    expected = np.concatenate([embed_directly(model, tokenizer, [text]) for text in TEXTS])
    model.train()
    random_state = torch.get_rng_state()
    vectors = document_embeddings(model, dataset, DataCollatorWithPadding(tokenizer), batch_size=4)
    assert model.training  # the mode the trainer left it in
    # nor does it move torch's generator: a run measured during training shuffles and drops out as one that is not
    assert torch.equal(torch.get_rng_state(), random_state)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)


@pytest.mark.parametrize("model_type", ["glove", "lstm"])
def test_word_model_embeddings_are_their_pooled_vectors(model_type):
    torch.manual_seed(0)
    model, tokenizer = build_word_model(model_type, TEXTS, ["a", "b"], word_vectors=None)
    model.eval()
    dataset = Dataset.from_dict(dict(tokenizer(TEXTS)))
    expected = np.concatenate([embed_directly(model, tokenizer, [text]) for text in TEXTS])
    vectors = document_embeddings(model, dataset, DataCollatorWithPadding(tokenizer), batch_size=3)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)


def test_tsne_starts_from_the_same_layout_so_equal_inputs_give_equal_maps():
    rng = np.random.default_rng(2)
    embeddings = rng.normal(size=(60, 80))
    first = tsne_projection(embeddings, dims=2, seed=5)
    assert first.shape == (60, 2)
    np.testing.assert_allclose(first, tsne_projection(embeddings, dims=2, seed=5))
    assert tsne_projection(embeddings[:20], dims=3, seed=5).shape == (20, 3)


def test_projection_files(tmp_path):
    rng = np.random.default_rng(3)
    labels = np.repeat([0, 1, 2], 10)
    coords = rng.normal(size=(30, 3))
    mistakes = np.zeros(30, dtype=bool)
    mistakes[[1, 12]] = True
    png = plot_projections(
        tmp_path / "pair.png",
        [
            ("before", coords[:, :2], None),
            ("after", coords[:, :2], {"silhouette": 0.5, "knn_accuracy": 0.9, "davies_bouldin": 0.7}),
        ],
        labels,
        ["alt.atheism", "sci.space", "rec.autos"],
        mistakes,
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    texts = [f"text <b>{i}</b> & more" for i in range(30)]
    html = write_projection_html(
        tmp_path / "map.html",
        coords,
        labels,
        ["alt.atheism", "sci.space", "rec.autos"],
        texts,
        predictions=labels[::-1],
    )
    page = html.read_text()
    assert "sci.space" in page
    # the hover text is escaped once: shown as written, never parsed as markup
    assert "text &lt;b&gt;3&lt;" in page and "&gt; &amp; more" in page and "<b>3" not in page
    assert "predicted: rec.autos" in page
