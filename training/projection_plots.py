"""t-SNE maps of document embeddings: 2D PNGs (one stage, or before beside after) and a 3D plotly page.

Before and after are projected from the same rows with the same starting positions, so that differences
between the pictures come from the embeddings, not from t-SNE's randomness.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

# matplotlib, scikit-learn and openTSNE are imported when a map is drawn: together 3 s of every run's start-up.

PCA_DIMS = 50  # t-SNE on 50 principal components: the usual speed-up, little change in the map
MISTAKE_COLOUR = "black"
# t-SNE optimisation: up to 250 early-exaggeration iterations (the clusters form) and up to 250 plain ones (they
# settle). openTSNE's default 500 plain ones (scikit-learn's 750) improved neither trustworthiness nor the classes'
# 10-NN accuracy in the map, and took 30 % longer (benchmarks/README.md, t-SNE section).
EXAGGERATION_ITERATIONS = 250
PLAIN_ITERATIONS = 250
# A phase ends early once its KL divergence has settled: checked every CHECK_EVERY iterations, it fell by less than
# 1/5000 of itself per iteration: opt-SNE's rule for ending the run (Belkina et al. 2019, Nature Communications
# 10:5415), applied here to each phase (opt-SNE ends early exaggeration by another rule). A few
# hundred documents settle after 90-160 iterations of each phase; the rest of the 250 changed neither
# trustworthiness nor the 10-NN accuracy in the map (benchmarks/README.md, t-SNE section).
CHECK_EVERY = 10
SETTLED = CHECK_EVERY / 5000
# One thread: t-SNE's parallel loops are fine-grained, and on a CPU shared with training or other jobs an OpenMP
# team of two was 8x slower than one thread (benchmarks/README.md); on an idle machine one thread costs seconds.
TSNE_THREADS = 1
# Barnes-Hut accuracy: 0.8 instead of openTSNE's 0.5 cut the maps' CPU time by 19 % at equal trustworthiness and
# 10-NN accuracy in the map (benchmarks/README.md)
BARNES_HUT_THETA = 0.8
EXACT_NEIGHBOURS_UP_TO = 10_000  # exact neighbour search (as scikit-learn's t-SNE) for samples this size or smaller


def tsne_projection(embeddings: np.ndarray, dims: int = 2, seed: int = 0) -> np.ndarray:
    """`dims`-D t-SNE coordinates of the rows, after PCA to at most 50 dimensions (see `tsne_maps`)."""
    return tsne_maps(embeddings, (dims,), seed)[dims]


def tsne_maps(embeddings: np.ndarray, dims: Sequence[int] = (2,), seed: int = 0) -> dict[int, np.ndarray]:
    """t-SNE coordinates of the rows in each of `dims` dimensions, by openTSNE (Barnes-Hut), keyed by dimension.

    The neighbour affinities are computed once and shared by all maps of these rows (a 2D and a 3D map of the
    same embeddings). The starting layout depends only on the number of rows, the dimension and `seed`, so two
    calls on the same rows (before and after training) start from the same positions. Each optimisation phase ends
    when its KL divergence has settled (`UntilSettled`), at most after its 250 iterations, so the before and after
    maps may run different numbers of iterations (the separation numbers are computed on the vectors, not the maps).
    """
    from openTSNE import affinity
    from sklearn.decomposition import PCA
    from threadpoolctl import threadpool_limits

    rows = len(embeddings)
    perplexity = float(min(30.0, max(1.0, (rows - 1) / 3)))
    with threadpool_limits(limits=TSNE_THREADS):  # BLAS and OpenMP alike (PCA, neighbour search, gradients)
        components = min(PCA_DIMS, embeddings.shape[1], rows)
        reduced = PCA(n_components=components, random_state=seed).fit_transform(np.asarray(embeddings, np.float64))
        affinities = affinity.PerplexityBasedNN(
            reduced,
            perplexity=perplexity,
            method="exact" if rows <= EXACT_NEIGHBOURS_UP_TO else "auto",
            n_jobs=TSNE_THREADS,
            random_state=seed,
        )
        return {dim: _optimise(affinities, rows, dim, seed) for dim in dims}


def _optimise(affinities, rows: int, dim: int, seed: int) -> np.ndarray:
    """One map: the seeded start, early exaggeration, then plain iterations, each phase until settled."""
    from openTSNE import TSNEEmbedding, initialization

    start = np.random.default_rng(seed).normal(size=(rows, dim))
    embedding = TSNEEmbedding(
        initialization.rescale(start),
        affinities,
        negative_gradient_method="bh",  # openTSNE's FFT method is for 1-2 dimensions and slower below ~10k
        theta=BARNES_HUT_THETA,
        n_jobs=TSNE_THREADS,
        random_state=seed,
    )
    embedding = embedding.optimize(
        EXAGGERATION_ITERATIONS,
        exaggeration=12,
        momentum=0.5,
        callbacks=UntilSettled(),
        callbacks_every_iters=CHECK_EVERY,
    )
    embedding = embedding.optimize(
        PLAIN_ITERATIONS, momentum=0.8, callbacks=UntilSettled(), callbacks_every_iters=CHECK_EVERY
    )
    return np.asarray(embedding, dtype=np.float32)


class UntilSettled:
    """openTSNE callback that ends an optimisation phase once its KL divergence has settled: below the first value
    it saw (early exaggeration starts with a plateau while the map grows out of its tiny start, which must not
    count as settled) and less than SETTLED lower than at the previous check. `iterations` records where it ended."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.previous: float | None = None
        self.iterations: int | None = None

    def __call__(self, iteration: int, error: float, embedding) -> bool:
        previous, self.previous = self.previous, error
        if self.first is None:
            self.first = error
            return False
        settled = error < self.first and 0 <= previous - error < SETTLED * previous
        if settled:
            self.iterations = iteration
        return settled


def pyplot():
    """matplotlib's pyplot, drawing to files only (no display: servers, CI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def class_colours(count: int) -> list:
    """Distinct colours for up to 20 classes (tab10, then tab20), a continuous map beyond."""
    plt = pyplot()
    if count <= 10:
        return [plt.get_cmap("tab10")(i) for i in range(count)]
    if count <= 20:
        return [plt.get_cmap("tab20")(i) for i in range(count)]
    return [plt.get_cmap("turbo")(i / max(count - 1, 1)) for i in range(count)]


def _scatter(axis, coords: np.ndarray, labels: np.ndarray, names: Sequence[str], mistakes: np.ndarray | None) -> None:
    colours = class_colours(len(names))
    for index, name in enumerate(names):
        rows = labels == index
        axis.scatter(coords[rows, 0], coords[rows, 1], s=8, color=colours[index], label=name, linewidths=0)
    if mistakes is not None and mistakes.any():
        axis.scatter(
            coords[mistakes, 0],
            coords[mistakes, 1],
            s=22,
            facecolors="none",
            edgecolors=MISTAKE_COLOUR,
            linewidths=0.6,
            label=f"misclassified ({int(mistakes.sum())})",
        )
    axis.set_xticks([])
    axis.set_yticks([])


def _title(stage: str, metrics: dict[str, float] | None) -> str:
    if not metrics:
        return stage
    return (
        f"{stage}\nsilhouette {metrics['silhouette']:.3f} · 10-NN accuracy {metrics['knn_accuracy']:.3f} · "
        f"Davies-Bouldin {metrics['davies_bouldin']:.2f}"
    )


def plot_projections(
    path: str | Path,
    panels: Sequence[tuple[str, np.ndarray, dict[str, float] | None]],
    labels: Sequence[int],
    names: Sequence[str],
    mistakes: np.ndarray | None = None,
) -> Path:
    """One PNG with a 2D map per (title, coordinates, metrics) panel, side by side, and one legend.

    `mistakes` (a boolean per row) circles the misclassified documents in the last panel.
    """
    plt = pyplot()
    labels = np.asarray(labels)
    figure, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels) + 2.6, 6.4), squeeze=False)
    for position, (axis, (stage, coords, metrics)) in enumerate(zip(axes[0], panels, strict=True)):
        _scatter(axis, np.asarray(coords), labels, names, mistakes if position == len(panels) - 1 else None)
        axis.set_title(_title(stage, metrics), fontsize=10)
    handles, legend_names = axes[0][-1].get_legend_handles_labels()
    figure.legend(
        handles, legend_names, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, markerscale=2, frameon=False
    )
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path


def write_projection_html(
    path: str | Path,
    coords: np.ndarray,
    labels: Sequence[int],
    names: Sequence[str],
    texts: Sequence[str],
    predictions: Sequence[int] | None = None,
    title: str = "",
) -> Path:
    """An interactive 3D map (plotly, scripts included so it opens offline); hovering shows the text."""
    import matplotlib.colors
    import plotly.graph_objects as go

    labels = np.asarray(labels)
    colours = [matplotlib.colors.to_hex(colour) for colour in class_colours(len(names))]
    figure = go.Figure()
    for index, name in enumerate(names):
        rows = np.flatnonzero(labels == index)
        hover = []
        for row in rows:
            guess = f"<br>predicted: {names[predictions[row]]}" if predictions is not None else ""
            hover.append(f"{name}{guess}<br>{_snippet(texts[row])}")
        figure.add_trace(
            go.Scatter3d(
                x=coords[rows, 0],
                y=coords[rows, 1],
                z=coords[rows, 2],
                mode="markers",
                name=name,
                marker={"size": 2.5, "color": colours[index]},
                hovertext=hover,
                hoverinfo="text",
            )
        )
    figure.update_layout(title=title, legend={"itemsizing": "constant"}, margin={"l": 0, "r": 0, "t": 40, "b": 0})
    path = Path(path)
    figure.write_html(path, include_plotlyjs=True, full_html=True)
    return path


def _snippet(text: str, length: int = 160) -> str:
    """The start of a text, on one line, safe inside plotly's HTML hover box."""
    flat = " ".join(text.split())
    flat = flat if len(flat) <= length else flat[: length - 1] + "…"
    return flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
