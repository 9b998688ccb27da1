"""The GloVe mean-pool classifier: masked pooling, the document vector in hidden_states, frozen vectors, loss."""

import numpy as np
import pytest
import torch
from torch.nn import functional
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

from modeling import GloveConfig, GloveForSequenceClassification, GloveModel

# two texts of 3 and 1 words, padded to 5 with [PAD] = 0
INPUT_IDS = torch.tensor([[2, 3, 4, 0, 0], [5, 0, 0, 0, 0]])
ATTENTION_MASK = torch.tensor([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])


def tiny_config(**overrides) -> GloveConfig:
    settings = {"vocab_size": 8, "embedding_dim": 4, "num_labels": 3, "dropout": 0.0} | overrides
    return GloveConfig(**settings)


def test_masked_mean_is_the_mean_of_the_real_tokens_only():
    model = GloveModel(tiny_config()).eval()
    table = torch.arange(32, dtype=torch.float32).reshape(8, 4)
    model.load_embedding_matrix(table.numpy())
    outputs = model(INPUT_IDS, attention_mask=ATTENTION_MASK, output_hidden_states=True)
    expected = torch.stack([(table[2] + table[3] + table[4]) / 3, table[5]])
    torch.testing.assert_close(outputs.pooler_output, expected)
    # the document vector is the last hidden state, one "token" long, like BERT's [CLS]
    torch.testing.assert_close(outputs.hidden_states[-1][:, 0], expected)
    assert outputs.hidden_states[0].shape == (2, 5, 4)
    # more padding, or no mask at all (padding is inferred from pad_token_id), changes nothing
    padded = torch.nn.functional.pad(INPUT_IDS, (0, 7))
    torch.testing.assert_close(model(padded, attention_mask=(padded != 0).long()).pooler_output, expected)
    torch.testing.assert_close(model(INPUT_IDS).pooler_output, expected)


def test_dense_layers_and_the_hidden_states_tuple():
    model = GloveForSequenceClassification(tiny_config(hidden_sizes=[6, 5], hidden_act="tanh")).eval()
    outputs = model(INPUT_IDS, attention_mask=ATTENTION_MASK, output_hidden_states=True)
    shapes = [tuple(hidden.shape) for hidden in outputs.hidden_states]
    assert shapes == [(2, 5, 4), (2, 1, 4), (2, 1, 6), (2, 1, 5)]
    assert outputs.logits.shape == (2, 3)
    document = outputs.hidden_states[-1][:, 0]
    torch.testing.assert_close(outputs.logits, model.classifier(document))
    assert model(INPUT_IDS, attention_mask=ATTENTION_MASK).hidden_states is None


def test_token_type_ids_are_accepted_and_tuples_returned_on_request():
    model = GloveForSequenceClassification(tiny_config()).eval()
    expected = model(INPUT_IDS, attention_mask=ATTENTION_MASK).logits
    outputs = model(INPUT_IDS, attention_mask=ATTENTION_MASK, token_type_ids=torch.zeros_like(INPUT_IDS))
    torch.testing.assert_close(outputs.logits, expected)
    as_tuple = model(INPUT_IDS, attention_mask=ATTENTION_MASK, labels=torch.tensor([0, 2]), return_dict=False)
    assert isinstance(as_tuple, tuple) and as_tuple[0].ndim == 0
    torch.testing.assert_close(as_tuple[1], expected)


def test_losses_are_berts():
    model = GloveForSequenceClassification(tiny_config()).eval()
    labels = torch.tensor([2, 0])
    outputs = model(INPUT_IDS, attention_mask=ATTENTION_MASK, labels=labels)
    torch.testing.assert_close(outputs.loss, functional.cross_entropy(outputs.logits, labels))
    assert model.config.problem_type == "single_label_classification"

    regression = GloveForSequenceClassification(tiny_config(num_labels=1)).eval()
    targets = torch.tensor([0.5, -1.0])
    outputs = regression(INPUT_IDS, attention_mask=ATTENTION_MASK, labels=targets)
    torch.testing.assert_close(outputs.loss, functional.mse_loss(outputs.logits.squeeze(), targets))

    multi = GloveForSequenceClassification(tiny_config()).eval()
    targets = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    outputs = multi(INPUT_IDS, attention_mask=ATTENTION_MASK, labels=targets)
    torch.testing.assert_close(outputs.loss, functional.binary_cross_entropy_with_logits(outputs.logits, targets))


def test_frozen_embeddings_get_no_gradient_and_trainable_ones_do():
    frozen = GloveForSequenceClassification(tiny_config(freeze_embeddings=True, hidden_sizes=[4], hidden_act="tanh"))
    frozen.load_embedding_matrix(np.ones((8, 4), dtype=np.float32))
    frozen(INPUT_IDS, attention_mask=ATTENTION_MASK, labels=torch.tensor([0, 1])).loss.backward()
    assert not frozen.get_input_embeddings().weight.requires_grad
    assert frozen.get_input_embeddings().weight.grad is None
    assert frozen.classifier.weight.grad is not None and frozen.glove.dense[0].weight.grad.abs().sum() > 0

    trainable = GloveForSequenceClassification(tiny_config())
    trainable(INPUT_IDS, attention_mask=ATTENTION_MASK, labels=torch.tensor([0, 1])).loss.backward()
    gradient = trainable.get_input_embeddings().weight.grad
    assert gradient[[2, 3, 4, 5]].abs().sum() > 0
    assert gradient[[0, 1, 6, 7]].abs().sum() == 0  # padding and unused words get nothing


def test_initial_weights_and_loading_a_matrix():
    model = GloveForSequenceClassification(tiny_config(initializer_range=0.5))
    weight = model.get_input_embeddings().weight
    assert torch.all(weight[0] == 0) and 0.2 < weight[1:].std() < 1.0
    assert torch.all(model.classifier.bias == 0)
    with pytest.raises(ValueError, match=r"shape \(vocab_size, embedding_dim\) = \(8, 4\); got \(8, 5\)"):
        model.load_embedding_matrix(np.zeros((8, 5)))


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"hidden_act": "swish2"}, "hidden_act must be one of 'relu', 'gelu', 'tanh', 'silu'; got 'swish2'"),
        ({"dropout": 1.0}, r"dropout must be a number in \[0, 1\); got 1.0"),
        ({"hidden_sizes": [4, 0]}, "every entry of hidden_sizes must be a positive integer; got 0"),
        ({"embedding_dim": 0}, "embedding_dim must be a positive integer; got 0"),
        ({"freeze_embeddings": "yes"}, "freeze_embeddings must be true or false; got 'yes'"),
        ({"embedding_init": "glove"}, "embedding_init must be one of 'pretrained', 'random'; got 'glove'"),
    ],
)
def test_config_rejects_bad_settings_by_name(setting, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**setting)


def test_auto_classes_and_save_pretrained(tmp_path):
    config = tiny_config(hidden_sizes=[5], freeze_embeddings=True, id2label={0: "a", 1: "b", 2: "c"})
    assert isinstance(AutoConfig.for_model("textcls-glove"), GloveConfig)
    assert isinstance(AutoModel.from_config(config), GloveModel)
    model = AutoModelForSequenceClassification.from_config(config).eval()
    model.save_pretrained(tmp_path)
    assert {"configuration_glove.py", "modeling_glove.py", "config.json"} <= {p.name for p in tmp_path.iterdir()}
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is GloveForSequenceClassification
    assert loaded.config.hidden_sizes == [5] and loaded.config.id2label[2] == "c"
    assert loaded.config.auto_map["AutoModelForSequenceClassification"] == (
        "modeling_glove.GloveForSequenceClassification"
    )
    assert not loaded.get_input_embeddings().weight.requires_grad
    torch.testing.assert_close(loaded(INPUT_IDS).logits, model(INPUT_IDS).logits, rtol=0, atol=0)
