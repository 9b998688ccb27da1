"""The RNN classifier: padding changes nothing (the packed path is the reference), poolings, frozen vectors."""

import itertools

import numpy as np
import pytest
import torch
from torch.nn import functional
from torch.nn.utils.rnn import pack_padded_sequence
from transformers import AutoModelForSequenceClassification

from modeling import LstmConfig, LstmForSequenceClassification, LstmModel

CELLS, POOLINGS = ("lstm", "gru", "rnn"), ("last", "mean", "max")
TEXTS = [[2, 3, 4, 5], [6, 7], [8, 2, 3]]  # token ids of three texts of different lengths


def tiny_config(**overrides) -> LstmConfig:
    settings = {
        "vocab_size": 10,
        "embedding_dim": 4,
        "hidden_size": 3,
        "num_layers": 2,
        "bidirectional": True,
        "num_labels": 2,
    } | overrides
    return LstmConfig(**settings)


def padded_batch(texts: list[list[int]], extra_padding: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    length = max(map(len, texts)) + extra_padding
    input_ids = torch.tensor([text + [0] * (length - len(text)) for text in texts])
    return input_ids, (input_ids != 0).long()


@pytest.mark.parametrize(("cell", "pooling"), list(itertools.product(CELLS, POOLINGS)))
def test_padding_changes_nothing(cell, pooling):
    torch.manual_seed(0)
    model = LstmModel(tiny_config(cell=cell, pooling=pooling)).eval()
    input_ids, attention_mask = padded_batch(TEXTS)
    outputs = model(input_ids, attention_mask=attention_mask, output_hidden_states=True)
    document = outputs.hidden_states[-1][:, 0]
    assert document.shape == (3, 6)
    torch.testing.assert_close(document, outputs.pooler_output)
    more_padding = model(*padded_batch(TEXTS, extra_padding=6), output_hidden_states=True)
    torch.testing.assert_close(more_padding.hidden_states[-1][:, 0], document, rtol=0, atol=1e-6)
    # each text alone, with no padding at all, gets the same vector as in the padded batch
    for row, text in enumerate(TEXTS):
        alone = model(torch.tensor([text]), attention_mask=torch.ones(1, len(text), dtype=torch.long))
        torch.testing.assert_close(alone.pooler_output[0], document[row], rtol=0, atol=1e-6)
    # the per-token outputs are zero at padding
    assert torch.all(outputs.last_hidden_state[1, 2:] == 0)


@pytest.mark.parametrize("cell", CELLS)
def test_poolings_match_a_hand_computation_on_the_unpadded_text(cell):
    torch.manual_seed(1)
    text = torch.tensor([TEXTS[1]])
    input_ids, attention_mask = padded_batch(TEXTS)
    models = {pooling: LstmModel(tiny_config(cell=cell, pooling=pooling)).eval() for pooling in POOLINGS}
    for model in models.values():  # the same weights for every pooling
        model.load_state_dict(models["last"].state_dict())
    rnn = models["last"].rnn
    outputs, final = rnn(models["last"].embeddings(text))
    final_hidden = final[0] if cell == "lstm" else final
    expected = {
        "last": torch.cat([final_hidden[-2, 0], final_hidden[-1, 0]]),  # top layer, forward and backward
        "mean": outputs[0].mean(dim=0),
        "max": outputs[0].max(dim=0).values,
    }
    for pooling, model in models.items():
        pooled = model(input_ids, attention_mask=attention_mask).pooler_output[1]
        torch.testing.assert_close(pooled, expected[pooling], rtol=0, atol=1e-6)


def test_one_direction_one_layer_last_state_is_the_output_at_the_last_real_token():
    model = LstmModel(tiny_config(bidirectional=False, num_layers=1, cell="gru")).eval()
    outputs = model(*padded_batch(TEXTS), output_hidden_states=True)
    lengths = [len(text) for text in TEXTS]
    at_last_token = torch.stack([outputs.last_hidden_state[row, n - 1] for row, n in enumerate(lengths)])
    torch.testing.assert_close(outputs.pooler_output, at_last_token)
    assert [tuple(hidden.shape) for hidden in outputs.hidden_states] == [(3, 4, 4), (3, 4, 3), (3, 1, 3)]


def test_empty_texts_and_left_padding():
    model = LstmForSequenceClassification(tiny_config(pooling="max")).eval()
    empty = model(torch.tensor([[2, 3], [0, 0]]), attention_mask=torch.tensor([[1, 1], [0, 0]]))
    assert torch.isfinite(empty.logits).all()
    nothing = model(torch.zeros(2, 0, dtype=torch.long), attention_mask=torch.zeros(2, 0, dtype=torch.long))
    assert nothing.logits.shape == (2, 2) and torch.isfinite(nothing.logits).all()
    with pytest.raises(ValueError, match="right padding"):
        model(torch.tensor([[0, 2, 3]]), attention_mask=torch.tensor([[0, 1, 1]]))


def test_classifier_loss_token_type_ids_and_tuples():
    model = LstmForSequenceClassification(tiny_config(num_labels=3)).eval()
    input_ids, attention_mask = padded_batch(TEXTS)
    labels = torch.tensor([0, 2, 1])
    outputs = model(input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids), labels=labels)
    torch.testing.assert_close(outputs.loss, functional.cross_entropy(outputs.logits, labels))
    loss, logits = model(input_ids, attention_mask=attention_mask, labels=labels, return_dict=False)
    torch.testing.assert_close(logits, outputs.logits)


def test_frozen_embeddings_get_no_gradient():
    model = LstmForSequenceClassification(tiny_config(freeze_embeddings=True, embedding_init="pretrained"))
    model.load_embedding_matrix(np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32))
    model(*padded_batch(TEXTS), labels=torch.tensor([0, 1, 1])).loss.backward()
    assert model.get_input_embeddings().weight.grad is None
    assert model.lstm.rnn.weight_hh_l0.grad.abs().sum() > 0
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == sum(p.numel() for p in model.parameters()) - 40


def test_word_dropout_zeroes_whole_tokens_in_training_only():
    torch.manual_seed(4)
    model = LstmModel(tiny_config(embedding_dropout=0.5)).train()
    input_ids = torch.tensor([[2, 3, 4, 5, 6, 7, 8, 9] * 8])
    vectors = model.embeddings(input_ids)[0].detach()
    read = model(input_ids, output_hidden_states=True).hidden_states[0][0].detach()
    dropped = (read == 0).all(dim=-1)
    assert 0 < dropped.sum() < len(dropped)  # some tokens dropped, some kept, out of 64
    torch.testing.assert_close(read[~dropped], 2 * vectors[~dropped])  # the kept ones scaled by 1 / (1 - 0.5)
    model.eval()
    torch.testing.assert_close(model(input_ids, output_hidden_states=True).hidden_states[0][0], vectors)


def test_initialisation():
    model = LstmForSequenceClassification(tiny_config(cell="lstm"))
    rnn = model.lstm.rnn
    torch.testing.assert_close(rnn.bias_ih_l0[3:6], torch.ones(3))  # forget gate
    assert torch.all(rnn.bias_ih_l0[:3] == 0) and torch.all(rnn.bias_hh_l0 == 0)
    weight_hh = rnn.weight_hh_l0.detach()  # (4 gates x 3, 3) with orthonormal columns
    torch.testing.assert_close(weight_hh.T @ weight_hh, torch.eye(3), rtol=0, atol=1e-5)
    assert torch.all(model.get_input_embeddings().weight[0] == 0)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"cell": "transformer"}, "cell must be one of 'lstm', 'gru', 'rnn'; got 'transformer'"),
        ({"pooling": "first"}, "pooling must be one of 'last', 'mean', 'max'; got 'first'"),
        ({"embedding_init": "zeros"}, "embedding_init must be one of 'pretrained', 'random'; got 'zeros'"),
        ({"num_layers": 0}, "num_layers must be a positive integer; got 0"),
        ({"hidden_size": 2.5}, "hidden_size must be a positive integer; got 2.5"),
        ({"bidirectional": 1}, "bidirectional must be true or false; got 1"),
        ({"dropout": -0.1}, r"dropout must be a number in \[0, 1\); got -0.1"),
        ({"embedding_dropout": 1.0}, r"embedding_dropout must be a number in \[0, 1\); got 1.0"),
    ],
)
def test_config_rejects_bad_settings_by_name(setting, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**setting)


def test_save_and_load_keep_weights_and_frozen_embeddings(tmp_path):
    config = tiny_config(cell="gru", pooling="mean", freeze_embeddings=True)
    model = LstmForSequenceClassification(config).eval()
    model.save_pretrained(tmp_path)
    assert {"configuration_lstm.py", "modeling_lstm.py"} <= {p.name for p in tmp_path.iterdir()}
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert type(loaded) is LstmForSequenceClassification and loaded.config.cell == "gru"
    assert not loaded.get_input_embeddings().weight.requires_grad
    input_ids, attention_mask = padded_batch(TEXTS)
    expected = model(input_ids, attention_mask=attention_mask).logits
    torch.testing.assert_close(loaded(input_ids, attention_mask=attention_mask).logits, expected, rtol=0, atol=0)


MIXED_TEXTS = [*TEXTS, [9], [], [2, 3, 4, 5, 6, 7, 8]]  # lengths 4, 2, 3, 1, 0 (all padding) and 7


def packed_reference(monkeypatch) -> None:
    """Make LstmModel read packed sequences, as it did before it read padded batches: the reference."""
    monkeypatch.setattr(LstmModel, "_run_padded", LstmModel._run_packed)


@pytest.mark.parametrize(
    ("cell", "num_layers", "bidirectional", "pooling"),
    list(itertools.product(CELLS, (1, 2), (False, True), POOLINGS)),
)
def test_the_padded_path_gives_the_packed_numbers(cell, num_layers, bidirectional, pooling, monkeypatch):
    torch.manual_seed(2)
    settings = {"cell": cell, "num_layers": num_layers, "bidirectional": bidirectional, "pooling": pooling}
    model = LstmForSequenceClassification(tiny_config(**settings, num_labels=3)).eval()
    input_ids, attention_mask = padded_batch(MIXED_TEXTS, extra_padding=2)
    outputs = model(input_ids, attention_mask=attention_mask, output_hidden_states=True)
    packed_reference(monkeypatch)
    expected = model(input_ids, attention_mask=attention_mask, output_hidden_states=True)
    torch.testing.assert_close(outputs.logits, expected.logits, rtol=0, atol=1e-6)
    # the per-token outputs and the pooled document vector (the class-separation embedding)
    for got, packed in zip(outputs.hidden_states, expected.hidden_states, strict=True):
        torch.testing.assert_close(got, packed, rtol=0, atol=1e-6)


@pytest.mark.parametrize(("cell", "bidirectional"), [("lstm", True), ("gru", False), ("rnn", True)])
def test_training_gives_the_packed_loss_and_gradients(cell, bidirectional, monkeypatch):
    """Training reads the padded batch (never the packed one) and gets the packed path's loss and gradients;
    the classifier's dropout draws the same mask in both."""
    settings = {"cell": cell, "bidirectional": bidirectional, "num_layers": 1, "pooling": "last", "dropout": 0.5}
    model = LstmForSequenceClassification(tiny_config(**settings)).train()
    input_ids, attention_mask = padded_batch(MIXED_TEXTS, extra_padding=1)
    labels = torch.tensor([0, 1, 1, 0, 1, 0])

    def loss_and_gradients() -> tuple[torch.Tensor, tuple[torch.Tensor | None, ...]]:
        torch.manual_seed(3)
        loss = model(input_ids, attention_mask=attention_mask, labels=labels).loss
        return loss, torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)

    with monkeypatch.context() as patch:
        patch.setattr(LstmModel, "_run_packed", lambda *args: pytest.fail("packed path in training"))
        loss, gradients = loss_and_gradients()
    packed_reference(monkeypatch)
    expected_loss, expected_gradients = loss_and_gradients()
    torch.testing.assert_close(loss, expected_loss, rtol=0, atol=1e-6)
    for got, expected in zip(gradients, expected_gradients, strict=True):
        assert (got is None) == (expected is None)
        if got is not None:
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_the_packed_reference_matches_nn_lstm_on_packed_sequences_by_hand():
    """The reference itself: `_run_packed` is nn.LSTM on `pack_padded_sequence`."""
    model = LstmForSequenceClassification(tiny_config(cell="lstm", pooling="last")).eval()
    input_ids, attention_mask = padded_batch(TEXTS)
    token_vectors = model.lstm.embeddings(input_ids)
    _, final = model.lstm._run_packed(token_vectors, attention_mask.sum(dim=1))
    packed = pack_padded_sequence(token_vectors, [4, 2, 3], batch_first=True, enforce_sorted=False)
    (final_h, _) = model.lstm.rnn(packed)[1]
    torch.testing.assert_close(final, torch.cat([final_h[-2], final_h[-1]], dim=-1), rtol=0, atol=0)
