"""early_stopping_patience on a run that really stops early: it ends before its last epoch, and the model it saves
and evaluates is the best checkpoint's, not the last one's."""

import json

import run_classification
from tests.test_checkpoints import arguments, data  # noqa: F401  (data is a fixture)

EPOCHS, PATIENCE = 30, 2


def test_early_stopping_stops_and_keeps_the_best_model(tmp_path, data):  # noqa: F811
    output_dir = tmp_path / "out"
    results = run_classification.main(
        arguments(data, output_dir, "--num_train_epochs", str(EPOCHS), "--early_stopping_patience", str(PATIENCE))
        + ["--do_predict", "false"]
    )
    state = json.loads((output_dir / "trainer_state.json").read_text())
    evaluations = [entry for entry in state["log_history"] if "eval_macro_f1" in entry]
    assert state["epoch"] < EPOCHS and state["global_step"] < state["max_steps"]
    # it stopped after PATIENCE evaluations that did not beat the best one
    best_index = max(range(len(evaluations)), key=lambda i: (evaluations[i]["eval_macro_f1"], -i))
    assert len(evaluations) == best_index + 1 + PATIENCE
    assert state["best_metric"] == evaluations[best_index]["eval_macro_f1"]

    best = output_dir / f"checkpoint-{evaluations[best_index]['step']}"
    last = output_dir / f"checkpoint-{state['global_step']}"
    assert state["best_model_checkpoint"] == str(best) and best != last
    saved = (output_dir / "model.safetensors").read_bytes()
    assert saved == (best / "model.safetensors").read_bytes() != (last / "model.safetensors").read_bytes()
    assert results["eval_macro_f1"] == state["best_metric"]  # the final evaluation is the best model's
