"""A Trainer callback that shows how training separates the classes: t-SNE maps and numbers, before and after."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from datasets import Dataset
from transformers import TrainerCallback

from training import wandb_media
from training.class_separation import (
    SEPARATION_RECORD,
    SeparationGroups,
    document_embeddings,
    mistakes,
    separation_metrics,
)
from training.projection_plots import plot_projections, tsne_maps, tsne_projection, write_projection_html

logger = logging.getLogger(__name__)

STEP_MAPS_DIR = "embeddings_tsne_steps"


class ClassSeparationCallback(TrainerCallback):
    """Embeds a fixed sample of documents at train begin ("before"), optionally every few evaluations, and at
    train end ("after", with the best model when load_best_model_at_end is set).

    Writes to `output_dir`: `embeddings_tsne.png` (before beside after, misclassified documents circled),
    `embeddings_tsne_3d.html` (after, interactive), `embedding_separation.json`, and with `eval_every` one map
    per chosen evaluation in `embeddings_tsne_steps/`. `results` then holds `embedding_silhouette_before`,
    `embedding_knn_accuracy_after`, ... for all_results.json. The numbers of every stage go to `log` (give it
    `Trainer.log`, so that they reach every reporter as `embedding/silhouette`, ...), and the pictures to W&B
    when the run reports there.

    Only the main process embeds the whole sample and writes: no rows are split across processes, so none is
    counted twice, and the others go on training (they wait for it at the next synchronisation).

    Multi-label: `groups` maps 0/1 label rows to one group per document (`class_separation.separation_groups`),
    whose names are `label_names`; colours and separation numbers use the groups, and a document is circled as a
    mistake when its predicted label set differs from its gold one. embedding_separation.json keeps `groups.record()`
    (its note and label frequencies), so that `training.project_embeddings` groups the folder's documents alike.
    """

    def __init__(
        self,
        sample: Dataset,
        texts: Sequence[str],
        label_names: Sequence[str],
        output_dir: str | Path,
        collate: Callable,
        batch_size: int = 64,
        seed: int = 0,
        three_d: bool = True,
        eval_every: int = 0,
        log: Callable[[dict[str, float]], None] | None = None,
        groups: SeparationGroups | None = None,
    ):
        self.sample = sample
        self.gold = np.asarray(sample["label"])
        self.groups = groups
        self.labels = self.gold if groups is None else groups(self.gold)
        self.texts = list(texts)
        self.label_names = list(label_names)
        self.output_dir = Path(output_dir)
        self.collate = collate
        self.batch_size = batch_size
        self.seed = seed
        self.three_d = three_d
        self.eval_every = eval_every
        self.log = log
        self.results: dict[str, float] = {}
        self.history: list[dict] = []  # the numbers of every stage, in order
        self.seconds = 0.0  # time spent here, to compare with the run's
        self._before: tuple[str, np.ndarray, dict[str, float]] | None = None
        self._evaluations = 0
        self._training = False

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._training = True
        if not state.is_world_process_zero or model is None:
            return
        started = time.perf_counter()
        # A resumed run starts from a checkpoint's weights: its first map shows those, and says so.
        stage = "before training" if state.global_step == 0 else f"at resume (step {state.global_step})"
        vectors, predictions, metrics = self._measure(model, state, "before")
        coords = tsne_projection(vectors, 2, self.seed)
        self._before = (stage, coords, metrics)
        self._to_wandb(args, state, "before", coords, self._grouped(predictions))
        self.seconds += time.perf_counter() - started

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        if not self._training or not self.eval_every or not state.is_world_process_zero or model is None:
            return  # evaluations after training (do_eval, do_predict) are not part of the history
        self._evaluations += 1
        if self._evaluations % self.eval_every:
            return
        started = time.perf_counter()
        vectors, predictions, metrics = self._measure(model, state, "step")
        coords = tsne_projection(vectors, 2, self.seed)
        folder = self.output_dir / STEP_MAPS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        png = plot_projections(
            folder / f"step-{state.global_step:07d}.png",
            [(f"step {state.global_step} (epoch {state.epoch or 0:.2f})", coords, metrics)],
            self.labels,
            self.label_names,
            self._mistakes(predictions),
        )
        self._to_wandb(args, state, "step", coords, self._grouped(predictions), png)
        self.seconds += time.perf_counter() - started

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self._training = False
        if not state.is_world_process_zero or model is None:
            return
        started = time.perf_counter()
        vectors, predictions, metrics = self._measure(model, state, "after")
        # one embedding of the sample feeds the numbers and both maps, which share one neighbour search
        maps = tsne_maps(vectors, (2, 3) if self.three_d else (2,), self.seed)
        panels = [("after training", maps[2], metrics)]
        if self._before is not None:
            panels.insert(0, self._before)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        png = plot_projections(
            self.output_dir / "embeddings_tsne.png",
            panels,
            self.labels,
            self.label_names,
            self._mistakes(predictions),
        )
        html = None
        if self.three_d:  # at the end only
            html = write_projection_html(
                self.output_dir / "embeddings_tsne_3d.html",
                maps[3],
                self.labels,
                self.label_names,
                self.texts,
                self._grouped(predictions),
                title=f"Document embeddings after training: t-SNE of {len(self.labels)} validation documents",
            )
        self._to_wandb(args, state, "after", panels[-1][1], self._grouped(predictions), png, html)
        self.seconds += time.perf_counter() - started
        self.results["embedding_seconds"] = round(self.seconds, 2)
        record = {"documents": len(self.labels), **self.results, "history": self.history}
        if self.groups is not None:
            record.update(self.groups.record())
        thresholds = getattr(model.config, "decision_thresholds", None)
        if thresholds is not None:  # the decisions the circled mistakes are made with
            record["decision_thresholds"] = thresholds
        (self.output_dir / SEPARATION_RECORD).write_text(json.dumps(record, indent=2) + "\n")
        logger.info("class separation of %d validation documents: %s", len(self.labels), self.results)

    def _mistakes(self, predictions: np.ndarray) -> np.ndarray:
        return mistakes(predictions, self.gold)

    def _grouped(self, predictions: np.ndarray) -> np.ndarray:
        """Decisions as the groups the maps colour by (the predicted classes themselves when single-label)."""
        return predictions if self.groups is None else self.groups(predictions)

    def _measure(self, model, state, stage: str) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        """Embed the sample, score the separation, and record and log the numbers of this stage."""
        vectors, predictions = document_embeddings(
            model, self.sample, self.collate, self.batch_size, with_predictions=True
        )
        metrics = separation_metrics(vectors, self.labels, self.seed)
        if stage in ("before", "after"):
            self.results.update({f"embedding_{name}_{stage}": value for name, value in metrics.items()})
        self.history.append({"stage": stage, "step": state.global_step, "epoch": state.epoch, **metrics})
        if self.log is not None:
            self.log({f"embedding/{name}": value for name, value in metrics.items()})
        return vectors, predictions, metrics

    def _to_wandb(self, args, state, stage, coords, predictions, png=None, html=None) -> None:
        if not wandb_media.wandb_requested(args.report_to):
            return
        run = wandb_media.active_run()
        if run is None:
            return
        wandb_media.log_projection(
            run, stage, png, coords, self.labels, predictions, self.texts, self.label_names, state.global_step, html
        )
