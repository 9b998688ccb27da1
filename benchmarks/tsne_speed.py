"""How long the embedding maps take: our t-SNE (openTSNE, one thread) against scikit-learn's, as the callback used it.

    python benchmarks/tsne_speed.py --model_dir outputs/glove_20ng configs/glove_20ng.json --split test

Embeds a stratified sample of a split with the saved model (as `training.project_embeddings` does) and times, in one
process and so under one machine load, each t-SNE in 2D and 3D: `training.projection_plots.tsne_maps` (openTSNE
Barnes-Hut, one thread, up to 250 + 250 iterations, each phase ending once settled), the same with the fixed 250 +
250 it ran before, and scikit-learn's (1,000 iterations, the earlier callback's settings) with its OpenMP threads
left as they are and limited to one. Quality beside speed: trustworthiness (do a point's map neighbours neighbour it
in the embedding; 1 is best) and the 10-NN class accuracy inside the map. `--skip_sklearn_threads` leaves out the
slowest rows on a busy machine.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE, trustworthiness
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from training import projection_plots  # noqa: E402
from training.project_embeddings import build_parser, embed_saved_model  # noqa: E402
from training.projection_plots import PCA_DIMS, tsne_maps  # noqa: E402


def sklearn_tsne(vectors: np.ndarray, dims: int, seed: int) -> np.ndarray:
    """scikit-learn's t-SNE as the callback ran it before openTSNE: PCA to 50, tiny seeded start, 1,000 iterations."""
    rows = len(vectors)
    reduced = PCA(n_components=min(PCA_DIMS, vectors.shape[1], rows), random_state=seed).fit_transform(vectors)
    start = np.random.default_rng(seed).normal(scale=1e-4, size=(rows, dims)).astype(np.float32)
    perplexity = float(min(30.0, max(1.0, (rows - 1) / 3)))
    return TSNE(n_components=dims, init=start, perplexity=perplexity, random_state=seed).fit_transform(reduced)


def sklearn_one_thread(vectors: np.ndarray, dims: int, seed: int) -> np.ndarray:
    with threadpool_limits(limits=1):
        return sklearn_tsne(vectors, dims, seed)


def ours(vectors: np.ndarray, dims: int, seed: int) -> np.ndarray:
    return tsne_maps(vectors, (dims,), seed)[dims]


def ours_fixed_phases(vectors: np.ndarray, dims: int, seed: int) -> np.ndarray:
    """Our maps as drawn before their phases ended once settled: always 250 + 250 iterations."""
    settled = projection_plots.SETTLED
    projection_plots.SETTLED = -1.0  # no fall in KL divergence is below it: no phase ends early
    try:
        return ours(vectors, dims, seed)
    finally:
        projection_plots.SETTLED = settled


def main() -> None:
    parser = build_parser()
    parser.description = __doc__.split("\n\n")[0]
    parser.add_argument("--skip_sklearn_threads", action="store_true", help="Leave out scikit-learn's threaded rows.")
    options, rest = parser.parse_known_args()
    embedded = embed_saved_model(options, rest)
    vectors, labels, seed = embedded.vectors, embedded.labels, embedded.seed

    import openTSNE
    import sklearn

    print(f"{len(labels)} documents, {vectors.shape[1]}-d embeddings of {options.model_dir}")
    print("| method | dims | seconds | load (1 min) | trustworthiness (k=10) | 10-NN class accuracy in the map |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    methods = [
        (f"ours: openTSNE {openTSNE.__version__}, 1 thread, up to 250+250 iterations", ours),
        (f"ours before: openTSNE {openTSNE.__version__}, 1 thread, always 250+250 iterations", ours_fixed_phases),
        (f"scikit-learn {sklearn.__version__}, 1 thread, 1,000 iterations", sklearn_one_thread),
    ]
    if not options.skip_sklearn_threads:
        threaded = f"scikit-learn {sklearn.__version__}, {os.cpu_count()} threads, 1,000 iterations"
        methods.append((threaded, sklearn_tsne))
    for name, method in methods:
        for dims in (2, 3):
            started = time.perf_counter()
            coords = method(vectors, dims, seed)
            seconds = time.perf_counter() - started
            trust = trustworthiness(vectors, coords, n_neighbors=10)
            knn = cross_val_score(KNeighborsClassifier(10), coords, labels, cv=5).mean()
            load = os.getloadavg()[0]
            print(f"| {name} | {dims} | {seconds:.1f} | {load:.1f} | {trust:.3f} | {knn:.3f} |", flush=True)
    started = time.perf_counter()
    tsne_maps(vectors, (2, 3), seed)
    together = time.perf_counter() - started
    print(f"\nours, the 2D and 3D map of one sample together (one neighbour search): {together:.1f} s")
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{'GPU ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'}."
    )


if __name__ == "__main__":
    main()
