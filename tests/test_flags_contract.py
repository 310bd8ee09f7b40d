"""The flag contract of every training script.

* A script's flags are exactly the settings of its config dataclass (plus
  the few that select what it runs on, such as the Hub module handle): every
  setting has its flag and every flag is a setting (that its run reads is
  checked by the recording runs in test_driver.py and below).
* Every flag of the reference's scripts keeps its name, type and default.
* A flag that another script has and this one does not is refused, naming
  it and saying what to use instead.
"""

import json
import os
import subprocess
import sys

import pytest

from bert_tf import settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The reference's flags: name -> (absl flag type, default), as Google's
# run_classifier.py, run_squad.py and run_pretraining.py define them.
_TPU = {"use_tpu": ("bool", False), "tpu_name": ("string", None),
        "tpu_zone": ("string", None), "gcp_project": ("string", None),
        "master": ("string", None), "num_tpu_cores": ("int", 8)}
_CHECKPOINTS = {"save_checkpoints_steps": ("int", 1000),
                "iterations_per_loop": ("int", 1000)}
REFERENCE_FLAGS = {
    "run_classifier": dict(
        data_dir=("string", None), bert_config_file=("string", None),
        task_name=("string", None), vocab_file=("string", None),
        output_dir=("string", None), init_checkpoint=("string", None),
        do_lower_case=("bool", True), max_seq_length=("int", 128),
        do_train=("bool", False), do_eval=("bool", False),
        do_predict=("bool", False), train_batch_size=("int", 32),
        eval_batch_size=("int", 8), predict_batch_size=("int", 8),
        learning_rate=("float", 5e-5), num_train_epochs=("float", 3.0),
        warmup_proportion=("float", 0.1), **_CHECKPOINTS, **_TPU),
    "run_squad": dict(
        bert_config_file=("string", None), vocab_file=("string", None),
        output_dir=("string", None), train_file=("string", None),
        predict_file=("string", None), init_checkpoint=("string", None),
        do_lower_case=("bool", True), max_seq_length=("int", 384),
        doc_stride=("int", 128), max_query_length=("int", 64),
        do_train=("bool", False), do_predict=("bool", False),
        train_batch_size=("int", 32), predict_batch_size=("int", 8),
        learning_rate=("float", 5e-5), num_train_epochs=("float", 3.0),
        warmup_proportion=("float", 0.1), n_best_size=("int", 20),
        max_answer_length=("int", 30), verbose_logging=("bool", False),
        version_2_with_negative=("bool", False),
        null_score_diff_threshold=("float", 0.0), **_CHECKPOINTS, **_TPU),
    "run_pretraining": dict(
        bert_config_file=("string", None), input_file=("string", None),
        output_dir=("string", None), init_checkpoint=("string", None),
        max_seq_length=("int", 128), max_predictions_per_seq=("int", 20),
        do_train=("bool", False), do_eval=("bool", False),
        train_batch_size=("int", 32), eval_batch_size=("int", 8),
        learning_rate=("float", 5e-5), num_train_steps=("int", 100000),
        num_warmup_steps=("int", 10000), max_eval_steps=("int", 100),
        **_CHECKPOINTS, **_TPU),
}
# The reference's run_classifier_with_tfhub.py inherits run_classifier's.
REFERENCE_FLAGS["run_classifier_with_tfhub"] = dict(
    REFERENCE_FLAGS["run_classifier"],
    bert_hub_module_handle=("string", None))

# script -> (config class path, flags beyond the config's settings)
SCRIPTS = {
    "run_classifier": ("bert_tf.tasks.classifier.ClassifierConfig", set()),
    "run_squad": ("bert_tf.tasks.squad_runner.SquadConfig", set()),
    "run_pretraining": ("bert_tf.tasks.pretrainer.PretrainingConfig", set()),
    "run_classifier_with_tfhub": ("bert_tf.tasks.classifier.ClassifierConfig",
                                  {"bert_hub_module_handle"}),
}
if os.path.exists(os.path.join(ROOT, "run_ner.py")):
  SCRIPTS["run_ner"] = ("bert_tf.tasks.ner.NerConfig", set())

_LIST_FLAGS = """
import importlib, json, sys
from absl import flags
module = importlib.import_module(sys.argv[1])
F = flags.FLAGS
out = {}
for flag in F.get_key_flags_for_module(module):
  out[flag.name] = [flag.flag_type(), flag.default]
print(json.dumps({"flags": out, "refusals": sorted(
    getattr(module, "REFUSALS", {}))}))
"""


def _script_flags(script):
  proc = subprocess.run([sys.executable, "-c", _LIST_FLAGS, script], cwd=ROOT,
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


def _config_class(path):
  module, name = path.rsplit(".", 1)
  return getattr(__import__(module, fromlist=[name]), name)


@pytest.fixture(scope="module")
def script_flags():
  return {script: _script_flags(script) for script in SCRIPTS}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_flags_are_exactly_the_settings(script, script_flags):
  config_path, extra = SCRIPTS[script]
  cls = _config_class(config_path)
  want = set(extra)
  for field in settings.flag_fields(cls):
    want.add(field.name)
    want.update(field.metadata.get("aliases", ()))
  have = set(script_flags[script]["flags"])
  assert have - want == set(), "flags without a setting"
  assert want - have == set(), "settings without a flag"
  # Each flag's default is its setting's default.
  defaults = settings.defaults(cls)
  for name, (_, default) in script_flags[script]["flags"].items():
    if name in defaults:
      assert default == defaults[name], name


@pytest.mark.parametrize("script", sorted(REFERENCE_FLAGS))
def test_reference_flags_keep_name_type_and_default(script, script_flags):
  have = script_flags[script]["flags"]
  for name, (kind, default) in REFERENCE_FLAGS[script].items():
    assert name in have, "%s lacks the reference's --%s" % (script, name)
    assert have[name][0] == kind, name
    if isinstance(default, float):
      assert have[name][1] == pytest.approx(default), name
    else:
      assert have[name][1] == default, name


@pytest.mark.parametrize("script", ["run_classifier", "run_squad",
                                    "run_pretraining"])
def test_refused_flags_are_other_scripts_flags(script, script_flags):
  refusals = script_flags[script]["refusals"]
  assert refusals, script
  all_flags = set()
  for other in script_flags.values():
    all_flags |= set(other["flags"])
  for name in refusals:
    assert name not in script_flags[script]["flags"], name
    assert name in all_flags, "%s refuses --%s, which no script has" % (
        script, name)


@pytest.mark.parametrize("argv, message", [
    (["run_pretraining.py", "--num_train_epochs=3"],
     "--num_train_epochs is not a flag of run_pretraining.py: "
     "run_pretraining.py counts updates: use --num_train_steps"),
    (["run_pretraining.py", "--do_predict"],
     "--do_predict is not a flag of run_pretraining.py"),
    (["run_pretraining.py", "--vocab_file=v.txt"],
     "the vocabulary goes to create_pretraining_data.py"),
    (["run_squad.py", "--eval_batch_size=4"],
     "use --predict_batch_size"),
    (["run_classifier.py", "--num_train_steps=10"],
     "run_classifier.py counts epochs: use --num_train_epochs"),
])
def test_refused_on_the_command_line(argv, message):
  proc = subprocess.run([sys.executable] + argv, cwd=ROOT,
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 1
  assert message in proc.stderr, proc.stderr[-2000:]
  assert "Traceback" not in proc.stderr


def test_generic_flags_refused_for_another_task(tmp_path, tiny_vocab_file):
  config = tmp_path / "bert_config.json"
  config.write_text(json.dumps(dict(
      vocab_size=120, hidden_size=32, num_hidden_layers=1,
      num_attention_heads=4, intermediate_size=37,
      max_position_embeddings=64, type_vocab_size=2)))
  proc = subprocess.run(
      [sys.executable, "run_classifier.py", "--task_name=mrpc",
       "--data_dir=%s" % tmp_path, "--bert_config_file=%s" % config,
       "--vocab_file=%s" % tiny_vocab_file, "--output_dir=%s" % (
           tmp_path / "out"), "--do_train", "--max_seq_length=32", "--text_a_column=3",
       "--delimiter=comma"],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 1
  assert ("error: --delimiter, --text_a_column applies to "
          "--task_name=generic only, not to --task_name=mrpc") in proc.stderr
