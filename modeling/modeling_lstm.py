"""RNN text classifier: word embeddings read by an LSTM, GRU or Elman RNN, pooled into one document vector.

Shaped like transformers' BERT: `LstmModel` is the encoder, `LstmForSequenceClassification` adds the head and the
loss, and `output_hidden_states=True` ends `hidden_states` with the document vector as a one-token sequence, so
`outputs.hidden_states[-1][:, 0]` is the document embedding here just as it is the [CLS] vector for BERT.

The recurrent layers read the padded batch, one layer and direction at a time, so that PyTorch takes its fast
whole-sequence kernel (oneDNN's for the LSTM; packed sequences take a per-step loop several times slower), and
still never mix padding into a text: padding is on the right, so the forward direction reaches every real token
before any padding, and the backward direction reads each text reversed within its own length
(`LstmModel._run_padded`). The outputs equal those of the packed sequence (`_run_packed`, kept as the reference
the tests compare with) and do not depend on how much a batch is padded. The same steps trace under
`torch.export`, so the ONNX graph computes what training computed.

This file and `configuration_lstm.py` are copied next to the weights by `save_pretrained`; it imports nothing
from this project but `problem_types.py` (the loss; `save_pretrained` copies it too, as a relative import), so
that `from_pretrained(..., trust_remote_code=True)` works anywhere.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPooling, SequenceClassifierOutput

from .configuration_lstm import LstmConfig
from .problem_types import compute_loss

RNN_CLASSES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
# saturates the sigmoid to exactly 1 (or 0 when negated) in float32 and below
SATURATING_GATE_BIAS = 1e4


class LstmPreTrainedModel(PreTrainedModel):
    config_class = LstmConfig
    config: LstmConfig
    base_model_prefix = "lstm"
    main_input_name = "input_ids"

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Normal(0, initializer_range) embeddings with a zero padding row; Xavier-uniform linear layers (BERT's
        normal(0, 0.02) suits 768-wide layers, not these narrow ones); for the recurrent layers Xavier input weights,
        orthogonal recurrent weights (stable gradients through time), zero biases and, for LSTMs, a forget-gate
        bias of 1 so that early training remembers rather than forgets.

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
        elif isinstance(module, nn.RNNBase):
            for name, param in module.named_parameters():
                if name.startswith("weight_ih"):
                    init.xavier_uniform_(param)
                elif name.startswith("weight_hh"):
                    init.orthogonal_(param)
                elif name.startswith("bias"):
                    init.zeros_(param)
                    if isinstance(module, nn.LSTM) and name.startswith("bias_ih"):
                        # gates are stacked as (input, forget, cell, output)
                        hidden = module.hidden_size
                        if not getattr(param, "_is_hf_initialized", False):
                            init.ones_(param[hidden : 2 * hidden])

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


class LstmModel(LstmPreTrainedModel):
    """Embeds the words, runs the recurrent layers over each text's real tokens and pools the outputs."""

    def __init__(self, config: LstmConfig):
        super().__init__(config)
        self.embeddings = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_token_id)
        self.embeddings.weight.requires_grad_(not config.freeze_embeddings)
        self.rnn = RNN_CLASSES[config.cell](
            input_size=config.embedding_dim,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            bidirectional=config.bidirectional,
            # torch applies this between stacked layers only, and warns when there is just one
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.num_directions = 2 if config.bidirectional else 1
        self.pooled_dim = config.hidden_size * self.num_directions
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
        Returns `last_hidden_state` (the top layer's outputs, `(batch, seq_len, pooled_dim)`, zero at padding) and
        `pooler_output` (the document vector, `(batch, pooled_dim)`). Padding must be on the right, as the word
        tokenizer pads. `token_type_ids` is accepted for tokenizers that emit it and ignored. Without an
        `attention_mask`, every token that is not `pad_token_id` counts.
        """
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        if input_ids.shape[1] == 0:  # a batch of empty texts: read one padding token instead of nothing
            input_ids = input_ids.new_full((input_ids.shape[0], 1), self.config.pad_token_id)
            attention_mask = torch.zeros_like(input_ids)
        exporting = torch.compiler.is_exporting()
        # a data-dependent check torch.export cannot trace: exported graphs trust the tokenizer's right padding
        if not exporting and (attention_mask[:, 1:] > attention_mask[:, :-1]).any():
            raise ValueError("LstmModel needs right padding: attention_mask rows must be ones followed by zeros")

        seq_len = input_ids.shape[1]
        # an empty text is read as its first (padding) token, as packing (which needs one step per row) reads it
        lengths = attention_mask.sum(dim=1).clamp(min=1)
        token_vectors = self._drop_words(self.embeddings(input_ids))
        outputs, final_states = self._run_padded(token_vectors, lengths)

        if self.config.pooling == "last":
            pooled = final_states
        else:
            steps = torch.arange(seq_len, device=input_ids.device)
            real = (steps[None, :] < lengths[:, None]).unsqueeze(-1)
            if self.config.pooling == "mean":
                pooled = (outputs * real).sum(dim=1) / lengths[:, None].to(outputs.dtype)
            else:
                pooled = outputs.masked_fill(~real, torch.finfo(outputs.dtype).min).amax(dim=1)

        output = BaseModelOutputWithPooling(
            last_hidden_state=outputs,
            pooler_output=pooled,
            hidden_states=(token_vectors, outputs, pooled.unsqueeze(1)) if output_hidden_states else None,
        )
        return output if return_dict else output.to_tuple()

    def _drop_words(self, token_vectors: torch.Tensor) -> torch.Tensor:
        """Word dropout in training (`config.embedding_dropout`): whole token vectors zeroed, the others scaled up.
        One mask entry per token, broadcast over the vector's width."""
        if not self.training or not self.config.embedding_dropout:
            return token_vectors
        keep = token_vectors.new_ones(*token_vectors.shape[:2], 1)
        return token_vectors * nn.functional.dropout(keep, self.config.embedding_dropout, training=True)

    def _run_packed(self, token_vectors: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The top layer's outputs (zero at padding) and its final states (the directions concatenated), read
        packed so that the recurrent network never sees padding. Kept as the reference `_run_padded` must equal
        (the tests compare them): several times slower to train on CPU, where packed sequences miss the
        whole-sequence kernels."""
        packed = pack_padded_sequence(token_vectors, lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_outputs, final_state = self.rnn(packed)
        outputs, _ = pad_packed_sequence(packed_outputs, batch_first=True, total_length=token_vectors.shape[1])
        final_hidden = final_state[0] if isinstance(final_state, tuple) else final_state  # LSTM: (h, c)
        # (num_layers * directions, batch, hidden): the top layer's forward (and backward) final states
        return outputs, torch.cat(list(final_hidden[-self.num_directions :]), dim=-1)

    def _run_padded(self, token_vectors: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What `_run_packed` returns, computed on the padded batch with shape-independent steps only.

        Each layer and direction runs on its own, over the whole padded length in one kernel call. Padding is on
        the right, so the forward direction reaches every real token before any padding: its outputs there are
        the packed ones, and its final state is the output at the last real token. The backward direction reads
        each text reversed within its own length (padding stays at the end), and its outputs are put back in text
        order the same way. Outputs at padding are garbage until the final masking; no real step reads them.
        """
        batch_size, seq_len, _ = token_vectors.shape
        steps = torch.arange(seq_len, device=token_vectors.device)[None, :]
        real = steps < lengths[:, None]
        # reverses the real tokens of each row and leaves its padding in place; its own inverse. Taken as rows of
        # the (batch * seq_len, width) matrix: with gather instead (scatter_add backward) a BiLSTM step took ~2x.
        row_starts = torch.arange(batch_size, device=token_vectors.device)[:, None] * seq_len
        reverse = (row_starts + torch.where(real, lengths[:, None] - 1 - steps, steps)).reshape(-1)
        last_real = row_starts[:, 0] + lengths - 1

        layer_input = token_vectors
        for layer in range(self.config.num_layers):
            if layer > 0:  # nn.RNNBase's dropout between stacked layers
                layer_input = nn.functional.dropout(layer_input, self.rnn.dropout, self.training)
            outputs, final_states = [], []
            for direction in range(self.num_directions):
                weights = self.rnn.all_weights[layer * self.num_directions + direction]  # w_ih, w_hh, b_ih, b_hh
                backward = direction == 1
                cell_input = _take_steps(layer_input, reverse) if backward else layer_input
                cell_output = _run_one_direction(self.config.cell, cell_input, weights, self.training)
                final_states.append(_take_steps(cell_output, last_real)[:, 0])
                outputs.append(_take_steps(cell_output, reverse) if backward else cell_output)
            layer_input = torch.cat(outputs, dim=-1)
        return layer_input * real.unsqueeze(-1), torch.cat(final_states, dim=-1)


def _run_one_direction(cell: str, inputs: torch.Tensor, weights: list[torch.Tensor], train: bool) -> torch.Tensor:
    """The outputs of one recurrent layer reading `inputs` (batch first) from zero states, as nn.LSTM, nn.GRU and
    nn.RNN compute them: one operator for the whole sequence, which torch.export keeps with a dynamic length."""
    initial = inputs.new_zeros(1, inputs.shape[0], weights[1].shape[1])
    # (input, hx, weights, has_biases, num_layers, dropout, train, bidirectional, batch_first) -> (outputs, state)
    if cell == "lstm":
        return torch.lstm(inputs, [initial, initial], weights, True, 1, 0.0, train, False, True)[0]
    if cell == "rnn":
        if not torch.compiler.is_exporting():
            return torch.rnn_tanh(inputs, initial, weights, True, 1, 0.0, train, False, True)[0]
        # torch.export unrolls the Elman RNN over time, fixing the length; as a GRU (3x the work) it does not
        weights = _elman_as_gru(*weights)
    return torch.gru(inputs, initial, weights, True, 1, 0.0, train, False, True)[0]


def _elman_as_gru(w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor, b_hh: torch.Tensor) -> list[torch.Tensor]:
    """GRU weights that compute the tanh Elman RNN with these weights, to rounding.

    With zero weights and saturating biases the GRU's reset gate is exactly 1 and its update gate exactly 0, so
    its new state is its candidate `tanh(W_in x + b_in + W_hn h + b_hn)`: the Elman RNN's update.
    """
    hidden = w_hh.shape[1]
    gate_bias = torch.full((hidden,), SATURATING_GATE_BIAS, dtype=b_ih.dtype, device=b_ih.device)
    # torch stacks the GRU's gates as (reset, update, candidate)
    return [
        torch.cat([w_ih.new_zeros(2 * hidden, w_ih.shape[1]), w_ih]),
        torch.cat([w_hh.new_zeros(2 * hidden, hidden), w_hh]),
        torch.cat([gate_bias, -gate_bias, b_ih]),
        torch.cat([b_hh.new_zeros(2 * hidden), b_hh]),
    ]


def _take_steps(sequences: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Steps of (batch, seq, width) `sequences` picked by their row in the flattened (batch * seq, width) matrix,
    `rows` holding the same number of steps for each text, in text order: (batch, steps per text, width)."""
    batch_size, seq_len, width = sequences.shape
    return sequences.reshape(batch_size * seq_len, width).index_select(0, rows).view(batch_size, -1, width)


class LstmForSequenceClassification(LstmPreTrainedModel):
    """`LstmModel` plus dropout and a linear layer over the document vector; the loss is
    `problem_types.compute_loss`."""

    def __init__(self, config: LstmConfig):
        super().__init__(config)
        # save_pretrained lists only the saved class in auto_map; naming the encoder too lets AutoModel load it.
        config.auto_map = {"AutoModel": "modeling_lstm.LstmModel", **(getattr(config, "auto_map", None) or {})}
        self.num_labels = config.num_labels
        self.lstm = LstmModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(self.lstm.pooled_dim, config.num_labels)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.lstm.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.lstm.set_input_embeddings(value)

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
        outputs = self.lstm(
            input_ids,
            attention_mask=attention_mask,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = compute_loss(self.config, logits, labels) if labels is not None else None
        output = SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)
        return output if return_dict else output.to_tuple()


__all__ = ["LstmPreTrainedModel", "LstmModel", "LstmForSequenceClassification"]
