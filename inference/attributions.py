"""Which tokens of a text made a saved classifier choose a class: integrated gradients or LIME, through Captum.

What is explained depends on the problem type (`modeling.problem_types`): single-label, the probability of a class
(default: the predicted one); multi-label, the sigmoid probability of one label (default: each predicted label, or
the most probable one when none reaches its threshold: see `labels_to_explain`); regression, the predicted value
itself (the single output). A pair model's two texts are read together and shown one after the other.

The text is read as the model reads it: `TextClassifier` cleans it (as training did) and cuts it to the recorded
length, and the attributions are computed on exactly those token ids. Word pieces are summed into the words they
came from, so a transformer's "astro ##nomers" shows as one token; the special tokens ([CLS], [SEP]) are not shown.

- integrated gradients (default): gradients of the class probability along a straight path in embedding space
  from a baseline where every word is the padding token to the text (`LayerIntegratedGradients` on
  `model.get_input_embeddings()`), so it works for every family, transformer, GloVe mean-pool and RNN alike.
- LIME: a weighted ridge regression of the class probability on which words were kept, over random subsets of
  words with the others replaced by the padding token (`captum.attr.Lime`). Slower and noisier here; see the
  comparison in benchmarks/README.md.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from captum._utils.models.linear_model import SkLearnRidge
from captum.attr import LayerIntegratedGradients, Lime

from modeling import problem_types
from textcls_errors import TextclsError

METHODS = ("integrated_gradients", "lime")
LIME_KERNEL_WIDTH = 25  # LimeTextExplainer's default kernel_width
PAIR_DISPLAY_SEPARATOR = " ‖ "  # between a pair's two texts on pages and in `TokenAttributions.text`


@dataclass
class TokenAttributions:
    """Signed attributions toward `label`, one per displayed token of the text as the model read it."""

    text: str  # the text as the model read it (after the recorded text cleaning)
    tokens: list[str]  # tokens to display, in reading order (word pieces merged into words)
    scores: list[float]  # signed attribution toward `label`, one per token (positive = evidence for label)
    label: str  # the class or label explained (regression: the name of the predicted value)
    probability: float  # the model's probability of that class or label (regression: the predicted value)
    method: str  # "integrated_gradients" or "lime"
    offsets: list[tuple[int, int]] = field(default_factory=list)  # each token's characters in `text`
    explains: str = "probability"  # what `probability` holds: "probability" (of a class or label) or "value"
    # the characters of `text` cut away by max_length (never read): one span for a text (its tail, head or middle),
    # up to one per text for a pair (the longest-first cut may shorten both)
    unread: list[tuple[int, int]] = field(default_factory=list)

    def top(self, k: int) -> list[tuple[str, float, int]]:
        """The k words with the largest absolute attribution, largest first, as (word, score, occurrences): a word
        that occurs several times counts once, with the sum of its scores (a mean-pool model scores every occurrence
        alike, and the list would otherwise repeat one word)."""
        totals: dict[str, float] = {}
        counts: dict[str, int] = {}
        for token, score in zip(self.tokens, self.scores, strict=True):
            totals[token] = totals.get(token, 0.0) + score
            counts[token] = counts.get(token, 0) + 1
        words = sorted(totals, key=lambda word: -abs(totals[word]))[:k]
        return [(word, totals[word], counts[word]) for word in words]


@dataclass
class EncodedText:
    """One text as the classifier reads it: token ids, the other model inputs, and the displayed words."""

    text: str
    input_ids: torch.Tensor  # (1, length)
    extras: dict[str, torch.Tensor]  # attention_mask, token_type_ids: (1, length)
    words: list[list[int]]  # for each displayed token, the positions of its ids
    tokens: list[str]
    offsets: list[tuple[int, int]]
    pad_token_id: int
    unread: list[tuple[int, int]]  # characters the length cut left out (see TokenAttributions.unread)


def _kept_positions(ids: list[int], full_ids: list[int]) -> list[int]:
    """Where each id the tokenizer kept sits in the uncut encoding of the same text: the kept ids are a prefix of it
    plus a suffix (a head, tail or head+tail cut), so the cut itself stays the tokenizer's."""
    head = 0
    while head < min(len(ids), len(full_ids)) and ids[head] == full_ids[head]:
        head += 1
    positions = list(range(head)) + list(range(len(full_ids) - (len(ids) - head), len(full_ids)))
    if [full_ids[p] for p in positions] != list(ids):  # cannot happen for a head/tail cut; a guard, not a user error
        raise RuntimeError("could not align the classifier's token ids with the tokenizer's offsets")
    return positions


def _span_of(offsets: list[tuple[int, int]], shift: int = 0) -> list[tuple[int, int]]:
    """The characters covered by the offsets of the ids the cut dropped: [] or one (start, end) span."""
    if not offsets:
        return []
    return [(min(start for start, _ in offsets) + shift, max(end for _, end in offsets) + shift)]


def encode(classifier, text: str, text_pair: str | None = None) -> EncodedText:
    """Clean and cut `text` exactly as `classifier.predict` does, and group its ids into words."""
    if text_pair is not None or classifier.reads_pairs:
        return encode_pair(classifier, text, text_pair)
    cleaned = classifier.clean([text])[0]
    tokenizer = classifier.tokenizer
    # The classifier's encoding (cleaning replayed, long texts cut as in training) decides the ids; the full
    # encoding of the same text only supplies where each kept id came from (characters, word).
    kept = classifier.tokenize({"text": [cleaned]})
    ids = kept["input_ids"][0]
    full = tokenizer(cleaned, truncation=False, return_offsets_mapping=True, return_special_tokens_mask=True)
    full_ids = full["input_ids"]
    positions = _kept_positions(ids, full_ids)
    word_ids = full.word_ids()
    words: list[list[int]] = []
    spans: list[tuple[int, int]] = []
    previous = None
    for position, source in enumerate(positions):
        if full["special_tokens_mask"][source] or word_ids[source] is None:
            previous = None
            continue
        start, end = full["offset_mapping"][source]
        if word_ids[source] == previous and words:
            words[-1].append(position)
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            words.append([position])
            spans.append((start, end))
        previous = word_ids[source]
    kept_positions = set(positions)
    dropped = [
        full["offset_mapping"][p]
        for p in range(len(full_ids))
        if p not in kept_positions and not full["special_tokens_mask"][p] and word_ids[p] is not None
    ]
    names = [name for name in ("attention_mask", "token_type_ids") if name in kept]
    inputs = {name: torch.tensor([kept[name][0]], dtype=torch.long) for name in names}
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return EncodedText(
        text=cleaned,
        input_ids=torch.tensor([ids], dtype=torch.long),
        extras=inputs,
        words=words,
        tokens=[cleaned[start:end] for start, end in spans],
        offsets=spans,
        pad_token_id=pad,
        unread=_span_of(dropped),
    )


def encode_pair(classifier, text: str, text_pair: str | None) -> EncodedText:
    """A pair's ids as `classifier.encode` cuts them (the longer text first), grouped into the words of both texts;
    the displayed text is the two joined by PAIR_DISPLAY_SEPARATOR, and the second text's offsets point there."""
    classifier.check_pairs(None if text_pair is None else [text_pair])
    first, second = classifier.clean([text, text_pair])
    kept = classifier.tokenizer(
        first,
        second,
        truncation="longest_first",
        max_length=classifier.max_length,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
        verbose=False,
    )
    ids = classifier.encode([text], [text_pair])["input_ids"][0]
    if kept["input_ids"] != ids:  # the same call as the classifier's: a guard, not a user error
        raise RuntimeError("could not align the classifier's token ids with the tokenizer's offsets")
    shift = len(first) + len(PAIR_DISPLAY_SEPARATOR)
    unread = _pair_unread(classifier.tokenizer, first, second, kept, shift)
    words: list[list[int]] = []
    spans: list[tuple[int, int]] = []
    previous = None
    for position, (word, sequence) in enumerate(zip(kept.word_ids(), kept.sequence_ids(), strict=True)):
        if kept["special_tokens_mask"][position] or word is None:
            previous = None
            continue
        start, end = kept["offset_mapping"][position]
        if sequence == 1:
            start, end = start + shift, end + shift
        if (sequence, word) == previous and words:
            words[-1].append(position)
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            words.append([position])
            spans.append((start, end))
        previous = (sequence, word)
    joined = first + PAIR_DISPLAY_SEPARATOR + second
    names = [name for name in ("attention_mask", "token_type_ids") if name in kept]
    pad = classifier.tokenizer.pad_token_id if classifier.tokenizer.pad_token_id is not None else 0
    return EncodedText(
        text=joined,
        input_ids=torch.tensor([ids], dtype=torch.long),
        extras={name: torch.tensor([kept[name]], dtype=torch.long) for name in names},
        words=words,
        tokens=[joined[start:end] for start, end in spans],
        offsets=spans,
        pad_token_id=pad,
        unread=unread,
    )


def _pair_unread(tokenizer, first: str, second: str, kept, shift: int) -> list[tuple[int, int]]:
    """The characters of each text of a pair that the tokenizer's longest-first cut (`kept`) left out, in the
    displayed text (the second text's shifted by `shift`): what the uncut encoding has beyond the kept ids."""
    full = tokenizer(first, second, truncation=False, return_offsets_mapping=True, verbose=False)
    unread = []
    for sequence in (0, 1):
        kept_ids = [i for i, s in zip(kept["input_ids"], kept.sequence_ids(), strict=True) if s == sequence]
        indices = [position for position, s in enumerate(full.sequence_ids()) if s == sequence]
        positions = set(_kept_positions(kept_ids, [full["input_ids"][p] for p in indices]))
        dropped = [full["offset_mapping"][p] for index, p in enumerate(indices) if index not in positions]
        unread += _span_of(dropped, shift if sequence == 1 else 0)
    return unread


def differentiable_scores(config, logits: torch.Tensor) -> torch.Tensor:
    """`problem_types.output_scores` in torch, so that gradients flow: softmax, sigmoid, or the value (n, 1)."""
    problem_type = problem_types.problem_type_of(config)
    if problem_type == problem_types.SINGLE_LABEL:
        return torch.softmax(logits.float(), dim=-1)
    if problem_type == problem_types.MULTI_LABEL:
        return torch.sigmoid(logits.float())
    return logits.float().reshape(len(logits), -1)[:, :1]


def class_probabilities(classifier, input_ids: torch.Tensor, extras: dict[str, torch.Tensor]) -> torch.Tensor:
    """The explained outputs (class or label probabilities, or the value) for a batch of id rows that share one
    text's other inputs (same length)."""
    device = classifier.device
    batch = {name: value.to(device).expand(input_ids.shape[0], -1) for name, value in extras.items()}
    logits = classifier.model(input_ids=input_ids.to(device), **batch).logits
    return differentiable_scores(classifier.config, logits)


def labels_to_explain(classifier, scores: np.ndarray, label: str | None) -> list[str]:
    """The outputs to explain for one text: `label` when given; else single-label, the predicted class;
    multi-label, each predicted label (its threshold reached), or the most probable label when none is; regression,
    the value."""
    names = classifier.label_names
    if classifier.problem_type == problem_types.REGRESSION:
        if label is not None and label != names[0]:
            raise TextclsError(f"label={label!r}: a regression model has one output, {names[0]!r}; drop --label")
        return [names[0]]
    if label is not None:
        if label not in names:
            what = "labels" if classifier.problem_type == problem_types.MULTI_LABEL else "classes"
            raise TextclsError(f"label={label!r}: this model's {what} are {', '.join(names)}")
        return [label]
    decisions = problem_types.decide(classifier.config, scores[None, :])[0]
    if classifier.problem_type == problem_types.MULTI_LABEL:
        chosen = np.flatnonzero(decisions)
        return [names[index] for index in chosen] if len(chosen) else [names[int(scores.argmax())]]
    return [names[int(decisions)]]


def attribute_predicted(classifier, text: str, text_pair: str | None = None, label: str | None = None, **options):
    """`attribute` for each output `labels_to_explain` chooses (one for single-label and regression)."""
    encoded = encode(classifier, text, text_pair)
    with torch.no_grad():
        scores = class_probabilities(classifier, encoded.input_ids, encoded.extras)[0].cpu().numpy()
    chosen = labels_to_explain(classifier, scores, label)
    return [attribute(classifier, text, label=name, text_pair=text_pair, **options) for name in chosen]


def attribute(
    classifier,
    text: str,
    label: str | None = None,
    method: str = "integrated_gradients",
    n_steps: int = 50,
    n_samples: int = 300,
    seed: int = 0,
    text_pair: str | None = None,
) -> TokenAttributions:
    """Token attributions for one raw text (and its second text, for a pair model) toward one output; label None =
    the predicted class, the most probable predicted label (or the most probable label when none is predicted), or
    the value.

    `n_steps`: points on the integrated-gradients path; `n_samples`: LIME's perturbed texts (seeded by `seed`).
    """
    if method not in METHODS:
        raise TextclsError(f"method={method!r}: expected one of {', '.join(METHODS)}")
    encoded = encode(classifier, text, text_pair)
    with torch.no_grad():
        probabilities = class_probabilities(classifier, encoded.input_ids, encoded.extras)[0]
    outputs = probabilities.cpu().numpy()
    chosen = [classifier.label_names.index(name) for name in labels_to_explain(classifier, outputs, label)]
    target = max(chosen, key=lambda index: outputs[index])  # several only for multi-label: the most probable
    if not encoded.words:  # nothing the model read is a word (empty text, or every word cleaned away)
        scores: list[float] = []
    elif method == "integrated_gradients":
        scores = _integrated_gradients(classifier, encoded, target, n_steps)
    else:
        scores = _lime(classifier, encoded, target, n_samples, seed)
    return TokenAttributions(
        text=encoded.text,
        tokens=encoded.tokens,
        scores=scores,
        label=classifier.label_names[target],
        probability=float(probabilities[target]),
        method=method,
        offsets=encoded.offsets,
        explains="value" if classifier.problem_type == problem_types.REGRESSION else "probability",
        unread=encoded.unread,
    )


def baseline_ids(encoded: EncodedText) -> torch.Tensor:
    """The text with every word's ids replaced by the padding id; special tokens stay."""
    baseline = encoded.input_ids.clone()
    for positions in encoded.words:
        baseline[0, positions] = encoded.pad_token_id
    return baseline


def _forward(classifier, encoded: EncodedText):
    def probabilities(input_ids: torch.Tensor) -> torch.Tensor:
        return class_probabilities(classifier, input_ids, encoded.extras)

    return probabilities


def _gradients_enabled(classifier):
    """cuDNN computes RNN gradients only in training mode; the model must stay in eval mode (no dropout)."""
    if classifier.device.type == "cuda":
        return torch.backends.cudnn.flags(enabled=False)
    return contextlib.nullcontext()


def _integrated_gradients(classifier, encoded: EncodedText, target: int, n_steps: int) -> list[float]:
    explainer = LayerIntegratedGradients(_forward(classifier, encoded), classifier.model.get_input_embeddings())
    with _gradients_enabled(classifier):
        per_dimension = explainer.attribute(
            encoded.input_ids.to(classifier.device),
            baselines=baseline_ids(encoded).to(classifier.device),
            target=target,
            n_steps=n_steps,
            internal_batch_size=classifier.batch_size,
        )
    per_id = per_dimension.sum(dim=-1)[0].detach().cpu()
    return [float(per_id[positions].sum()) for positions in encoded.words]


def _lime_similarity(original, perturbed, interpretable, **kwargs) -> float:
    """The weight of one perturbed text, as the lime package's LimeTextExplainer weighs it: the cosine distance (x100)
    of the kept-words vector to the original's all-ones vector, through lime's kernel sqrt(exp(-d^2 / 25^2)).

    Only the kernel is lime's: here each word occurrence is a feature (lime's default merges repeats of a word) and
    captum draws the perturbations (each word kept with probability 1/2, not lime's uniform count of removals).
    """
    kept = float(interpretable.sum())
    total = interpretable.numel()
    distance = 100 * (1 - math.sqrt(kept / total)) if total else 0.0
    return math.sqrt(math.exp(-(distance**2) / LIME_KERNEL_WIDTH**2))


def _lime(classifier, encoded: EncodedText, target: int, n_samples: int, seed: int) -> list[float]:
    feature_mask = torch.full_like(encoded.input_ids, -1)
    for index, positions in enumerate(encoded.words):
        feature_mask[0, positions] = index
    # Special tokens form one more feature that is never removed: their baseline is themselves.
    feature_mask[feature_mask < 0] = len(encoded.words)
    explainer = Lime(
        _forward(classifier, encoded), interpretable_model=SkLearnRidge(alpha=1.0), similarity_func=_lime_similarity
    )
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        with torch.no_grad():
            weights = explainer.attribute(
                encoded.input_ids.to(classifier.device),
                baselines=baseline_ids(encoded).to(classifier.device),
                target=target,
                feature_mask=feature_mask.to(classifier.device),
                n_samples=n_samples,
                perturbations_per_eval=classifier.batch_size,
                return_input_shape=False,
            )
    finally:
        torch.random.set_rng_state(generator_state)
    return [float(value) for value in weights[0, : len(encoded.words)].cpu()]
