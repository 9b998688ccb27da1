"""Last-layer attention from the first token ([CLS], <s>) of a transformer classifier, per head.

transformers 5 runs attention through SDPA by default, which does not return the weights; the model is switched
to the "eager" implementation (the same computation, written out) for this. GloVe and RNN models have no
attention: `has_attention` tells them apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from inference.attributions import encode
from modeling.classifier_heads import backbone_config


@dataclass
class ClsAttention:
    """`weights[h, j]`: how much head h of the last layer attends from the first token to token j."""

    tokens: list[str]  # every token the model read, special tokens and word pieces included
    weights: np.ndarray  # (heads, len(tokens)); each row sums to 1

    @property
    def mean(self) -> np.ndarray:
        """The attention averaged over heads, one weight per token."""
        return self.weights.mean(axis=0)


def has_attention(classifier) -> bool:
    """True for transformer classifiers (they have attention heads); False for GloVe and RNN models."""
    return bool(getattr(backbone_config(classifier.config), "num_attention_heads", None))


def cls_attention(classifier, text: str, text_pair: str | None = None) -> ClsAttention:
    """The last layer's attention from the first token over the text as the model read it."""
    if not has_attention(classifier):
        raise ValueError(f"a {classifier.config.model_type} model has no attention layers")
    model = classifier.model
    if getattr(model.config, "_attn_implementation", "eager") != "eager":
        model.set_attn_implementation("eager")  # SDPA returns no attention weights
    encoded = encode(classifier, text, text_pair)
    inputs = {"input_ids": encoded.input_ids, **encoded.extras}
    with torch.no_grad():
        outputs = model(**{name: value.to(classifier.device) for name, value in inputs.items()}, output_attentions=True)
    last = outputs.attentions[-1][0]  # (heads, length, length)
    tokenizer = classifier.tokenizer
    tokens = tokenizer.convert_ids_to_tokens(encoded.input_ids[0].tolist())
    return ClsAttention(tokens=tokens, weights=last[:, 0, :].float().cpu().numpy())
