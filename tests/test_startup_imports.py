"""What `import run_classification` (and so `--help`) loads: only what every run needs.

Libraries used by some paths only (text cleaning, plotting, metrics, searches, W&B, explanations) are imported
where they are used; benchmarks/startup.py times the difference. peft is not listed: transformers' own
TrainingArguments imports it whenever it is installed.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOADED_ON_DEMAND = ("gensim", "nltk", "optuna", "wandb", "captum", "matplotlib", "sklearn", "plotly", "openTSNE")


def modules_after(statement: str) -> set[str]:
    """The top-level packages in sys.modules after running `statement` in a fresh interpreter."""
    code = f"{statement}\nimport json, sys\nprint(json.dumps(sorted({{name.split('.')[0] for name in sys.modules}})))"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True, timeout=300
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_importing_the_script_loads_no_optional_library():
    loaded = modules_after("import run_classification")
    assert "transformers" in loaded  # the check sees real imports
    assert sorted(loaded & set(LOADED_ON_DEMAND)) == []


def test_help_lists_the_settings_without_loading_them(tmp_path):
    statement = (
        "import sys, run_classification\n"
        "sys.argv = ['run_classification.py', '--help']\n"
        "try:\n    run_classification.main()\nexcept SystemExit:\n    pass"
    )
    loaded = modules_after(statement)
    assert sorted(loaded & set(LOADED_ON_DEMAND)) == []
