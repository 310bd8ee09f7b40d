"""The package as a user gets it: a wheel installed outside the repository.

Builds the wheel from a copy of the sources, installs it without
dependencies into a scratch environment beside the test venv (TensorFlow and
the other dependencies come from the test venv's site-packages through a
.pth line), and from a directory outside the repository runs every console
script's --help and `python -m bert_tf.<name> --help`, and two tiny runs
(create_pretraining_data.py and a run_classifier.py training) with the
bert_config.json shipped as package data.
"""

import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

from bert_tf import scripts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = ["setup.py", "README.md", "bert_tf"] + [
    name + ".py" for name in scripts.SCRIPTS]


def _run(cmd, cwd, env=None, timeout=300, stdout_only=False):
  proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True,
                        text=True, timeout=timeout, check=False)
  if stdout_only:
    return proc.returncode, proc.stdout
  return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
  """(bin directory, environment, work directory) of the scratch install."""
  tmp = tmp_path_factory.mktemp("packaging")
  src = tmp / "src"
  src.mkdir()
  for name in SOURCES:
    path = os.path.join(ROOT, name)
    if os.path.isdir(path):
      shutil.copytree(path, src / name, symlinks=False,
                      ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
      shutil.copy(path, src / name)
  dist = tmp / "dist"
  rc, out = _run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                  "--no-build-isolation", "-q", "-w", str(dist), str(src)],
                 cwd=str(tmp))
  assert rc == 0, out
  wheels = list(dist.glob("bert_tf-*.whl"))
  assert len(wheels) == 1, wheels

  scratch = tmp / "scratch"
  rc, out = _run([sys.executable, "-m", "venv", "--without-pip",
                  str(scratch)], cwd=str(tmp))
  assert rc == 0, out
  python = scratch / "bin" / "python"
  rc, site = _run([str(python), "-c", "import sysconfig; "
                   "print(sysconfig.get_paths()['purelib'])"], cwd=str(tmp))
  assert rc == 0, site
  # The test venv's packages (TensorFlow, absl, ...) without its editable
  # bert_tf: a plain path entry, whose own .pth files are not processed.
  with open(os.path.join(site.strip(), "test_venv.pth"), "w") as f:
    f.write(sysconfig.get_paths()["purelib"] + "\n")
  rc, out = _run([str(python), "-m", "pip", "install", "-q", "--no-deps",
                  "--ignore-installed", "--no-index", str(wheels[0])],
                 cwd=str(tmp))
  assert rc == 0, out
  work = tmp / "work"  # outside the repository, no sources in it
  work.mkdir()
  env = dict(os.environ)
  env.pop("PYTHONPATH", None)
  return scratch / "bin", env, work, wheels[0]


def test_wheel_holds_every_script_and_the_configs(installed):
  wheel = installed[3]
  names = zipfile.ZipFile(wheel).namelist()
  for script in scripts.SCRIPTS:
    assert script + ".py" in names
    assert "bert_tf/%s.py" % script in names
  configs = [n for n in names if n.startswith("bert_tf/configs/")]
  assert "bert_tf/configs/bert_tiny_L-2_H-128_A-2.json" in configs
  assert len(configs) >= 7
  entry_points = next(n for n in names if n.endswith("entry_points.txt"))
  text = zipfile.ZipFile(wheel).read(entry_points).decode()
  for script in scripts.SCRIPTS:
    assert "%s = bert_tf.scripts:%s" % (script, script) in text


def test_installed_package_comes_from_the_wheel(installed):
  bin_dir, env, work, _ = installed
  rc, out = _run([str(bin_dir / "python"), "-c",
                  "import bert_tf, run_classifier, os; "
                  "print(bert_tf.__file__); print(run_classifier.__file__); "
                  "print(sorted(os.listdir(bert_tf.CONFIG_DIR)))"],
                 cwd=str(work), env=env, stdout_only=True)
  assert rc == 0, out
  lines = out.strip().splitlines()
  scratch = str(bin_dir.parent)
  assert lines[-3].startswith(scratch) and lines[-2].startswith(scratch), out
  assert "bert_tiny_L-2_H-128_A-2.json" in lines[-1]


def test_every_script_help_installed(installed):
  bin_dir, env, work, _ = installed
  commands = [[str(bin_dir / name), "--help"] for name in scripts.SCRIPTS]
  commands += [[str(bin_dir / "python"), "-m", "bert_tf." + name, "--help"]
               for name in scripts.SCRIPTS]
  with concurrent.futures.ThreadPoolExecutor(2) as pool:
    results = list(pool.map(lambda c: _run(c, str(work), env), commands))
  for cmd, (rc, out) in zip(commands, results):
    # absl's --help exits with status 1 after printing the flags.
    assert rc in (0, 1), (cmd, out[-2000:])
    assert "Try --helpfull" in out and "Traceback" not in out, (
        cmd, out[-2000:])


def test_tiny_runs_outside_the_repository(installed, tiny_vocab_file):
  bin_dir, env, work, _ = installed
  text = work / "sample_text.txt"
  text.write_text("the dog runs fast .\nthe cat ran slow .\n"
                  "i love this movie .\n")
  rc, out = _run([str(bin_dir / "create_pretraining_data"),
                  "--input_file=" + str(text),
                  "--output_file=" + str(work / "examples.tfrecord"),
                  "--vocab_file=" + tiny_vocab_file, "--max_seq_length=16",
                  "--max_predictions_per_seq=3", "--dupe_factor=2"],
                 cwd=str(work), env=env)
  assert rc == 0, out[-3000:]
  assert (work / "examples.tfrecord").exists()

  data = work / "data"
  data.mkdir()
  rows = ["sentence\tlabel", "the dog runs fast .\t1", "a bad movie .\t0",
          "i love this book .\t1", "the film was terrible .\t0"]
  for name in ("train.tsv", "dev.tsv"):
    (data / name).write_text("\n".join(rows) + "\n")
  rc, config_dir = _run([str(bin_dir / "python"), "-c",
                         "import bert_tf; print(bert_tf.CONFIG_DIR)"],
                        cwd=str(work), env=env, stdout_only=True)
  assert rc == 0, config_dir
  config = os.path.join(config_dir.strip(),
                        "bert_tiny_L-2_H-128_A-2.json")
  rc, out = _run([str(bin_dir / "run_classifier"), "--task_name=generic",
                  "--data_dir=" + str(data), "--text_a_column=sentence",
                  "--label_column=label", "--vocab_file=" + tiny_vocab_file,
                  "--bert_config_file=" + config, "--max_seq_length=16",
                  "--do_train=true", "--do_eval=true",
                  "--train_batch_size=4", "--num_train_epochs=1",
                  "--output_dir=" + str(work / "out")],
                 cwd=str(work), env=env)
  assert rc == 0, out[-3000:]
  results = (work / "out" / "eval_results.txt").read_text()
  assert "eval_accuracy" in results
  json.dumps(results)  # plain text
