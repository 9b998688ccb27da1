"""The one exception type for mistakes a user can make (config, data, paths, labels).

`run_classification.py` prints it without a traceback and exits non-zero; anything else is a bug.
"""


class TextclsError(Exception):
    """A problem with the user's input, with a message that says what was wrong and how to fix it."""
