"""A web page to try a trained model: paste a text, see the predicted class, the class probabilities and the
tokens that drove the prediction.

    python demo_app.py --model_dir outputs/demo              # then open http://127.0.0.1:7860
    python demo_app.py --model_dir outputs/glove_20ng --port 8000 --device cpu

Serves any folder written by run_classification.py (transformer, GloVe or LSTM/GRU/RNN), reading texts as
training did (the recorded text cleaning and truncation). Binds to 127.0.0.1 unless --host says otherwise.
"""

from __future__ import annotations

import argparse
import errno
import logging
import socket
import sys

from inference import TextClassifier
from inference.attributions import METHODS
from inference.classifier import add_reading_arguments
from textcls_errors import TextclsError, run_cli

logger = logging.getLogger("demo_app")

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", required=True, help="A folder written by run_classification.py.")
    parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default: this machine only).")
    parser.add_argument("--port", type=int, default=7860, help="Port to listen on (default: 7860).")
    add_reading_arguments(parser)
    parser.add_argument(
        "--attribution_method",
        choices=METHODS,
        default="integrated_gradients",
        help="How the token attributions are computed (see inference/attributions.py).",
    )
    parser.add_argument(
        "--n_steps", type=int, default=50, help="Integrated-gradients steps: fewer answer faster, more exactly."
    )
    return parser


def check_port_free(host: str, port: int) -> None:
    """Fail with a clear message before loading the model when the address cannot be served."""
    if not 0 < port < 65536:
        raise TextclsError(f"--port={port}: expected a port number from 1 to 65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise TextclsError(f"--host={host!r} is not an address of this machine: {error}") from None
    family, kind, _, _, address = infos[0]
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as error:
            reason = "is in use; pass another --port" if error.errno == errno.EADDRINUSE else str(error)
            raise TextclsError(f"cannot listen on {host}:{port}: {reason}") from None


def main(argv: list[str] | None = None) -> None:
    options = build_parser().parse_args(argv)
    if options.n_steps < 1:
        raise TextclsError(f"--n_steps must be at least 1, got {options.n_steps}")
    check_port_free(options.host, options.port)
    classifier = TextClassifier.from_options(options)

    import uvicorn  # after the checks: a wrong folder fails fast, without the server's imports

    from inference.demo_server import create_app

    app = create_app(classifier, method=options.attribution_method, n_steps=options.n_steps)
    if options.host not in LOOPBACK:
        logger.warning("listening on %s: anyone who can reach this address can use the model", options.host)
    shown_host = f"[{options.host}]" if ":" in options.host else options.host  # an IPv6 address in a URL
    logger.info("demo page for %s at http://%s:%d", options.model_dir, shown_host, options.port)
    uvicorn.run(app, host=options.host, port=options.port, log_level="warning")


if __name__ == "__main__":
    sys.exit(run_cli(main))
