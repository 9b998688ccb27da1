"""GloVe mean-pool text classifier: the average of a document's word vectors, optional dense layers, a linear head.

Shaped like transformers' BERT: `GloveModel` is the encoder, `GloveForSequenceClassification` adds the head and the
loss, and `output_hidden_states=True` ends `hidden_states` with the document vector as a one-token sequence, so
`outputs.hidden_states[-1][:, 0]` is the document embedding here just as it is the [CLS] vector for BERT.

This file and `configuration_glove.py` are copied next to the weights by `save_pretrained`; it imports nothing
from this project but `problem_types.py` (the loss; `save_pretrained` copies it too, as a relative import), so
that `from_pretrained(..., trust_remote_code=True)` works anywhere.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_outputs import BaseModelOutputWithPooling, SequenceClassifierOutput

from .configuration_glove import GloveConfig
from .problem_types import compute_loss


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the tokens where `mask` is 1, so padding does not dilute it; an empty row averages to zero."""
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


class GlovePreTrainedModel(PreTrainedModel):
    config_class = GloveConfig
    config: GloveConfig
    base_model_prefix = "glove"
    main_input_name = "input_ids"

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Normal(0, initializer_range) embeddings with a zero padding row; Xavier-uniform linear layers with zero
        biases (BERT's normal(0, 0.02) suits 768-wide layers, but would shrink the signal through these narrow ones).

        `transformers.initialization` skips tensors already loaded from a checkpoint.
        """
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
            # slicing drops the "already loaded" flag, so check it on the whole matrix
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[module.padding_idx])

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """`PreTrainedModel.from_pretrained`, then freeze the embeddings again if the config says so: the loader
        puts the checkpoint's tensors into new parameters, all trainable."""
        loaded = super().from_pretrained(*args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded  # (model, loading_info) on request
        model.get_input_embeddings().weight.requires_grad_(not model.config.freeze_embeddings)
        return loaded

    def load_embedding_matrix(self, matrix: np.ndarray | torch.Tensor) -> None:
        """Copy pretrained word vectors (rows aligned with the tokenizer's ids) into the embedding layer.

        The layer stays trainable unless `config.freeze_embeddings` is set.
        """
        embeddings = self.get_input_embeddings()
        matrix = torch.as_tensor(np.asarray(matrix), dtype=embeddings.weight.dtype)
        if tuple(matrix.shape) != tuple(embeddings.weight.shape):
            raise ValueError(
                f"embedding matrix must have shape (vocab_size, embedding_dim) = {tuple(embeddings.weight.shape)}; "
                f"got {tuple(matrix.shape)}"
            )
        with torch.no_grad():
            embeddings.weight.copy_(matrix)
        embeddings.weight.requires_grad_(not self.config.freeze_embeddings)


class GloveModel(GlovePreTrainedModel):
    """Embeds the words, averages the vectors of the real (unpadded) tokens, then applies the dense layers."""

    def __init__(self, config: GloveConfig):
        super().__init__(config)
        self.embeddings = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_token_id)
        self.embeddings.weight.requires_grad_(not config.freeze_embeddings)
        sizes = [config.embedding_dim, *config.hidden_sizes]
        self.dense = nn.ModuleList(nn.Linear(n_in, n_out) for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True))
        self.activation = ACT2FN[config.hidden_act]
        self.dropout = nn.Dropout(config.dropout)
        self.pooled_dim = sizes[-1]
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings = value
        self.embeddings.weight.requires_grad_(not self.config.freeze_embeddings)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutputWithPooling | tuple:
        r"""
        Returns `last_hidden_state` (the word vectors, `(batch, seq_len, embedding_dim)`) and `pooler_output` (the
        document vector, `(batch, pooled_dim)`). `token_type_ids` is accepted for tokenizers that emit it and ignored.
        Without an `attention_mask`, every token that is not `pad_token_id` counts.
        """
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()

        token_vectors = self.embeddings(input_ids)
        pooled = masked_mean(token_vectors, attention_mask)
        all_hidden = [token_vectors]
        for layer in self.dense:
            all_hidden.append(pooled.unsqueeze(1))
            pooled = self.activation(layer(self.dropout(pooled)))
        all_hidden.append(pooled.unsqueeze(1))

        output = BaseModelOutputWithPooling(
            last_hidden_state=token_vectors,
            pooler_output=pooled,
            hidden_states=tuple(all_hidden) if output_hidden_states else None,
        )
        return output if return_dict else output.to_tuple()


class GloveForSequenceClassification(GlovePreTrainedModel):
    """`GloveModel` plus dropout and a linear layer over the document vector; the loss is
    `problem_types.compute_loss`."""

    def __init__(self, config: GloveConfig):
        super().__init__(config)
        # save_pretrained lists only the saved class in auto_map; naming the encoder too lets AutoModel load it.
        config.auto_map = {"AutoModel": "modeling_glove.GloveModel", **(getattr(config, "auto_map", None) or {})}
        self.num_labels = config.num_labels
        self.glove = GloveModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(self.glove.pooled_dim, config.num_labels)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.glove.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.glove.set_input_embeddings(value)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> SequenceClassifierOutput | tuple:
        r"""
        labels (`torch.Tensor`, *optional*):
            Class indices `(batch_size,)` for single-label; multi-hot floats `(batch_size, num_labels)` for multi-label;
            values `(batch_size,)` for regression. The loss is `problem_types.compute_loss` (class weights included).
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.glove(
            input_ids,
            attention_mask=attention_mask,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = compute_loss(self.config, logits, labels) if labels is not None else None
        output = SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)
        return output if return_dict else output.to_tuple()


__all__ = ["GlovePreTrainedModel", "GloveModel", "GloveForSequenceClassification"]
