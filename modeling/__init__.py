"""What `run_classification.py` saves and loads: the word-vector models, their tokenizer and vectors, and the
transformer encoder with an MLP head.

Importing this package registers the GloVe, RNN and transformer-MLP models with transformers' Auto classes, so
`AutoModelForSequenceClassification.from_pretrained(folder)` finds them by `model_type`, and marks them for
`register_for_auto_class`, so that `save_pretrained` writes `auto_map` and copies the configuration and modeling
files next to the weights: the saved folder then loads anywhere with `trust_remote_code=True`, without this project.
"""

from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

from .configuration_glove import GloveConfig
from .configuration_lstm import LstmConfig
from .configuration_transformer_mlp import TransformerMlpConfig
from .modeling_glove import GloveForSequenceClassification, GloveModel
from .modeling_lstm import LstmForSequenceClassification, LstmModel
from .modeling_transformer_mlp import TransformerMlpForSequenceClassification

for _config, _model, _classifier in (
    (GloveConfig, GloveModel, GloveForSequenceClassification),
    (LstmConfig, LstmModel, LstmForSequenceClassification),
):
    # exist_ok: re-importing (importlib.reload, a second test session in one process) must not fail
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoModel.register(_config, _model, exist_ok=True)
    AutoModelForSequenceClassification.register(_config, _classifier, exist_ok=True)
    _config.register_for_auto_class()
    _model.register_for_auto_class("AutoModel")
    _classifier.register_for_auto_class("AutoModelForSequenceClassification")
# A transformer encoder with an MLP head (classifier_head "mlp"): its encoder is a stock AutoModel, so no AutoModel.
AutoConfig.register(TransformerMlpConfig.model_type, TransformerMlpConfig, exist_ok=True)
AutoModelForSequenceClassification.register(
    TransformerMlpConfig, TransformerMlpForSequenceClassification, exist_ok=True
)
TransformerMlpConfig.register_for_auto_class()
TransformerMlpForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")

__all__ = [
    "GloveConfig",
    "GloveModel",
    "GloveForSequenceClassification",
    "LstmConfig",
    "LstmModel",
    "LstmForSequenceClassification",
    "TransformerMlpConfig",
    "TransformerMlpForSequenceClassification",
]
