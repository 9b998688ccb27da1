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
from textcls_errors import TextclsError

PAGE = Path(__file__).with_name("demo_page.html")
MAX_CHARACTERS = 100_000  # far beyond what the model reads; refuses pastes that would only burn time
EMPTY_TEXT = "Type or paste a text to classify: the box is empty."


class TextRequest(BaseModel):
    text: str
    label: str | None = None  # the class to explain; None = the predicted class


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


def model_summary(classifier: TextClassifier) -> dict:
    """What the page shows about the model: folder name (not its path), family, classes, tokens read."""
    return {
        "name": classifier.model_dir.resolve().name,
        "model_type": classifier.config.model_type,
        "labels": classifier.label_names,
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
        with model_lock:
            probabilities = classifier.predict_proba([text])[0]
        ranked = sorted(zip(classifier.label_names, probabilities.tolist(), strict=True), key=lambda pair: -pair[1])
        return {
            "label": ranked[0][0],
            "probabilities": [{"label": label, "probability": value} for label, value in ranked],
        }

    @app.post("/api/explain")
    def explain(request: TextRequest) -> dict:
        text = _checked_text(request.text)
        if request.label is not None and request.label not in classifier.label_names:
            raise HTTPException(
                status_code=400, detail=f"label={request.label!r} is not one of {classifier.label_names}"
            )
        try:
            with model_lock:
                result = attribute(classifier, text, label=request.label, **attribution_options)
        except TextclsError as error:
            raise HTTPException(status_code=400, detail=str(error)) from None
        return {
            "label": result.label,
            "probability": result.probability,
            "method": result.method,
            "tokens": result.tokens,
            "scores": [float(score) for score in result.scores],
            "html": attributions_html(result),
        }

    return app
