"""The command-line scripts, installed: console entry points and `-m`.

Each of the reference's scripts (`run_classifier.py`, ...) is a top-level
module, so that `import run_classifier` works as with Google's repository.
Installed, each is also a console command of the same name (`run_classifier
--help`, the functions below) and a module of the package (`python -m
bert_tf.run_classifier --help`: bert_tf/run_classifier.py, a launcher); all
three run the script's `if __name__ == "__main__"` block through `launch`.
"""

import runpy

from bert_tf import script_env

SCRIPTS = ("run_classifier", "run_squad", "run_pretraining", "run_ner",
           "create_pretraining_data", "prepare_corpus",
           "run_classifier_with_tfhub", "extract_features", "run_sweep")


def launch(script):
  """Runs the top-level module `script` as `python script.py` would."""
  if script not in SCRIPTS:
    raise ValueError("Unknown script %r; one of %s" % (script, SCRIPTS))
  script_env.configure()  # before the script's imports load TensorFlow
  runpy.run_module(script, run_name="__main__", alter_sys=True)


# Console entry points (setup.py): one function per script.
def run_classifier():
  launch("run_classifier")


def run_squad():
  launch("run_squad")


def run_pretraining():
  launch("run_pretraining")


def run_ner():
  launch("run_ner")


def create_pretraining_data():
  launch("create_pretraining_data")


def prepare_corpus():
  launch("prepare_corpus")


def run_classifier_with_tfhub():
  launch("run_classifier_with_tfhub")


def extract_features():
  launch("extract_features")


def run_sweep():
  launch("run_sweep")
