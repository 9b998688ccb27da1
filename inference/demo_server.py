"""The demo page's web app: one static page, and a JSON API that classifies and explains a pasted text.

FastAPI rather than Gradio: the page needs a text box, a button, bars and highlighted tokens, which one HTML file
draws; fastapi, starlette and uvicorn install in 4 MB, where gradio 6.31's wheel alone unpacks to 76 MB. The model
calls run one at a time (a lock), since FastAPI serves plain `def` routes from a thread pool and the attribution
methods run gradients through the shared model.
"""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from inference.attributions import attribute
from inference.classifier import TextClassifier
from inference.explanation_html import attributions_html
from modeling import problem_types
from textcls_errors import TextclsError

PAGE = Path(__file__).with_name("demo_page.html")
MAX_CHARACTERS = 100_000  # far beyond what the model reads; refuses pastes that would only burn time
EMPTY_TEXT = "Type or paste a text to classify: the box is empty."


class TextRequest(BaseModel):
    text: str
    text_pair: str | None = None  # a pair model's second text
    label: str | None = None  # the class or label to explain; None = the predicted one (see attribute)


def _checked_text(text: str) -> str:
    """The text, or a 400 with a message the page shows when it is empty or too long."""
    if not text.strip():
        raise HTTPException(status_code=400, detail=EMPTY_TEXT)
    if len(text) > MAX_CHARACTERS:
        raise HTTPException(
            status_code=400,
            detail=f"The text has {len(text):,} characters; the demo accepts up to {MAX_CHARACTERS:,}.",
        )
    try:  # JSON may carry a lone surrogate ("\ud800"), which no tokenizer can read
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise HTTPException(
            status_code=400,
            detail=f"The text holds an invalid character at position {error.start} (a lone UTF-16 surrogate, "
            "half of an emoji or accented letter): paste it again, or remove that character.",
        ) from None
    return text


def _checked_pair(classifier: TextClassifier, request: TextRequest) -> str | None:
    """The second text of a pair model (required, not empty); None for a one-text model, which refuses one."""
    if not classifier.reads_pairs:
        if request.text_pair is not None:
            raise HTTPException(status_code=400, detail="This model reads one text; it was not trained on pairs.")
        return None
    if request.text_pair is None or not request.text_pair.strip():
        raise HTTPException(status_code=400, detail="This model reads text pairs: the second box is empty.")
    return _checked_text(request.text_pair)


def model_summary(classifier: TextClassifier) -> dict:
    """What the page shows about the model: folder name (not its path), family, problem type, classes (labels, or
    the predicted value's name), thresholds (multi-label), whether it reads pairs, tokens read."""
    multi_label = classifier.problem_type == problem_types.MULTI_LABEL
    thresholds = problem_types.decision_thresholds(classifier.config).tolist() if multi_label else None
    return {
        "name": classifier.model_dir.resolve().name,
        "model_type": classifier.config.model_type,
        "problem_type": classifier.problem_type,
        "labels": classifier.label_names,
        "thresholds": thresholds,
        "text_pair": classifier.reads_pairs,
        "max_length": classifier.max_length,
    }


def create_app(classifier: TextClassifier, **attribution_options) -> FastAPI:
    """The demo app around a loaded classifier: GET / (the page), /api/info, POST /api/predict, /api/explain.

    `attribution_options` go to `inference.attributions.attribute` (method, n_steps, ...).
    """
    app = FastAPI(title="textcls demo", docs_url=None, redoc_url=None)
    model_lock = threading.Lock()
    summary = model_summary(classifier)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE.read_text(encoding="utf-8")

    @app.get("/api/info")
    def info() -> dict:
        return summary

    @app.post("/api/predict")
    def predict(request: TextRequest) -> dict:
        text = _checked_text(request.text)
        pair = _checked_pair(classifier, request)
        with model_lock:
            outputs = classifier.predict([text], None if pair is None else [pair])
        return outputs.row(0)  # single-label: label; multi-label: labels; regression: value (inference.outputs)

    @app.post("/api/explain")
    def explain(request: TextRequest) -> dict:
        text = _checked_text(request.text)
        pair = _checked_pair(classifier, request)
        if request.label is not None and request.label not in classifier.label_names:
            raise HTTPException(
                status_code=400, detail=f"label={request.label!r} is not one of {classifier.label_names}"
            )
        try:
            with model_lock:
                result = attribute(classifier, text, label=request.label, text_pair=pair, **attribution_options)
        except TextclsError as error:
            raise HTTPException(status_code=400, detail=str(error)) from None
        return {
            "label": result.label,
            "probability": result.probability,
            "explains": result.explains,
            "method": result.method,
            "tokens": result.tokens,
            "scores": [float(score) for score in result.scores],
            "html": attributions_html(result),
        }

    return app
