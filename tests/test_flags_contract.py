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


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_training_script_chooses_the_optimizer_update(script,
                                                            script_flags):
  from bert_tf import optimization  # pylint: disable=g-import-not-at-top
  # The reference's update stays the default; the help says what each
  # choice is and when to pick it.
  assert script_flags[script]["flags"]["optimizer_type"] == [
      "string enum", "adamw"]
  field = {f.name: f for f in settings.flag_fields(
      _config_class(SCRIPTS[script][0]))}["optimizer_type"]
  assert field.metadata["choices"] == ["adamw", "adamw_bias_corrected",
                                       "lamb"]
  assert field.metadata["choices"] == list(optimization.OPTIMIZER_TYPES)
  help_text = settings.help_of(field)
  for name in field.metadata["choices"]:
    assert "%s: " % name in help_text, name
  assert "torch.optim.AdamW" in help_text and "bias" in help_text


@pytest.mark.parametrize("script", ["create_pretraining_data.py",
                                    "extract_features.py"])
def test_optimizer_type_refused_where_nothing_trains(script):
  proc = subprocess.run(
      [sys.executable, script, "--optimizer_type=adamw_bias_corrected"],
      cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert proc.returncode != 0
  assert "optimizer_type" in proc.stderr, proc.stderr[-2000:]
  assert "Traceback" not in proc.stderr


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


# ---------------------------------------------------------------------------
# Every setting of a script is read by its run (a flag always reaches the
# code): short runs of each task with a config that records the reads.
# Settings read only with Horovod or float16 are checked in distributed.py's
# source instead (`_setting(cfg, "<name>")`).

CONDITIONAL = {"horovod_fp16_allreduce", "init_loss_scale"}


def _assert_every_setting_read(cfg, reads):
  import dataclasses  # pylint: disable=g-import-not-at-top
  unread = {f.name for f in dataclasses.fields(cfg)} - reads
  assert unread <= CONDITIONAL, unread
  source = open(os.path.join(ROOT, "bert_tf", "distributed.py")).read()
  for name in unread:
    assert '"%s")' % name in source, name


def test_squad_run_reads_every_setting(tmp_path, tiny_vocab_file):
  from test_driver import _recording  # pylint: disable=g-import-not-at-top
  from test_squad_runner import make_squad, write_config  # pylint: disable=g-import-not-at-top
  from bert_tf.tasks import squad_runner  # pylint: disable=g-import-not-at-top
  data = make_squad(str(tmp_path / "train.json"), n_paragraphs=4)
  cfg, reads = _recording(squad_runner.SquadConfig(
      bert_config_file=write_config(tmp_path / "c.json"),
      output_dir=str(tmp_path / "out"), vocab_file=tiny_vocab_file,
      train_file=data, predict_file=data, max_seq_length=48, doc_stride=16,
      max_query_length=8, do_train=True, do_predict=True, do_eval=True,
      train_batch_size=4, predict_batch_size=4, num_train_epochs=2.0,
      eval_every_epochs=1.0, keep_best_checkpoint_by="f1",
      early_stopping_patience=3, export_dir=str(tmp_path / "export"),
      random_seed=0))
  result = squad_runner.run(cfg)
  assert [r["epoch"] for r in result["eval_history"]] == [1.0, 2.0]
  _assert_every_setting_read(cfg, reads)


def test_pretraining_run_reads_every_setting(tmp_path):
  from test_driver import _recording  # pylint: disable=g-import-not-at-top
  from test_pretraining_model import PRED, SEQ, tiny_config, write_pretraining_records  # pylint: disable=g-import-not-at-top
  from bert_tf.tasks import pretrainer  # pylint: disable=g-import-not-at-top
  data = str(tmp_path / "train.tfrecord")
  write_pretraining_records(data)
  config_file = str(tmp_path / "bert_config.json")
  with open(config_file, "w") as f:
    f.write(tiny_config().to_json_string())
  cfg, reads = _recording(pretrainer.PretrainingConfig(
      input_file=data, eval_input_file=data, bert_config_file=config_file,
      output_dir=str(tmp_path / "out"), max_seq_length=SEQ,
      max_predictions_per_seq=PRED, do_train=True, do_eval=True,
      train_batch_size=16, eval_batch_size=16, num_train_steps=6,
      num_warmup_steps=2, max_eval_steps=2, eval_every_steps=3,
      keep_best_checkpoint_by="masked_lm_loss", early_stopping_patience=2,
      export_dir=str(tmp_path / "export"), random_seed=3))
  result = pretrainer.run(cfg)
  assert [r["global_step"] for r in result["eval_history"]] == [3, 6]
  _assert_every_setting_read(cfg, reads)


def test_ner_run_reads_every_setting(tmp_path):
  from test_driver import _recording  # pylint: disable=g-import-not-at-top
  from test_ner_runner import _cfg, _tagged_file  # pylint: disable=g-import-not-at-top
  from bert_tf.tasks import ner  # pylint: disable=g-import-not-at-top
  train = _tagged_file(tmp_path / "train.txt", 24, seed=1)
  dev = _tagged_file(tmp_path / "dev.txt", 8, seed=2)
  cfg, reads = _recording(_cfg(
      tmp_path, train_file=str(train), eval_file=str(dev),
      predict_file=str(dev), do_train=True, do_eval=True, do_predict=True,
      num_train_epochs=2.0, eval_every_epochs=1.0,
      keep_best_checkpoint_by="f1", early_stopping_patience=3,
      export_dir=str(tmp_path / "export")))
  ner.run(cfg)
  _assert_every_setting_read(cfg, reads)
