"""The CPU-cheap parts of benchmarks/seed_grid.py: choosing rows, and updating only those rows of a results file
(training and the TF-IDF baselines are replaced by stand-ins that record their calls)."""

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))  # seed_grid imports baseline_tfidf as a sibling script does
try:
    spec = importlib.util.spec_from_file_location("seed_grid", REPO / "benchmarks" / "seed_grid.py")
    seed_grid = importlib.util.module_from_spec(spec)
    sys.modules["seed_grid"] = seed_grid  # its dataclass looks its module up there
    spec.loader.exec_module(seed_grid)
finally:
    sys.path.remove(str(REPO / "benchmarks"))

RESULTS = """# Word-level models on 20 Newsgroups

## Shipped configs

| model | config | classes | test accuracy | test macro-F1 | TF-IDF + LinearSVC | seed notebook | train s |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |
| GloVe mean-pool | `configs/glove_20ng.json` | 20 | 84.13% | 83.40% | 86.40% | – | 65 |
| BiLSTM, max-pool | `configs/lstm_20ng.json` (a note on the old run) | 20 | 81.97% | 81.29% | 86.40% | 67.3% | 4027 |

## The LSTM seed's grid

The grid's introduction.

| max_seq_length | dim | cell | embeddings | test accuracy | test macro-F1 | train s | CPU s |
| ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |
| 30 | 50 | lstm | frozen | 61.26% | 61.13% | 33 | – |
| 100 | 50 | lstm | frozen | 70.39% | 69.76% | 1587* | 256* |

A note a person wrote about the rows above.
"""


@pytest.fixture
def stand_ins(monkeypatch):
    """run_once and baseline replaced: the runs and baselines asked for, in order."""
    calls = {"runs": [], "baselines": []}

    def run_once(run, args):
        calls["runs"].append(run.name)
        return {"test_accuracy": 0.5, "test_macro_f1": 0.25, "train_runtime": 12.0, "cpu_seconds": 34.0}

    def baseline(args, categories, remove):
        calls["baselines"].append((len(categories) if categories else 20, bool(remove)))
        return "99.00%"

    monkeypatch.setattr(seed_grid, "run_once", run_once)
    monkeypatch.setattr(seed_grid, "baseline", baseline)
    return calls


def test_rows_choose_runs_by_name_or_shell_pattern(tmp_path, capsys):
    results = tmp_path / "RESULTS.md"
    results.write_text(RESULTS)
    args = seed_grid.parse_args(["--rows", "grid_lstm_100_*", "lstm_20ng", "--results", str(results)])
    runs = seed_grid.reference_runs() + seed_grid.grid_runs(args)
    chosen = seed_grid.select_runs(runs, args.rows)
    assert [run.name for run in chosen] == ["lstm_20ng", "grid_lstm_100_50d_frozen", "grid_lstm_100_50d_random"]

    with pytest.raises(SystemExit, match="grid_lsmt_30_50d_frozen matches no run.*grid_lstm_30_50d_frozen"):
        seed_grid.select_runs(runs, ["lstm_20ng", "grid_lsmt_30_50d_frozen"])  # a typo runs nothing, loudly
    for argv, message in (
        (["--baselines"], "--baselines goes with --rows"),
        (["--rows", "lstm_20ng", "--results", str(tmp_path / "absent.md")], "is not one"),
    ):
        with pytest.raises(SystemExit):
            seed_grid.parse_args(argv)
        assert message in capsys.readouterr().err


def test_rows_replace_only_their_lines_and_keep_the_rest(tmp_path, stand_ins):
    results = tmp_path / "RESULTS.md"
    results.write_text(RESULTS)
    seed_grid.main(
        ["--rows", "grid_lstm_100_50d_frozen", "lstm_20ng", "grid_rnn_30_50d_random", "--results", str(results)]
    )
    runs = ["lstm_20ng", "grid_rnn_30_50d_random", "grid_lstm_100_50d_frozen"]  # in grid order
    assert stand_ins == {"runs": runs, "baselines": []}
    old, new = RESULTS.splitlines(), results.read_text().splitlines()
    changed = {line for line in old if line not in new}
    assert changed == {line for line in old if line.startswith(("| BiLSTM", "| 100 | 50 | lstm | frozen"))}
    assert "| BiLSTM, max-pool | `configs/lstm_20ng.json` | 20 | 50.00% | 25.00% | 86.40% | 67.3% | 12 |" in new
    assert "| 100 | 50 | lstm | frozen | 50.00% | 25.00% | 12 | 34 |" in new
    added = new.index("| 30 | 50 | rnn | random | 50.00% | 25.00% | 12 | 34 |")  # a row the table lacked
    assert new[added - 1] == "| 100 | 50 | lstm | frozen | 50.00% | 25.00% | 12 | 34 |"  # at the table's end
    assert new[added + 2] == "A note a person wrote about the rows above."
    assert new[-1].startswith("Rows updated ") and ", ".join(runs) in new[-1]
    assert "TF-IDF cells kept" in new[-1] and "--rows grid_lstm_100_50d_frozen" in new[-1]

    stand_ins["runs"].clear()
    seed_grid.main(["--rows", "glove_20ng_no_headers", "--baselines", "--results", str(results)])
    assert stand_ins["baselines"] == [(20, True)]  # only the chosen row's baseline is refitted
    added_reference = [line for line in results.read_text().splitlines() if "--remove headers" in line]
    assert added_reference == [
        "| GloVe mean-pool, headers/footers/quotes removed | `configs/glove_20ng.json` `--remove headers footers "
        "quotes` | 20 | 50.00% | 25.00% | 99.00% | – | 12 |"
    ]


def test_without_rows_the_whole_file_is_written_with_every_baseline(tmp_path, stand_ins):
    results = tmp_path / "RESULTS.md"
    seed_grid.main(["--max_seq_lengths", "30", "--cells", "rnn", "--inits", "random", "--results", str(results)])
    assert stand_ins["runs"] == [
        "glove_20ng",
        "glove_20ng_6class",
        "lstm_20ng",
        "glove_20ng_no_headers",
        "grid_rnn_30_50d_random",
    ]
    assert sorted(stand_ins["baselines"]) == [(6, False), (20, False), (20, True)]
    text = results.read_text()
    assert "| GloVe mean-pool | `configs/glove_20ng.json` | 20 | 50.00% | 25.00% | 99.00% | – | 12 |" in text
    assert "| 30 | 50 | rnn | random | 50.00% | 25.00% | 12 | 34 |" in text and "Rows updated" not in text


def test_a_finished_run_is_read_back_from_another_checkout_and_changed_arguments_train_again(tmp_path, monkeypatch):
    trained = []

    def main(argv):  # what run_classification leaves: its output folder with all_results.json
        trained.append(argv)
        output_dir = Path(argv[argv.index("--output_dir") + 1])
        output_dir.mkdir(parents=True)
        (output_dir / "all_results.json").write_text('{"test_accuracy": 0.75}')
        return {"test_accuracy": 0.75}

    monkeypatch.setattr(seed_grid.run_classification, "main", main)
    args = seed_grid.parse_args(["--only", "grid", "--output_dir", str(tmp_path), "--max_seq_lengths", "30"])
    run = seed_grid.grid_runs(args)[0]
    assert seed_grid.run_once(run, args) == {
        "test_accuracy": 0.75,
        **seed_grid.json.loads((tmp_path / run.name / seed_grid.CPU_FILE).read_text()),
    }
    assert len(trained) == 1
    # the same run recorded by a checkout elsewhere (its config's absolute path differs): read back, not deleted
    argv_file = tmp_path / run.name / seed_grid.ARGV_FILE
    recorded = seed_grid.json.loads(argv_file.read_text())
    recorded["argv"][0] = str(tmp_path / "elsewhere" / "textcls" / "configs" / Path(recorded["argv"][0]).name)
    argv_file.write_text(seed_grid.json.dumps(recorded))
    (tmp_path / run.name / "all_results.json").write_text('{"test_accuracy": 0.5}')
    assert seed_grid.run_once(run, args)["test_accuracy"] == 0.5
    assert len(trained) == 1 and (tmp_path / run.name / "all_results.json").exists()
    # other arguments (another epoch count) train again
    args = seed_grid.parse_args(
        ["--only", "grid", "--output_dir", str(tmp_path), "--max_seq_lengths", "30", "--grid_epochs", "2"]
    )
    assert seed_grid.run_once(seed_grid.grid_runs(args)[0], args)["test_accuracy"] == 0.75
    assert len(trained) == 2


def test_an_edited_config_trains_again(tmp_path, monkeypatch):
    """Results are kept by config path and arguments; a config whose contents changed since is another run."""
    repo = tmp_path / "repo"
    (repo / "configs").mkdir(parents=True)
    config = repo / "configs" / "lstm_20ng.json"
    config.write_text((seed_grid.REPO / "configs" / "lstm_20ng.json").read_text())
    monkeypatch.setattr(seed_grid, "REPO", repo)
    trained = []

    def main(argv):
        trained.append(argv)
        output_dir = Path(argv[argv.index("--output_dir") + 1])
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "all_results.json").write_text('{"test_accuracy": 0.75}')
        return {"test_accuracy": 0.75}

    monkeypatch.setattr(seed_grid.run_classification, "main", main)
    args = seed_grid.parse_args(["--only", "grid", "--output_dir", str(tmp_path / "out"), "--max_seq_lengths", "30"])
    run = seed_grid.grid_runs(args)[0]
    seed_grid.run_once(run, args)
    seed_grid.run_once(run, args)
    assert len(trained) == 1  # unchanged: read back
    config.write_text(config.read_text().replace('"hidden_size": 128', '"hidden_size": 64'))
    seed_grid.run_once(run, args)
    assert len(trained) == 2
