"""The sample, the document embeddings and the separation numbers behind the t-SNE pictures."""

import json
import logging
from types import SimpleNamespace

import numpy as np
import openTSNE.affinity
import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, TrainerState

from data_scripts.splits import sample_indices
from modeling.word_models import build_word_model
from tests.tiny_models import FAMILIES, build_tiny_model
from textcls_errors import TextclsError
from training import embedding_callback, projection_plots
from training.class_separation import (
    automatic_sample_size,
    document_embeddings,
    planned_training_examples,
    recorded_training_examples,
    separation_metrics,
    stratified_sample,
)
from training.embedding_callback import ClassSeparationCallback
from training.projection_plots import (
    UntilSettled,
    plot_projections,
    tsne_maps,
    tsne_projection,
    write_projection_html,
)

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


def test_tsne_maps_keep_separated_classes_apart_and_share_one_neighbour_search(monkeypatch):
    searches = []
    real_search = openTSNE.affinity.PerplexityBasedNN

    def counted_search(*args, **kwargs):
        searches.append(len(args[0]))
        return real_search(*args, **kwargs)

    monkeypatch.setattr(openTSNE.affinity, "PerplexityBasedNN", counted_search)
    rng = np.random.default_rng(4)
    labels = np.repeat(np.arange(4), 40)
    embeddings = rng.normal(size=(4, 30))[labels] * 6 + rng.normal(size=(160, 30))
    maps = tsne_maps(embeddings, (2, 3), seed=1)
    assert searches == [160]  # the 2D and the 3D map of one sample: one neighbour search
    assert maps[2].shape == (160, 2) and maps[3].shape == (160, 3)
    np.testing.assert_allclose(maps[2], tsne_projection(embeddings, 2, seed=1))  # sharing changes no map
    for coords in maps.values():  # the map's meaning: each class its own cluster
        assert separation_metrics(coords, labels)["knn_accuracy"] > 0.95


def test_automatic_sample_size_grows_with_the_planned_training():
    assert planned_training_examples(1000, 5, max_steps=-1, global_batch_size=32) == 5000
    assert planned_training_examples(1000, 5, max_steps=50, global_batch_size=64) == 3200  # steps win when set
    assert planned_training_examples(1000, 0.5, max_steps=0, global_batch_size=8) == 500
    assert automatic_sample_size(5000) == 500  # a tenth
    assert automatic_sample_size(1000) == 200  # never fewer than 200 documents
    assert automatic_sample_size(10_314 * 20) == 2000  # nor more than 2,000 (GloVe on 20 Newsgroups)


def write_run_record(folder, train_samples: int, epoch: float, global_step: int, max_steps: int):
    """The two files a finished run leaves that say how much it trained (the keys the Trainer writes)."""
    (folder / "all_results.json").write_text(json.dumps({"train_samples": train_samples, "eval_accuracy": 0.9}))
    state = {"epoch": epoch, "global_step": global_step, "max_steps": max_steps, "log_history": []}
    (folder / "trainer_state.json").write_text(json.dumps(state))


def test_the_standalone_projection_samples_a_saved_folder_as_its_run_would(tmp_path, caplog):
    """project_embeddings' default sample follows the rule a run uses, fed by what the folder records."""
    from training.project_embeddings import build_parser, sample_size

    write_run_record(tmp_path, train_samples=5000, epoch=2.0, global_step=626, max_steps=626)
    assert recorded_training_examples(tmp_path) == 10_000
    options = build_parser().parse_args(["--model_dir", str(tmp_path)])
    assert sample_size(options) == automatic_sample_size(10_000) == 1000  # a tenth, as the run sampled
    assert sample_size(build_parser().parse_args(["--model_dir", str(tmp_path), "--sample_size", "77"])) == 77

    write_run_record(tmp_path, train_samples=1000, epoch=1.0, global_step=32, max_steps=96)  # stopped early
    assert recorded_training_examples(tmp_path) == 3000  # the 3 epochs it planned, not the 1 it took
    write_run_record(tmp_path, train_samples=500, epoch=0.5, global_step=8, max_steps=8)  # half an epoch
    assert sample_size(options) == 200  # 250 examples: the floor

    (tmp_path / "trainer_state.json").unlink()  # a folder trained elsewhere records no training of this kind
    assert recorded_training_examples(tmp_path) is None
    with caplog.at_level(logging.INFO):
        assert sample_size(options) == 2000
    assert "records no training" in caplog.text


def test_separation_sample_size_is_the_users_when_given_else_the_rule():
    from run_classification import separation_sample_size

    tokenized = {"train": range(3000)}
    args = SimpleNamespace(
        embedding_sample_size=None,
        train_batch_size=16,
        gradient_accumulation_steps=2,
        world_size=2,
        num_train_epochs=2.0,
        max_steps=-1,
    )
    assert separation_sample_size(args, tokenized) == 600  # 3,000 rows x 2 epochs / 10
    args.max_steps = 100
    assert separation_sample_size(args, tokenized) == 640  # 100 steps of 16 x 2 accumulated x 2 processes / 10
    args.embedding_sample_size = 50
    assert separation_sample_size(args, tokenized) == 50


def test_the_callback_embeds_each_stage_once_and_draws_its_maps_from_those_vectors(tmp_path, monkeypatch):
    torch.manual_seed(0)
    texts = TEXTS * 4
    labels = [0, 1, 2, 0, 1, 2] * 4
    model, tokenizer = build_word_model("glove", texts, ["space", "sport", "food"], word_vectors=None)
    sample = Dataset.from_dict(dict(tokenizer(texts), label=labels))
    embedded, searched = [], []
    real_embed, real_search = embedding_callback.document_embeddings, openTSNE.affinity.PerplexityBasedNN

    def counted_embed(*args, **kwargs):
        result = real_embed(*args, **kwargs)
        embedded.append(result[0])
        return result

    def counted_search(data, *args, **kwargs):
        searched.append(data)
        return real_search(data, *args, **kwargs)

    monkeypatch.setattr(embedding_callback, "document_embeddings", counted_embed)
    monkeypatch.setattr(openTSNE.affinity, "PerplexityBasedNN", counted_search)
    callback = ClassSeparationCallback(
        sample, texts, ["space", "sport", "food"], tmp_path, DataCollatorWithPadding(tokenizer), batch_size=5
    )
    args, state = SimpleNamespace(report_to=[]), TrainerState()
    callback.on_train_begin(args, state, None, model=model)
    state.global_step = 3
    callback.on_train_end(args, state, None, model=model)
    assert len(embedded) == 2  # before and after: one forward pass over the sample each
    assert len(searched) == 2  # the before map; the after 2D and 3D maps share one
    assert (tmp_path / "embeddings_tsne.png").stat().st_size > 10_000
    assert "plotly" in (tmp_path / "embeddings_tsne_3d.html").read_text()[:5000].lower()
    record = json.loads((tmp_path / "embedding_separation.json").read_text())
    assert record["embedding_knn_accuracy_after"] == separation_metrics(embedded[1], labels)["knn_accuracy"]


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


def test_a_tsne_phase_ends_once_its_kl_divergence_has_settled():
    settled = UntilSettled()
    # early exaggeration: a plateau while the map grows out of its tiny start (above the first value) is not the end
    for iteration, kl in ((10, 2.72), (20, 2.68), (30, 2.746), (40, 2.756), (50, 2.757), (60, 2.75)):
        assert not settled(iteration, kl, None)
    for iteration, kl in ((70, 2.64), (80, 2.544), (90, 2.531)):  # falling by more than 2/1000 in 10 iterations
        assert not settled(iteration, kl, None)
    assert settled(100, 2.530, None) and settled.iterations == 100
    rising = UntilSettled()
    assert not rising(10, 1.0, None) and not rising(20, 0.9, None)
    assert not rising(30, 0.9005, None)  # a rise is not settling


def test_tsne_maps_stop_early_on_easy_data_and_still_show_the_classes(monkeypatch):
    ends = []

    class Recorded(UntilSettled):
        def __call__(self, *args):
            stop = super().__call__(*args)
            if stop:
                ends.append(self.iterations)
            return stop

    monkeypatch.setattr(projection_plots, "UntilSettled", Recorded)
    rng = np.random.default_rng(4)
    labels = np.repeat(np.arange(4), 40)
    embeddings = rng.normal(size=(4, 30))[labels] * 6 + rng.normal(size=(160, 30))
    coords = tsne_maps(embeddings, (2,), seed=1)[2]
    assert ends and all(end < 250 for end in ends)  # fewer iterations than the caps
    assert separation_metrics(coords, labels)["knn_accuracy"] > 0.95
