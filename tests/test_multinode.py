"""Jobs on two hosts: the README's multi-node command lines, run for real.

The hosts are network namespaces on a private link, each with its own sshd,
host name and CPU (`bert_tf.localhosts`, fixtures in tests/multihost.py);
the filesystem is shared, as on a cluster with NFS, except that the output
directory on hostB is a directory of hostB's own (`private_dir`), so that
"only rank 0's machine has checkpoints and outputs" can be checked.

* `create_pretraining_data.py --task_index=i --num_tasks=2`, one task per
  host at the same time: the same files, byte for byte, as one host writing
  all of them, on a shared output directory and on separate ones.
* README's `horovodrun --gloo -np 2 -H hostA:1,hostB:1 python
  run_pretraining.py --use_horovod ...` and `mpirun -np 2 -H hostA:1,hostB:1
  ... python run_pretraining.py ...` (the launchers are read from README's
  "Several machines" section): the evaluation loss and every variable
  after N steps equal those of the same job with 2 processes on one host
  (1e-6), and hostB's output directory stays empty.
* `run_classifier.py` with evaluation during training on the two hosts.
* Faults: every process of hostB SIGKILLed mid-training ends the job within
  60 s with a message naming the lost rank, leaving no process on either
  host; hostB's link taken down ends it within Gloo's timeout
  (`--gloo-timeout-seconds`); after each, the same command resumes from the
  last checkpoint and ends at exactly the requested step.

Without root or network namespaces these skip, saying why (they fail under
CI=true instead).
"""
# pylint: disable=redefined-outer-name

import json
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from conftest import TINY_VOCAB
from multihost import start_multihost

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
BIN = os.path.dirname(sys.executable)
HOROVODRUN = os.path.join(BIN, "horovodrun")
MPIRUN = shutil.which("mpirun") or "/usr/bin/mpirun"
SEQ, PRED = 32, 5
STEPS = 6
LONG_STEPS = 300  # the fault tests' jobs
GLOO_TIMEOUT = 20


def _require_horovod(mpi=False):
  code = ("import horovod.tensorflow as h; "
          "print(int(h.gloo_built()), int(h.mpi_built()))")
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                        text=True, timeout=120)
  if proc.returncode != 0 or not os.path.exists(HOROVODRUN):
    message = ("multi-host tests need Horovod built with TensorFlow (`make "
               "horovod`): %s" % proc.stderr.strip()[-300:])
    if os.environ.get("CI", "").lower() == "true":
      pytest.fail(message, pytrace=False)
    pytest.skip(message)
  gloo, mpi_built = proc.stdout.split()
  if mpi and not (int(mpi_built) and os.path.exists(MPIRUN)):
    message = ("the mpirun test needs Horovod built with MPI (Debian's "
               "openmpi-bin and libopenmpi-dev installed before `make "
               "horovod`)")
    if os.environ.get("CI", "").lower() == "true":
      pytest.fail(message, pytrace=False)
    pytest.skip(message)
  assert int(gloo)


@pytest.fixture(scope="module")
def hosts():
  """hostA and hostB, one CPU each (so that a process there computes with
  the threads of one of two processes on this 2-core machine)."""
  cpus = ["0", "1"] if len(os.sched_getaffinity(0)) >= 2 else None
  machines = start_multihost(2, cpus=cpus)
  try:
    yield machines
  finally:
    machines.close()


@pytest.fixture(scope="module")
def work(tmp_path_factory):
  """A shared directory with a tiny vocabulary, corpus and bert config."""
  root = tmp_path_factory.mktemp("multinode")
  vocab = []
  for token in TINY_VOCAB:
    if token not in vocab:
      vocab.append(token)
  (root / "vocab.txt").write_text("\n".join(vocab) + "\n")
  words = [w for w in vocab if w.isalpha()]
  rng = random.Random(3)
  documents = []
  for _ in range(12):
    topic = rng.sample(words, 8)
    documents.append("\n".join(
        " ".join(rng.choice(topic) for _ in range(rng.randint(4, 9))) + " ."
        for _ in range(14)))
  (root / "corpus.txt").write_text("\n\n".join(documents) + "\n")
  config = dict(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                num_attention_heads=4, intermediate_size=37,
                hidden_act="gelu", hidden_dropout_prob=0.1,
                attention_probs_dropout_prob=0.1, max_position_embeddings=64,
                type_vocab_size=2, initializer_range=0.02)
  (root / "bert_config.json").write_text(json.dumps(config))
  return root


def _create_data(work, output, task=None):
  command = [sys.executable, os.path.join(ROOT, "create_pretraining_data.py"),
             "--input_file=%s" % (work / "corpus.txt"),
             "--output_file=%s" % output,
             "--vocab_file=%s" % (work / "vocab.txt"),
             "--max_seq_length=%d" % SEQ,
             "--max_predictions_per_seq=%d" % PRED, "--dupe_factor=6",
             "--window_mb=0.0005"]
  if task is not None:
    command += ["--task_index=%d" % task, "--num_tasks=2"]
  return command


def _sh(argv):
  return " ".join("'%s'" % a.replace("'", "'\\''") for a in argv)


def _data_on_both_hosts(hosts, work, out_dir):
  """Task 0 on hostA and task 1 on hostB (over ssh), at the same time."""
  output = str(out_dir / "wiki.tfrecord@4")
  first = hosts.popen("hostA", _create_data(work, output, 0),
                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                      text=True)
  second = hosts.popen("hostA", ["ssh", "hostB", _sh(_create_data(
      work, output, 1))], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
  for proc in (first, second):
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]


def _files(directory):
  return {name: (directory / name).read_bytes()
          for name in sorted(os.listdir(directory))
          if not name.startswith(".")}


@pytest.fixture(scope="module")
def records(hosts, work):
  """One host's pretraining files (4 of them) for the training tests, and
  the two hosts' side by side, on a shared and on separate directories."""
  one = work / "data_one"
  proc = subprocess.run(_create_data(work, str(one / "wiki.tfrecord@4")),
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  shared = work / "data_shared"
  _data_on_both_hosts(hosts, work, shared)
  separate = work / "data_separate"
  backing = hosts.private_dir("hostB", str(separate))
  _data_on_both_hosts(hosts, work, separate)
  import pathlib  # pylint: disable=g-import-not-at-top
  return dict(one=_files(one), shared=_files(shared),
              separate_a=_files(separate),
              separate_b=_files(pathlib.Path(backing)),
              pattern=str(one / "wiki.tfrecord-*"))


def test_data_creation_on_two_hosts_writes_one_hosts_files(records):
  one = records["one"]
  assert sorted(one) == ["wiki.tfrecord-%05d-of-00004" % k for k in range(4)]
  counts = [input_count(b) for b in one.values()]
  assert max(counts) - min(counts) <= 1 and min(counts) > 20, counts
  assert records["shared"] == one
  # Separate disks: task 0 wrote files 0 and 2 on hostA, task 1 files 1 and
  # 3 on hostB, each having built every window itself.
  assert records["separate_a"] == {k: v for k, v in one.items()
                                   if k[-10] in "02"}
  assert records["separate_b"] == {k: v for k, v in one.items()
                                   if k[-10] in "13"}


def input_count(data):
  """The number of TFRecord records in `data` (bytes)."""
  count, offset = 0, 0
  while offset < len(data):
    length = int.from_bytes(data[offset:offset + 8], "little")
    offset += 16 + length
    count += 1
  return count


def _pretraining_flags(work, pattern, out, steps=STEPS, save_every=None):
  return [sys.executable, os.path.join(ROOT, "run_pretraining.py"),
          "--use_horovod", "--input_file=" + pattern, "--output_dir=" + out,
          "--do_train=True", "--do_eval=True", "--max_eval_steps=2",
          "--bert_config_file=%s" % (work / "bert_config.json"),
          "--train_batch_size=4", "--eval_batch_size=8",
          "--max_seq_length=%d" % SEQ, "--max_predictions_per_seq=%d" % PRED,
          "--num_train_steps=%d" % steps, "--num_warmup_steps=2",
          "--learning_rate=1e-3", "--random_seed=11",
          "--save_checkpoints_steps=%d" % (save_every or steps),
          "--log_every_n_steps=%d" % (save_every or 1)]


def readme_launcher(program):
  """The launcher of README's "Several machines" command that starts with
  PROGRAM (horovodrun, mpirun): its argv up to `python`."""
  with open(README, encoding="utf-8") as f:
    text = f.read()
  section = text.split("### Several machines", 1)[1].split("\n## ", 1)[0]
  for line in section.replace("\\\n", " ").splitlines():
    if line.startswith(program + " "):
      argv = shlex.split(line, comments=True)
      return argv[:argv.index("python")]
  raise AssertionError("README's Several machines section has no %s "
                       "command" % program)


def _horovodrun(host_list, command, timeout=None):
  """README's horovodrun launcher, for HOST_LIST."""
  launcher = readme_launcher("horovodrun")
  assert launcher[launcher.index("-H") + 1] == "hostA:1,hostB:1"
  launcher[launcher.index("-H") + 1] = host_list
  if timeout:
    launcher.append("--gloo-timeout-seconds=%d" % GLOO_TIMEOUT)
  return [HOROVODRUN] + launcher[1:] + command


def _mpirun(command):
  """README's mpirun launcher (as root: Open MPI's variables allow it)."""
  return [MPIRUN] + readme_launcher("mpirun")[1:] + command


MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_orte_tag_output": "1"}


def _eval(out):
  values = {}
  with open(os.path.join(out, "eval_results.txt")) as f:
    for line in f:
      key, value = line.strip().split(" = ")
      values[key] = float(value)
  return values


def _variables(out):
  reader = tf.train.load_checkpoint(out)
  return {name: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()
          if not name.startswith("global_step")}


def _ok(proc):
  output = proc.stdout + (proc.stderr or "")
  assert proc.returncode == 0, output[-8000:]
  return output


@pytest.fixture(scope="module")
def one_host_job(work, records):
  """The reference: the same job, 2 processes on this one machine."""
  _require_horovod()
  out = str(work / "one_host")
  proc = subprocess.run(
      _horovodrun("localhost:2", _pretraining_flags(work, records["pattern"],
                                                    out)),
      capture_output=True, text=True, timeout=300, cwd=str(work))
  _ok(proc)
  return out


def _same_job(one_out, two_out):
  a, b = _eval(one_out), _eval(two_out)
  assert a["global_step"] == b["global_step"] == STEPS
  for key in ("loss", "masked_lm_loss", "next_sentence_loss"):
    assert abs(a[key] - b[key]) <= 1e-6, (key, a[key], b[key])
  va, vb = _variables(one_out), _variables(two_out)
  assert sorted(va) == sorted(vb) and len(va) > 20
  worst = max(float(np.max(np.abs(va[k] - vb[k]))) for k in va)
  assert worst <= 1e-6, worst


def test_horovodrun_gloo_on_two_hosts_equals_one_host(hosts, work, records,
                                                      one_host_job):
  out = str(work / "two_hosts_gloo")
  hostb_view = hosts.private_dir("hostB", out)
  output = _ok(hosts.run("hostA", _horovodrun(
      "hostA:1,hostB:1", _pretraining_flags(work, records["pattern"], out)),
                         timeout=300, cwd=str(work)))
  assert "rank 1 (local rank 0 of 1)" in output  # a host of its own
  _same_job(one_host_job, out)
  assert tf.train.latest_checkpoint(out).endswith("-%d" % STEPS)
  assert os.listdir(hostb_view) == []  # nothing on hostB


def test_mpirun_on_two_hosts_equals_one_host(hosts, work, records,
                                             one_host_job):
  _require_horovod(mpi=True)
  out = str(work / "two_hosts_mpi")
  hostb_view = hosts.private_dir("hostB", out)
  output = _ok(hosts.run("hostA", _mpirun(
      _pretraining_flags(work, records["pattern"], out)),
                         timeout=300, cwd=str(work),
                         env=dict(os.environ, **MPI_ENV)))
  assert "[1,1]<stderr>" in output  # rank 1, started by Open MPI's ssh
  _same_job(one_host_job, out)
  assert os.listdir(hostb_view) == []


def test_classifier_with_evaluation_during_training_on_two_hosts(hosts,
                                                                 work):
  _require_horovod()
  data = work / "mrpc"
  data.mkdir()
  rng = random.Random(1)
  words = ["the", "dog", "cat", "runs", "ran", "fast", "slow", "good", "bad",
           "movie", "film", "great", "man", "woman", "city", "house", "car"]
  for split, n in (("train", 48), ("dev", 16)):
    rows = ["Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"]
    for i in range(n):
      a = " ".join(rng.choice(words) for _ in range(6))
      same = rng.random() < 0.5
      b = a if same else " ".join(rng.choice(words) for _ in range(6))
      rows.append("%d\t%d\t%d\t%s\t%s" % (int(same), i, i + 1000, a, b))
    (data / ("%s.tsv" % split)).write_text("\n".join(rows) + "\n")
  out = str(work / "classifier")
  hostb_view = hosts.private_dir("hostB", out)
  command = [sys.executable, os.path.join(ROOT, "run_classifier.py"),
             "--use_horovod", "--task_name=MRPC", "--do_train=true",
             "--do_eval=true", "--data_dir=%s" % data,
             "--vocab_file=%s" % (work / "vocab.txt"),
             "--bert_config_file=%s" % (work / "bert_config.json"),
             "--max_seq_length=32", "--train_batch_size=4",
             "--learning_rate=1e-3", "--num_train_epochs=2",
             "--eval_every_steps=3", "--output_dir=" + out,
             "--random_seed=3"]
  output = _ok(hosts.run("hostA", _horovodrun("hostA:1,hostB:1", command),
                         timeout=300, cwd=str(work)))
  assert "Input share of rank 1" in output
  # 48 examples / (4 x 2 processes) = 6 updates an epoch: 12 in all,
  # evaluated after 3, 6, 9 and 12.
  with open(os.path.join(out, "eval_history.jsonl")) as f:
    steps = [json.loads(line)["global_step"] for line in f if line.strip()]
  assert steps == [3, 6, 9, 12]
  assert _eval(out)["global_step"] == 12
  assert os.listdir(hostb_view) == []


# ---------------------------------------------------------------------------
# Faults.


def _checkpoint_step(out):
  path = tf.train.latest_checkpoint(out)
  return int(path.rsplit("-", 1)[1]) if path else 0


def _start_long_job(hosts, work, records, out, log):
  command = _horovodrun("hostA:1,hostB:1", _pretraining_flags(
      work, records["pattern"], out, steps=LONG_STEPS, save_every=20),
                        timeout=True)
  job = hosts.popen("hostA", command, stdout=log, stderr=subprocess.STDOUT,
                    cwd=str(work))
  deadline = time.time() + 180
  while _checkpoint_step(out) < 20:
    assert job.poll() is None, open(log.name).read()[-6000:]
    assert time.time() < deadline, "no checkpoint after 180 s"
    time.sleep(0.2)
  return command, job


def _wait(job, timeout, what):
  """Waits for JOB; kills it and fails with WHAT after TIMEOUT seconds.
  Returns the seconds it took."""
  start = time.time()
  try:
    job.wait(timeout=timeout)
  except subprocess.TimeoutExpired:
    job.kill()
    pytest.fail("%s %d s after the fault" % (what, timeout))
  return time.time() - start


def _job_processes(hosts, name):
  """The pids in host NAME other than its listening sshd."""
  keep = hosts.sshd_pid(name)
  return [p for p in hosts.pids(name) if p != keep]


def _resume(hosts, work, command, out, killed_at):
  output = _ok(hosts.run("hostA", command, timeout=300, cwd=str(work)))
  restored = [int(s) for s in re.findall(
      r"Restoring parameters from \S+model\.ckpt-(\d+)", output)]
  assert restored and restored[0] >= killed_at > 0, restored
  assert _checkpoint_step(out) == LONG_STEPS
  assert _eval(out)["global_step"] == LONG_STEPS
  return output


def test_host_killed_mid_training_ends_job_then_resumes(hosts, work, records,
                                                        tmp_path):
  _require_horovod()
  out = str(work / "killed")
  hosts.private_dir("hostB", out)
  with open(tmp_path / "job.log", "w") as log:
    command, job = _start_long_job(hosts, work, records, out, log)
    killed_at = _checkpoint_step(out)
    assert killed_at < LONG_STEPS
    hosts.kill_all("hostB")  # the machine crashes: sshd too
    took = _wait(job, 60, "the job still ran")
  output = (tmp_path / "job.log").read_text()
  assert job.returncode != 0
  assert took <= 60
  assert re.search(r"Process (name: )?1 exit", output) or (
      "lost the Horovod job" in output), output[-4000:]
  time.sleep(1)
  assert _job_processes(hosts, "hostA") == []
  assert hosts.pids("hostB") == []
  hosts.start_sshd("hostB")  # the machine is back
  _resume(hosts, work, command, out, killed_at)


def test_link_down_mid_training_ends_job_then_resumes(hosts, work, records,
                                                      tmp_path):
  _require_horovod()
  out = str(work / "unplugged")
  hosts.private_dir("hostB", out)
  with open(tmp_path / "job.log", "w") as log:
    command, job = _start_long_job(hosts, work, records, out, log)
    cut_at = _checkpoint_step(out)
    hosts.link("hostB", up=False)
    try:
      took = _wait(job, GLOO_TIMEOUT + 60, "the job still ran")
      output = (tmp_path / "job.log").read_text()
      assert job.returncode != 0
      assert re.search(r"Process (name: )?[01] exit", output) or (
          "lost the Horovod job" in output), output[-4000:]
      # hostB's rank, cut off, gives up by itself after Gloo's timeout.
      deadline = time.time() + GLOO_TIMEOUT + 30
      while _job_processes(hosts, "hostB") and time.time() < deadline:
        time.sleep(0.5)
      left = _job_processes(hosts, "hostB")
    finally:
      hosts.link("hostB", up=True)
  assert took <= GLOO_TIMEOUT + 45, took
  assert _job_processes(hosts, "hostA") == []
  assert left == [] or all(  # only sshd sessions that wait for their client
      "sshd" in open("/proc/%d/cmdline" % p).read() for p in left
      if os.path.exists("/proc/%d" % p))
  hosts.kill_all("hostB", keep_sshd=True)
  _resume(hosts, work, command, out, cut_at)
