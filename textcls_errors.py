"""The one exception type for mistakes a user can make (config, data, paths, labels), and the entry-point
wrapper that turns it into one line on stderr and exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable


class TextclsError(Exception):
    """A problem with the user's input, with a message that says what was wrong and how to fix it."""


def run_cli(main: Callable[[], object]) -> int:
    """Run a script's `main()` with logs on stderr (stdout stays free for results); 2 on a TextclsError."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    try:
        main()
    except TextclsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
