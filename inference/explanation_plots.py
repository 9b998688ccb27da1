"""PNG pictures of an explanation: the top tokens' attributions as bars, the [CLS] attention as a heatmap."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no screen
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from mpl_toolkits.axes_grid1 import make_axes_locatable  # noqa: E402

from inference.attention import ClsAttention  # noqa: E402
from inference.attributions import TokenAttributions  # noqa: E402
from inference.explanation_html import NEGATIVE, POSITIVE  # noqa: E402

MAX_ATTENTION_TOKENS = 96  # beyond this the token labels cannot be read; the picture says how many were cut


def _shorten(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def plot_top_tokens(attributions: TokenAttributions, path: str | Path, top_k: int = 15) -> Path:
    """Horizontal bars of the `top_k` words with the largest |attribution| (repeats summed), green for the class,
    red against."""
    top = attributions.top(top_k)
    figure, axes = plt.subplots(figsize=(7, 0.35 * max(len(top), 1) + 1.4))
    if top:
        labels = [f"{word} ×{count}" if count > 1 else word for word, _, count in reversed(top)]
        values = [score for _, score, _ in reversed(top)]
        colors = [np.array(POSITIVE if value >= 0 else NEGATIVE) / 255 for value in values]
        axes.barh(range(len(values)), values, color=colors)
        axes.set_yticks(range(len(values)), labels)
        axes.axvline(0, color="black", linewidth=0.8)
    else:
        axes.text(0.5, 0.5, "no words to explain", ha="center", va="center", transform=axes.transAxes)
        axes.set_yticks([])
    method = attributions.method.replace("_", " ")
    output = f"p({attributions.label})" if attributions.explains == "probability" else attributions.label
    shown = "p" if attributions.explains == "probability" else "value"
    axes.set_xlabel(f"attribution to {output} ({method})")
    axes.set_title(
        f"Top words for {_shorten(attributions.label, 40)} ({shown} = {attributions.probability:.3f})", fontsize=11
    )
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_cls_attention(attention: ClsAttention, path: str | Path, per_head: bool = False) -> Path:
    """A heatmap, tokens down the side, of the last layer's attention from the first token: the mean over
    heads, and with `per_head` one column per head beside it."""
    shown = min(len(attention.tokens), MAX_ATTENTION_TOKENS)
    columns = [attention.mean] + (list(attention.weights) if per_head else [])
    names = ["mean"] + ([f"head {h + 1}" for h in range(len(attention.weights))] if per_head else [])
    matrix = np.stack(columns, axis=1)[:shown]
    figure, axes = plt.subplots(figsize=(3.2 + 0.55 * len(names), 0.22 * shown + 1.6))
    image = axes.imshow(matrix, aspect="auto", cmap="viridis", interpolation="nearest")
    if per_head:
        axes.axvline(0.5, color="white", linewidth=3)  # the mean apart from the heads
    axes.set_yticks(range(shown), attention.tokens[:shown], fontsize=8)
    axes.set_xticks(range(len(names)), names, rotation=90 if per_head else 0, fontsize=8)
    cut = f" (first {shown} of {len(attention.tokens)} tokens)" if shown < len(attention.tokens) else ""
    heads = len(attention.weights)
    axes.set_title(f"Last-layer attention from {attention.tokens[0]}\n({heads} heads){cut}", fontsize=10)
    # a colour bar as tall as the map, however many tokens it has
    bar_axes = make_axes_locatable(axes).append_axes("right", size=0.18, pad=0.1)
    figure.colorbar(image, cax=bar_axes, label="attention weight")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
