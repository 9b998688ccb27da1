"""How long the embedding maps take: scikit-learn's t-SNE (what the callback uses) against openTSNE.

    python benchmarks/tsne_speed.py --model_dir outputs/seed_grid/glove_20ng configs/glove_20ng.json

Embeds a stratified sample of the validation split with the saved model (as `training.project_embeddings`
does), reduces it to 50 principal components, and times each t-SNE in 2D and 3D. Quality beside speed:
trustworthiness (do a point's map neighbours neighbour it in the embedding; 1 is best) and the 10-NN class
accuracy inside the map. openTSNE is optional here (`pip install openTSNE`); without it its rows say so.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from training.project_embeddings import build_parser, embed_saved_model  # noqa: E402
from training.projection_plots import tsne_projection  # noqa: E402


def sklearn_tsne(vectors: np.ndarray, dims: int, seed: int) -> np.ndarray:
    return tsne_projection(vectors, dims, seed)


def open_tsne(vectors: np.ndarray, dims: int, seed: int) -> np.ndarray:
    from openTSNE import TSNE

    reduced = PCA(n_components=min(50, vectors.shape[1]), random_state=seed).fit_transform(vectors)
    # Barnes-Hut in 3D (FFT interpolation is for 1-2 dimensions only)
    method = "fft" if dims <= 2 else "bh"
    tsne = TSNE(n_components=dims, random_state=seed, n_jobs=-1, negative_gradient_method=method)
    return np.asarray(tsne.fit(reduced))


def main() -> None:
    parser = build_parser()
    parser.description = __doc__.split("\n\n")[0]
    options, rest = parser.parse_known_args()
    embedded = embed_saved_model(options, rest)
    vectors, labels, seed = embedded.vectors, embedded.labels, embedded.seed
    try:
        import openTSNE

        open_version = openTSNE.__version__
    except ImportError:
        open_version = None

    import sklearn

    print(f"{len(labels)} documents, {vectors.shape[1]}-d embeddings of {options.model_dir}")
    print("| method | dims | seconds | trustworthiness (k=10) | 10-NN class accuracy in the map |")
    print("| --- | ---: | ---: | ---: | ---: |")
    methods = ((f"scikit-learn {sklearn.__version__}", sklearn_tsne), (f"openTSNE {open_version}", open_tsne))
    for name, method in methods:
        for dims in (2, 3):
            if method is open_tsne and open_version is None:
                print(f"| openTSNE | {dims} | not installed | | |")
                continue
            started = time.perf_counter()
            coords = method(vectors, dims, seed)
            seconds = time.perf_counter() - started
            trust = trustworthiness(vectors, coords, n_neighbors=10)
            knn = cross_val_score(KNeighborsClassifier(10), coords, labels, cv=5).mean()
            print(f"| {name} | {dims} | {seconds:.1f} | {trust:.3f} | {knn:.3f} |")
    print(
        f"\nMachine: {platform.machine()}, {torch.get_num_threads()} threads, "
        f"{'GPU ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'}."
    )


if __name__ == "__main__":
    main()
