"""demo_app.py: the JSON API for every model family, and the page end to end in headless Chromium.

The browser test starts `python demo_app.py` on a free loopback port with a tiny locally built model, types a
text, clicks Classify, and checks that the page shows TextClassifier's prediction, every class probability and
the attribution tokens; the page may only talk to 127.0.0.1. It needs Debian's chromium (`make install` puts it
there as root) and the playwright package (the dev extra), and fails, rather than skips, without them.
"""

import contextlib
import importlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import pytest
import torch
from fastapi.testclient import TestClient

import demo_app
from data_scripts.text_cleaning import TextCleaning, build_cleaner
from inference import TextClassifier
from inference.attributions import attribute
from inference.demo_server import EMPTY_TEXT, create_app
from modeling import problem_types
from modeling.word_models import build_word_model
from tests.tiny_models import build_tiny_model
from textcls_errors import TextclsError, run_cli

REPO = Path(__file__).resolve().parent.parent
LABELS = ["business", "science", "sports"]
TEXTS = [
    "The Rockets won the game in overtime, the coach said.",
    "Shares of the bank fell after its quarterly report!",
    "Astronomers found water ice on a distant moon.",
    "It was a quiet day.",
]
CHROMIUM_NAMES = ("chromium", "chromium-browser")
# Chromium's own background traffic (updates, sync, safe browsing) would leave the machine; these turn it off.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    torch.manual_seed(0)
    return build_tiny_model(tmp_path_factory.mktemp("bert"), "bert", TEXTS * 10, label_names=LABELS)


def _word_model_dir(folder: Path, family: str, cleaning: TextCleaning | None = None) -> Path:
    torch.manual_seed(0)
    texts = build_cleaner(cleaning)({"text": TEXTS})["text"] if cleaning else TEXTS
    model, tokenizer = build_word_model(family, texts, LABELS, word_vectors=None)
    if cleaning:
        model.config.text_cleaning = cleaning.as_config()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module", params=["bert", "glove", "lstm"])
def family_dir(request, bert_dir, tmp_path_factory):
    if request.param == "bert":
        return bert_dir
    # the GloVe model was trained on cleaned text: the API must replay that cleaning
    cleaning = TextCleaning(simple_preprocess=True, remove_stopwords=True) if request.param == "glove" else None
    return _word_model_dir(tmp_path_factory.mktemp(request.param), request.param, cleaning)


def test_api_predicts_and_explains_like_the_classifier(family_dir):
    classifier = TextClassifier(family_dir, device="cpu")
    client = TestClient(create_app(classifier))
    assert "textcls demo" in client.get("/").text
    info = client.get("/api/info").json()
    assert info["labels"] == LABELS and info["name"] == family_dir.name

    answer = client.post("/api/predict", json={"text": TEXTS[0]})
    assert answer.status_code == 200
    expected = dict(zip(LABELS, classifier.predict_proba([TEXTS[0]])[0], strict=True))
    shown = answer.json()["probabilities"]
    assert [row["label"] for row in shown] == sorted(LABELS, key=lambda label: -expected[label])
    assert answer.json()["label"] == max(expected, key=expected.get)
    for row in shown:
        assert row["probability"] == pytest.approx(expected[row["label"]], abs=1e-6)

    least_likely = shown[-1]["label"]
    explained = client.post("/api/explain", json={"text": TEXTS[0], "label": least_likely}).json()
    direct = attribute(classifier, TEXTS[0], label=least_likely)
    assert explained["label"] == least_likely and explained["tokens"] == direct.tokens
    assert explained["scores"] == pytest.approx(direct.scores, abs=1e-5)
    assert explained["probability"] == pytest.approx(expected[least_likely], abs=1e-5)
    assert all(token in explained["html"] for token in direct.tokens)
    if family_dir.name.startswith("glove"):  # read as trained: lowercased, stop words gone
        assert direct.tokens == ["rockets", "won", "game", "overtime", "coach", "said"]


def test_api_refuses_empty_long_and_unknown_label_with_messages(bert_dir):
    client = TestClient(create_app(TextClassifier(bert_dir, device="cpu")))
    for text in ["", "  \n\t "]:
        for path in ["/api/predict", "/api/explain"]:
            answer = client.post(path, json={"text": text})
            assert answer.status_code == 400 and answer.json()["detail"] == EMPTY_TEXT
    too_long = client.post("/api/predict", json={"text": "word " * 30_000})
    assert too_long.status_code == 400 and "up to 100,000" in too_long.json()["detail"]
    unknown = client.post("/api/explain", json={"text": TEXTS[0], "label": "cooking"})
    assert unknown.status_code == 400 and "'cooking'" in unknown.json()["detail"]
    assert client.post("/api/predict", json={}).status_code == 422  # no text field: FastAPI's validation
    for path in ["/api/predict", "/api/explain"]:  # a lone surrogate, as JSON allows it: a message, not a 500
        body = b'{"text": "good \\ud800 game"}'
        answer = client.post(path, content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 400 and "invalid character at position 5" in answer.json()["detail"]


def test_attribution_options_reach_the_explainer(bert_dir):
    classifier = TextClassifier(bert_dir, device="cpu")
    client = TestClient(create_app(classifier, method="lime", n_samples=40))
    explained = client.post("/api/explain", json={"text": TEXTS[1]}).json()
    direct = attribute(classifier, TEXTS[1], method="lime", n_samples=40)
    assert explained["method"] == "lime" and explained["scores"] == pytest.approx(direct.scores, abs=1e-5)


def test_bad_model_dir_and_busy_port_are_one_line_errors(tmp_path, capsys):
    missing = ["--model_dir", str(tmp_path / "missing"), "--port", str(free_port())]
    assert run_cli(lambda: demo_app.main(missing)) == 2
    assert "holds no config.json" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(TextclsError, match=f"127.0.0.1:{port}: is in use; pass another --port"):
            demo_app.main(["--model_dir", str(tmp_path), "--port", str(port)])
    with pytest.raises(TextclsError, match="--n_steps must be at least 1, got 0"):
        demo_app.main(["--model_dir", str(tmp_path), "--n_steps", "0"])
    with pytest.raises(TextclsError, match="--port=70000"):
        demo_app.check_port_free("127.0.0.1", 70000)


# --- the page in a real browser ---------------------------------------------------------------------------


@pytest.fixture
def chromium_executable() -> str:
    """Debian's chromium; without it the browser test fails before starting the server, saying how to install it."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        "the demo page test needs a Chromium browser (looked for: " + ", ".join(CHROMIUM_NAMES) + "); install it "
        "with `apt-get install chromium` (Debian/Ubuntu; `make install` does this when run as root)"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(stopped: Callable[[], str | None], url: str, timeout: float = 120.0) -> None:
    """Wait for the page's API to answer; `stopped` says why the server ended, or None while it runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (reason := stopped()) is not None:
            pytest.fail(reason)
        try:
            with urllib.request.urlopen(url + "/api/info", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"demo_app.py did not answer on {url} within {timeout:.0f} s")


@pytest.fixture
def demo_server(bert_dir, tmp_path):
    """`python demo_app.py` on a free loopback port; always stopped afterwards."""
    with serving(bert_dir, tmp_path) as url:
        yield url


@contextlib.contextmanager
def serving(model_dir: Path, tmp_path: Path):
    """`python demo_app.py --model_dir model_dir` on a free loopback port, stopped on leaving."""
    port = free_port()
    log = open(tmp_path / "server.log", "w+")
    server = subprocess.Popen(
        [sys.executable, str(REPO / "demo_app.py"), "--model_dir", str(model_dir), "--port", str(port)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(
            lambda: (
                None
                if server.poll() is None
                else f"demo_app.py exited with code {server.returncode}:\n" + server.stderr.read()
            ),
            url,
        )
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stderr.close()
        log.close()


@contextlib.contextmanager
def serving_in_thread(model_dir: Path, monkeypatch):
    """`demo_app.main(["--model_dir", model_dir, ...])` in a thread of this process, stopped on leaving: what
    `serving` starts, without a new interpreter and its imports (about 20 s here; the test above starts the script)."""
    uvicorn_main = importlib.import_module("uvicorn.main")  # the module: `uvicorn.main` is its click command

    servers = []

    class StoppableServer(uvicorn_main.Server):  # what uvicorn.run builds, kept so that it can be told to stop
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            servers.append(self)

    monkeypatch.setattr(uvicorn_main, "Server", StoppableServer)
    port, errors = free_port(), []

    def serve():
        try:
            demo_app.main(["--model_dir", str(model_dir), "--port", str(port)])
        except BaseException as error:  # reported by wait_until_serving
            errors.append(error)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(lambda: None if thread.is_alive() else f"demo_app.main stopped: {errors!r}", url)
        yield url
    finally:
        for server in servers:
            server.should_exit = True
        thread.join(timeout=20)
        assert not thread.is_alive(), "the demo server thread did not stop"


def test_page_classifies_and_explains_in_headless_chromium(chromium_executable, bert_dir, demo_server, tmp_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the demo page test needs playwright: pip install -e '.[dev]' (never `playwright install`)")
    classifier = TextClassifier(bert_dir, device="cpu")
    text = TEXTS[2]
    expected = dict(zip(LABELS, classifier.predict_proba([text])[0], strict=True))
    predicted = max(expected, key=expected.get)
    tokens = attribute(classifier, text).tokens

    requested_hosts = set()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.on("request", lambda request: requested_hosts.add(urlparse(request.url).hostname))
            page.goto(demo_server)
            page.wait_for_function("document.getElementById('model-info').textContent.includes('3 classes')")

            page.click("#classify")  # empty box: a message on the page, no results
            page.wait_for_selector("#error:not([hidden])")
            assert page.inner_text("#error") == EMPTY_TEXT
            assert page.is_hidden("#results")

            page.fill("#text", text)
            page.click("#classify")
            page.wait_for_selector("#results:not([hidden])")
            page.wait_for_function("document.getElementById('results').dataset.explaining === 'false'")
            assert page.is_hidden("#error")
            assert page.inner_text("#predicted-label") == predicted

            rows = page.query_selector_all("#probabilities .row")
            shown = {row.get_attribute("data-label"): float(row.get_attribute("data-probability")) for row in rows}
            assert list(shown) == sorted(LABELS, key=lambda label: -expected[label])  # sorted bars, all classes
            assert shown == pytest.approx(expected, abs=1e-6)
            for row in rows:
                assert row.inner_text().split() == [
                    row.get_attribute("data-label"),
                    f"{100 * expected[row.get_attribute('data-label')]:.1f}%",
                ]

            assert page.get_attribute("#attributions", "data-label") == predicted
            assert json.loads(page.get_attribute("#attributions", "data-tokens")) == tokens
            highlighted = page.inner_text("#attributions .token-attributions")
            assert all(token in highlighted for token in tokens)

            screenshot = tmp_path / "demo_page.png"
            page.screenshot(path=str(screenshot), full_page=True)
            assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 10_000

            # Clicking another class explains that class.
            other = rows[-1].get_attribute("data-label")
            rows[-1].click()
            page.wait_for_function(
                f"document.getElementById('attributions').dataset.label === {json.dumps(other)}"
                " && document.getElementById('results').dataset.explaining === 'false'"
            )
            assert page.get_attribute("#probabilities .row.explained", "data-label") == other
        finally:
            browser.close()
    assert requested_hosts == {"127.0.0.1"}


# --- multi-label, regression and pair models ----------------------------------------------------------------

SECOND = ["The coach was happy.", "The bank lost money.", "A moon has ice.", "Nothing happened."]
THRESHOLDS = [0.001, 0.5, 0.999]  # business always predicted, sports never, science by its own probability


@pytest.fixture(scope="module")
def multi_label_pair_dir(tmp_path_factory):
    torch.manual_seed(0)
    problem = {"problem_type": problem_types.MULTI_LABEL, "decision_thresholds": THRESHOLDS, "text_pair": True}
    folder = tmp_path_factory.mktemp("multi_pair")
    return build_tiny_model(folder, "bert", (TEXTS + SECOND) * 10, label_names=LABELS, problem=problem)


def test_api_answers_per_problem_type_and_requires_the_pair(multi_label_pair_dir, tmp_path):
    classifier = TextClassifier(multi_label_pair_dir, device="cpu")
    client = TestClient(create_app(classifier))
    info = client.get("/api/info").json()
    assert info["problem_type"] == problem_types.MULTI_LABEL and info["text_pair"] is True
    assert info["thresholds"] == THRESHOLDS
    answer = client.post("/api/predict", json={"text": TEXTS[0], "text_pair": SECOND[0]}).json()
    outputs = classifier.predict(TEXTS[:1], SECOND[:1])
    assert answer["labels"] == outputs.names[0] and "business" in answer["labels"] and "sports" not in answer["labels"]
    by_label = {row["label"]: row for row in answer["probabilities"]}
    assert by_label["science"]["probability"] == pytest.approx(outputs.scores[0, 1], abs=1e-6)
    assert [by_label[name]["threshold"] for name in LABELS] == THRESHOLDS
    missing = client.post("/api/predict", json={"text": TEXTS[0]})
    assert missing.status_code == 400 and "second box is empty" in missing.json()["detail"]
    explained = client.post("/api/explain", json={"text": TEXTS[0], "text_pair": SECOND[0], "label": "sports"}).json()
    assert explained["label"] == "sports" and "happy" in explained["tokens"] and "Rockets" in explained["tokens"]

    torch.manual_seed(0)
    regression = build_tiny_model(tmp_path / "reg", "bert", TEXTS * 10, label_names=["rating"],
                                  problem={"problem_type": problem_types.REGRESSION})  # fmt: skip
    reg_classifier = TextClassifier(regression, device="cpu")
    client = TestClient(create_app(reg_classifier))
    answer = client.post("/api/predict", json={"text": TEXTS[1]}).json()
    assert answer == {"problem_type": problem_types.REGRESSION, "name": "rating",
                      "value": pytest.approx(float(reg_classifier.logits(TEXTS[1:2])[0, 0]), abs=1e-6)}  # fmt: skip
    refused = client.post("/api/predict", json={"text": TEXTS[1], "text_pair": "x"})
    assert refused.status_code == 400 and "not trained on pairs" in refused.json()["detail"]
    explained = client.post("/api/explain", json={"text": TEXTS[1]}).json()
    assert explained["explains"] == "value" and explained["probability"] == pytest.approx(answer["value"], abs=1e-5)


def test_page_shows_a_multi_label_pair_model(chromium_executable, multi_label_pair_dir, tmp_path, monkeypatch):
    """Two text boxes; the predicted set; every label's probability beside its threshold."""
    from playwright.sync_api import sync_playwright

    outputs = TextClassifier(multi_label_pair_dir, device="cpu").predict(TEXTS[:1], SECOND[:1])
    with serving_in_thread(multi_label_pair_dir, monkeypatch) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.goto(url)
            page.wait_for_function("document.getElementById('model-info').textContent.includes('multi-label')")
            assert "text pairs" in page.inner_text("#model-info") and page.is_visible("#text-pair")
            page.fill("#text", TEXTS[0])
            page.fill("#text-pair", SECOND[0])
            page.click("#classify")
            page.wait_for_selector("#results:not([hidden])")
            page.wait_for_function("document.getElementById('results').dataset.explaining === 'false'")
            assert page.inner_text("#predicted-label") == ", ".join(outputs.names[0])
            rows = page.query_selector_all("#probabilities .row")
            assert len(rows) == len(LABELS)
            for row in rows:
                name = row.get_attribute("data-label")
                index = LABELS.index(name)
                assert row.inner_text().split()[-3:] == [
                    f"{100 * outputs.scores[0, index]:.1f}%", "/", f"{100 * THRESHOLDS[index]:.1f}%"]  # fmt: skip
                assert (row.get_attribute("data-predicted") == "true") == (name in outputs.names[0])
            assert page.get_attribute("#attributions", "data-label") in outputs.names[0]
            screenshot = tmp_path / "demo_page_multi_label_pair.png"
            page.screenshot(path=str(screenshot), full_page=True)
            assert screenshot.stat().st_size > 10_000
        finally:
            browser.close()
