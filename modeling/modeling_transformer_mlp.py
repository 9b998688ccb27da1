"""A pretrained transformer encoder with an MLP classification head, for `classifier_head: "mlp"`.

Why one wrapper model and not a swapped head inside BertForSequenceClassification & co.: each architecture names
and shapes its head differently (BERT: pooler + `classifier`; RoBERTa: `RobertaClassificationHead`; DistilBERT:
`pre_classifier` + `classifier`), and a saved folder whose config says `model_type: "bert"` is rebuilt by
`AutoModelForSequenceClassification` (and so by `pipeline`) with BERT's linear head, silently dropping a replaced
one. Here the head lives in a model of its own type, `textcls-transformer-mlp`, whose config holds the backbone's
config (`encoder`) and the head's settings, so a folder or a Hub repo reloads with the same layers:

- inside this project, `import modeling` registers the model with the Auto classes;
- elsewhere, `save_pretrained` writes `auto_map` and copies this file and its configuration, so
  `from_pretrained(repo, trust_remote_code=True)` rebuilds it; the encoder itself is stock transformers code.

The encoder sits under its usual attribute (`bert`, `roberta`, `distilbert`) and `base_model_prefix` follows it,
so the weights are named as in the architecture's own classifier: `from_pretrained(hub_id_or_folder,
config=TransformerMlpConfig(...))` reads the pretrained encoder from a plain backbone (e.g. MiniLM) or a
ForSequenceClassification checkpoint and starts the head fresh, and LoRA finds `query`/`value` where it always does.

The head reads the encoder's first-token vector ([CLS] / <s>), as RoBERTa's and DistilBERT's heads do; BERT's
pooler is left out (not built) since the dense layers take its place. With `output_hidden_states=True` the
outputs of the dense layers follow the encoder's layers in `hidden_states`, each as a one-token sequence, so
`hidden_states[-1][:, 0]` is the vector the output layer classifies: the document embedding, as for every other
model of this project.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn
from transformers import AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.models.auto.modeling_auto import MODEL_MAPPING

from .configuration_transformer_mlp import TransformerMlpConfig


class MlpHead(nn.Module):
    """Dropout, then dense + activation per hidden size, then dropout and the output layer."""

    def __init__(self, config: TransformerMlpConfig, input_size: int):
        super().__init__()
        sizes = [input_size, *config.classifier_hidden_sizes]
        self.layers = nn.ModuleList(nn.Linear(n_in, n_out) for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True))
        self.activation = ACT2FN[config.classifier_activation]
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.output = nn.Linear(sizes[-1], config.num_labels)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The logits, and the output of every dense layer."""
        hidden = []
        for layer in self.layers:
            features = self.activation(layer(self.dropout(features)))
            hidden.append(features)
        return self.output(self.dropout(features)), hidden


def build_encoder(config) -> PreTrainedModel:
    """The bare backbone for `config`, without a pooler where the architecture has an optional one."""
    encoder_class = MODEL_MAPPING[type(config)]
    if "add_pooling_layer" in inspect.signature(encoder_class.__init__).parameters:
        return AutoModel.from_config(config, add_pooling_layer=False)
    return AutoModel.from_config(config)


class TransformerMlpPreTrainedModel(PreTrainedModel):
    config_class = TransformerMlpConfig
    config: TransformerMlpConfig
    base_model_prefix = "encoder"  # replaced per instance by the backbone's own prefix (see the module docstring)
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True  # the encoder's layers checkpoint themselves; the head is small
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """The head's linear layers: Xavier-uniform, zero biases. BERT's normal(0, 0.02) would shrink the signal
        through each narrower layer of a stack and starve its lower layers of gradient. The encoder initialises its
        own modules (and tensors read from a checkpoint are not touched)."""
        if isinstance(module, nn.Linear):
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)


class TransformerMlpForSequenceClassification(TransformerMlpPreTrainedModel):
    """An `AutoModel` encoder, its first-token vector, an `MlpHead`; the loss is BERT's."""

    def __init__(self, config: TransformerMlpConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        encoder = build_encoder(config.encoder)
        # The checkpoint's names: bert.*, roberta.*, distilbert.* (a bare backbone's keys get the prefix on load).
        self.base_model_prefix = encoder.base_model_prefix or "encoder"
        setattr(self, self.base_model_prefix, encoder)
        self._encoder_inputs = set(inspect.signature(encoder.forward).parameters)
        self.classifier = MlpHead(config, config.encoder.hidden_size)
        self.post_init()

    @property
    def encoder_model(self) -> PreTrainedModel:
        return getattr(self, self.base_model_prefix)

    def get_input_embeddings(self) -> nn.Module:
        return self.encoder_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.encoder_model.set_input_embeddings(value)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> SequenceClassifierOutput | tuple:
        r"""
        token_type_ids (`torch.LongTensor`, *optional*):
            Passed on to encoders that take them (BERT); dropped for those that do not (DistilBERT), so any
            tokenizer's output can be given as it is.
        labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
            Class indices for cross-entropy; a float tensor for regression (`num_labels == 1`) or multi-label.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        extra = {}
        if token_type_ids is not None and "token_type_ids" in self._encoder_inputs:
            extra["token_type_ids"] = token_type_ids
        outputs = self.encoder_model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            **extra,
        )
        logits, head_hidden = self.classifier(outputs.last_hidden_state[:, 0])
        loss = None
        if labels is not None:
            loss = self.loss_function(labels=labels, pooled_logits=logits, config=self.config)
        hidden_states = None
        if output_hidden_states:
            hidden_states = tuple(outputs.hidden_states) + tuple(layer.unsqueeze(1) for layer in head_hidden)
        output = SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=hidden_states, attentions=outputs.attentions
        )
        return output if return_dict else output.to_tuple()


__all__ = ["TransformerMlpPreTrainedModel", "TransformerMlpForSequenceClassification"]
