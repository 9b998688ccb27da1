"""How far apart a model puts the classes: a fixed sample of documents, their embeddings, and three numbers.

Every model here (BERT-likes, GloVe, RNN) ends `hidden_states` with a sequence whose first position is its
document vector ([CLS] for BERT-likes, the pooled vector for the word models), so one function embeds them all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from torch.utils.data import DataLoader

from data_scripts.labels import multi_hot
from data_scripts.splits import label_counts, labels_of, sample_indices
from modeling import problem_types
from textcls_errors import TextclsError

KNN_NEIGHBOURS = 10
KNN_FOLDS = 5
# The sample when embedding_sample_size is not given: one document per SAMPLE_SHARE training examples the run plans
# to see, within [SAMPLE_FLOOR, SAMPLE_CAP]. Embedding the sample before and after costs two forward passes a
# document, training a document about three (forward and backward): a tenth keeps the maps' forward passes near 7 %
# of the training's, and every shipped config at full size plans far more than 20,000 examples (so 2,000).
SAMPLE_SHARE = 10
SAMPLE_FLOOR = 200
SAMPLE_CAP = 2000
SEPARATION_RECORD = "embedding_separation.json"  # what a run's class separation writes to its folder
LABEL_FREQUENCY = "label_frequency"  # its key for the multi-label frequencies its groups were made with
NO_LABEL = "(no label)"
MULTI_LABEL_NOTE = "each document coloured and grouped by its rarest label (training frequency), or (no label)"


def automatic_sample_size(planned_examples: int) -> int:
    """Documents in the class-separation sample of a run that plans to train on `planned_examples` examples (rows
    times epochs, or steps times batch): a tenth of them, at least 200 and at most 2,000."""
    return int(min(SAMPLE_CAP, max(SAMPLE_FLOOR, planned_examples // SAMPLE_SHARE)))


def planned_training_examples(train_rows: int, epochs: float, max_steps: int, global_batch_size: int) -> int:
    """Training examples a run plans to see: `max_steps` batches when set (> 0), else `epochs` passes over the rows."""
    if max_steps > 0:
        return max_steps * global_batch_size
    return int(train_rows * epochs)


def recorded_training_examples(run_dir: str | Path) -> int | None:
    """The training examples the run that saved `run_dir` planned, from what it recorded: its train_samples
    (all_results.json) times the epochs it planned (trainer_state.json: the epoch it reached, scaled by the optimizer
    steps it planned over those it took, so that a run stopped early counts its plan). None when unrecorded."""
    run_dir = Path(run_dir)
    try:
        rows = json.loads((run_dir / "all_results.json").read_text(encoding="utf-8"))["train_samples"]
        state = json.loads((run_dir / "trainer_state.json").read_text(encoding="utf-8"))
        epoch, taken, planned = state["epoch"], state["global_step"], state["max_steps"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not (rows and epoch and taken and planned):
        return None
    return int(round(rows * epoch * planned / taken))


def stratified_sample(labels: Sequence[int], size: int, seed: int) -> np.ndarray:
    """Row indices of a class-stratified sample of `size` rows (all rows when there are fewer), sorted: the corpus's
    own sampler (`data_scripts.splits.sample_indices`), so that a sample is drawn one way everywhere."""
    labels = np.asarray(labels)
    if size <= 0:
        raise TextclsError(f"embedding sample size must be positive, got {size}")
    if size >= len(labels):
        return np.arange(len(labels))
    return sample_indices(labels, size, seed)


@torch.no_grad()
def document_embeddings(
    model: torch.nn.Module,
    dataset: Dataset,
    collate: Callable[[list[dict]], dict[str, torch.Tensor]],
    batch_size: int = 64,
    with_predictions: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The document vector of every row, batched and without gradients; the model's mode is restored after.

    With `with_predictions`, also every row's decision from the same forward pass (`problem_types.predict`: a
    class id, or a 0/1 row of labels for multi-label).
    """
    inputs = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in dataset.column_names]
    loader = DataLoader(dataset.select_columns(inputs), batch_size=batch_size, collate_fn=collate)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    # A DataLoader draws its seed from torch's global generator: without forking it, measuring during
    # training would change the rest of the run (shuffling, dropout) compared with a run that does not.
    cuda_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices), _restore_mode(model, was_training):
        vectors, predictions = [], []
        for batch in loader:
            outputs = model(**{name: batch[name].to(device) for name in inputs}, output_hidden_states=True)
            vectors.append(outputs.hidden_states[-1][:, 0].float().cpu().numpy())
            predictions.append(problem_types.predict(model.config, outputs.logits))
    if with_predictions:
        return np.concatenate(vectors), np.concatenate(predictions)
    return np.concatenate(vectors)


@contextmanager
def _restore_mode(model: torch.nn.Module, was_training: bool):
    try:
        yield
    finally:
        model.train(was_training)


@dataclass
class SeparationGroups:
    """What the maps colour by and the separation numbers group by: the classes of a single-label run; for a
    multi-label run (`label_frequency` set), each document's rarest label or "(no label)"."""

    names: list[str]
    label_frequency: np.ndarray | None = None
    note: str | None = None

    def __call__(self, targets: np.ndarray) -> np.ndarray:
        """The group of each document from the model's targets or decisions: class ids, or rows of 0/1 labels."""
        if self.label_frequency is None:
            return np.asarray(targets)
        return rarest_label_groups(targets, self.label_frequency)

    def record(self) -> dict:
        """What embedding_separation.json keeps of the grouping: its note and, multi-label, the label frequencies
        by name, so that a later projection of the folder groups as training did (`recorded_separation_groups`)."""
        record = {} if self.note is None else {"groups": self.note}
        if self.label_frequency is not None:
            labels = self.names[: len(self.label_frequency)]  # "(no label)", the last group, has no frequency
            record[LABEL_FREQUENCY] = dict(zip(labels, self.label_frequency.tolist(), strict=True))
        return record

    def of_rows(self, rows: Dataset) -> np.ndarray:
        """The group of each row of a corpus split, its labels as the corpus stores them (a class id, or a list of
        label ids before tokenization makes them 0/1 rows)."""
        labels = labels_of(rows)
        if self.label_frequency is None:
            return labels
        return self(multi_hot(labels, len(self.label_frequency)))


def separation_groups(problem_type: str, label_names: Sequence[str], train: Dataset) -> SeparationGroups:
    """How a run of this problem type groups its documents for the maps and numbers; `train` gives a multi-label
    run's label frequencies. A regression run has no classes to separate: refused."""
    if problem_type == problem_types.REGRESSION:
        raise TextclsError("class separation needs classes, and a regression model has none: it is not measured")
    if problem_type != problem_types.MULTI_LABEL:
        return SeparationGroups(list(label_names))
    return SeparationGroups(
        [*label_names, NO_LABEL],
        label_counts(train, len(label_names)),  # through Arrow, batch by batch
        MULTI_LABEL_NOTE,
    )


def recorded_separation_groups(run_dir: str | Path, label_names: Sequence[str]) -> SeparationGroups | None:
    """A multi-label run's grouping as its training recorded it (embedding_separation.json: the label frequencies
    counted on the rows it trained on, after max_train_samples and augmentation); None when the folder has no record
    (trained without embedding_projection, or before the frequencies were recorded)."""
    try:
        record = json.loads((Path(run_dir) / SEPARATION_RECORD).read_text(encoding="utf-8"))
        frequency = record[LABEL_FREQUENCY]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    missing = [name for name in label_names if name not in frequency]
    if missing:
        raise TextclsError(
            f"{Path(run_dir) / SEPARATION_RECORD} records label frequencies of {', '.join(frequency)}, none of "
            f"{', '.join(missing)}: the corpus given is not the one the model was trained on"
        )
    counts = np.asarray([frequency[name] for name in label_names], dtype=np.int64)
    return SeparationGroups([*label_names, NO_LABEL], counts, record.get("groups", MULTI_LABEL_NOTE))


def mistakes(predictions: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Whether each document's decision differs from its gold label (any label of a multi-label row)."""
    differs = np.asarray(predictions) != np.asarray(gold)
    return differs.any(axis=1) if differs.ndim == 2 else differs


def rarest_label_groups(label_matrix: np.ndarray, label_frequency: Sequence[float]) -> np.ndarray:
    """One group per multi-label row for colouring and separation: its rarest label (by `label_frequency`, e.g.
    training counts), or `len(label_frequency)` ("no label") for a row without any."""
    label_matrix = np.asarray(label_matrix) > 0.5
    frequency = np.asarray(label_frequency, dtype=np.float64)
    masked = np.where(label_matrix, frequency, np.inf)
    return np.where(label_matrix.any(axis=1), masked.argmin(axis=1), len(frequency))


def separation_metrics(embeddings: np.ndarray, labels: Sequence[int], seed: int = 0) -> dict[str, float]:
    """Silhouette (cosine, higher is better), cross-validated 10-NN accuracy (higher is better) and the
    Davies-Bouldin index (lower is better) of the embeddings grouped by class."""
    from sklearn.metrics import davies_bouldin_score, silhouette_score
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    labels = np.asarray(labels)
    counts = np.bincount(labels)
    present = np.count_nonzero(counts)
    if present < 2 or len(labels) <= present:
        raise TextclsError(
            f"class separation needs at least two classes and more documents than classes; got {len(labels)} "
            f"documents in {present} class(es)"
        )
    folds = int(min(KNN_FOLDS, counts[counts > 0].min()))
    neighbours = min(KNN_NEIGHBOURS, len(labels) - len(labels) // max(folds, 2) - 1)
    knn = KNeighborsClassifier(n_neighbors=max(neighbours, 1), metric="cosine")
    # stratified folds need two members of every class; a singleton class falls back to plain folds
    cv = (
        StratifiedKFold(folds, shuffle=True, random_state=seed)
        if folds >= 2
        else KFold(2, shuffle=True, random_state=seed)
    )
    return {
        "silhouette": float(silhouette_score(embeddings, labels, metric="cosine")),
        "knn_accuracy": float(cross_val_score(knn, embeddings, labels, cv=cv).mean()),
        "davies_bouldin": float(davies_bouldin_score(embeddings, labels)),
    }
