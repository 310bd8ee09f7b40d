"""Every example command of README.md runs (or, where it cannot here, parses).

The commands are read from README.md itself, so a command added there is
tested here:

* Each `python ...` command of a fenced ```bash block runs for real, from a
  scratch directory, on tiny fixtures (`workspace`): `$BERT_BASE_DIR` is a
  random 4-layer BERT of hidden size 32 over a 99-token vocabulary,
  `$GLUE_DIR/MRPC`, `$SQUAD_DIR`, `$CONLL_DIR` and the other inputs
  (`my_corpus.txt`, a 6-page Wikipedia dump, ...) are a few dozen lines, the
  shared MiniLM is a tiny Hugging Face directory, and `/tmp/` is inside the
  scratch directory. Step counts are scaled down (`SCALE`, `EXTRA_FLAGS`); a
  lone `...` or a `--flag=...` gets the flags of the recipe it stands for
  (`ELIDED`, `PLACEHOLDERS`). A command that reads what another wrote (the
  export of the MRPC run, phase 1 of pretraining, ...) runs after it.
  Every output the command names must exist afterwards.
* Each ```python block runs, with the same paths.
* The commands that cannot run here are listed in `FLAGS_ONLY`, with the
  reason. For them, and for the commands mentioned inline in the prose,
  every flag must be a flag of the script, with a value that parses (the
  script's own absl parser decides, in a subprocess: `_FLAG_CHECK`), and no
  refused flag or stray argument.
* `make` targets must exist in the Makefile, `pip install` extras in setup.py.

A misspelled flag fails either way: absl refuses it in a real run and in the
check. The runs take about 5.5 CPU-minutes in all, two commands at a time.
"""

import bz2
import concurrent.futures
import dataclasses
import glob
import importlib.util
import json
import os
import random
import re
import shlex
import subprocess
import sys
import threading
import time

import pytest

from bert_tf import scripts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
PYTHONS = ("python", "python3", ".venv/bin/python")
TIMEOUT = 600

# ---------------------------------------------------------------------------
# How a README command becomes a tiny run (paths relative to the scratch
# directory W, where every command runs).

# $VARIABLE -> directory under W.
VARIABLES = {"BERT_BASE_DIR": "bert_base", "GLUE_DIR": "glue",
             "SQUAD_DIR": "squad", "CONLL_DIR": "conll"}
# Paths of the README -> paths under W.
PATHS = {"/tmp/": "tmp/",
         "../shared/models/minilm-l6-h384-uncased": "hf_minilm",
         "/shared/data/": "shared_data/"}
# `--flag=...` and `--flag=configs/...`: the value the recipe leaves open.
PLACEHOLDERS = {"vocab_file": "$BERT_BASE_DIR/vocab.txt",
                "bert_config_file": "$BERT_BASE_DIR/bert_config.json",
                "init_checkpoint": "$BERT_BASE_DIR/bert_model.ckpt"}
# A lone `...`: the flags of the recipe above it ({line}: the command's).
ELIDED = {"run_classifier.py": [
    "--data_dir=$GLUE_DIR/MRPC", "--vocab_file=$BERT_BASE_DIR/vocab.txt",
    "--bert_config_file=$BERT_BASE_DIR/bert_config.json",
    "--init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt",
    "--output_dir=/tmp/elided-{line}"]}
# Sizes scaled down, wherever the flag is given.
SCALE = {"train_batch_size": "4", "num_train_epochs": "1.0",
         "num_train_steps": "2", "num_warmup_steps": "1", "dupe_factor": "1",
         "num_workers": "1", "num_shards": "2", "vocab_size": "100",
         "num_trials": "2", "batch_size": "2", "predict_batch_size": "2"}
PROGRAM_SCALE = {
    "bert_tf.benchmark": {"config": "$BERT_BASE_DIR/bert_config.json"}}
EXTRA_FLAGS = {
    "run_pretraining.py": ["--max_eval_steps=2"],
    "bert_tf.benchmark": ["--warmup_steps=1", "--steps=1", "--rounds=1",
                          "--matmul_size=64"]}
# Flags whose value a command writes (checked to exist after a real run).
OUTPUT_FLAGS = ("output_dir", "output_file", "output", "export_dir",
                "export_path", "sweep_dir", "json")

# The commands that cannot run here: flags checked only. pattern -> reason.
FLAGS_ONLY = {
    r"^horovodrun -np 4 -H localhost:4 ": "needs 4 GPUs",
    r"^horovodrun -np 8 -H localhost:8 ": "needs 8 GPUs",
    r"^horovodrun -np 16 -H node1:8,node2:8 ": "needs two machines",
    r"^mpirun -np 16 -H node1:8,node2:8 ": "needs Open MPI on two machines",
    r"^horovodrun --gloo -np 2 -H hostA:1,hostB:1 ":
        "needs two hosts; tests/test_multinode.py runs its launcher on two",
    r"^mpirun -np 2 -H hostA:1,hostB:1 ":
        "needs two hosts; tests/test_multinode.py runs its launcher on two",
    r"^horovodrun --gloo -np 2 -H localhost:2 ":
        "needs Horovod, which `make test` builds; tests/test_distributed.py "
        "runs run_classifier.py this way (Gloo, 2 processes)",
}
# `python -m MODULE` commands that take positional arguments: how many.
POSITIONAL = {"bert_tf.tasks.squad_eval": 2}
# What the make targets run, where a test runs it.
MAKE_TARGETS = {"demo": "tests/test_demo.py runs python -m bert_tf.demo",
                "test": "the test suite itself",
                "horovod": "builds Horovod (tests/test_distributed.py)",
                "wheel": "tests/test_packaging.py builds and installs it"}


@dataclasses.dataclass
class Command:
  """One example command of the README."""
  line: int  # of its first line in README.md
  source: str  # as written (continuation lines joined)
  lang: str  # "bash", "python" or "inline"

  @property
  def argv(self):
    return shlex.split(self.source, comments=True)

  @property
  def id(self):
    if self.lang == "python":
      return "L%d-python" % self.line
    program = python_program(self.argv)
    name = program[1] if program else self.argv[0]
    return "L%d-%s%s" % (self.line, re.sub(r"[^\w.=-]", "_", name),
                         "-inline" if self.lang == "inline" else "")


def read_commands(text):
  """The example commands of a Markdown text, in order."""
  commands = []
  fence = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
  for block in fence.finditer(text):
    lang, body = block.group(1), block.group(2)
    first = text.count("\n", 0, block.start(2)) + 1
    if lang == "python":
      commands.append(Command(first, body, "python"))
      continue
    if lang not in ("bash", "sh", "shell"):
      continue
    lines = body.split("\n")
    i = 0
    while i < len(lines):
      start, parts = i, [lines[i]]
      while parts[-1].rstrip().endswith("\\") and i + 1 < len(lines):
        parts[-1] = parts[-1].rstrip()[:-1]
        i += 1
        parts.append(lines[i])
      i += 1
      source = " ".join(p.strip() for p in parts)
      if shlex.split(source, comments=True):
        commands.append(Command(first + start, source, "bash"))
  prose = fence.sub(lambda m: "\n" * m.group(0).count("\n"), text)
  for span in re.finditer(r"`((?:\.venv/bin/)?python3?\s[^`]*|make\s[^`]*)`",
                          prose):
    line = prose.count("\n", 0, span.start()) + 1
    source = " ".join(span.group(1).split())
    commands.append(Command(line, source, "inline"))
  return commands


def python_program(argv):
  """(index of the interpreter, script or module, its arguments) of the
  first `python ...` in argv (after env assignments, horovodrun, mpirun)."""
  for i, token in enumerate(argv):
    if token in PYTHONS and i + 1 < len(argv):
      if argv[i + 1] == "-m":
        return i, argv[i + 2], argv[i + 3:]
      return i, argv[i + 1], argv[i + 2:]
  return None


def kind_of(command):
  """(kind, reason): the kind is "run", "python", "flags", "make", "pip" or
  "env"; the reason says why a "flags" command is only checked."""
  if command.lang == "python":
    return "python", None
  argv = command.argv
  words = [t for t in argv if not re.match(r"^[A-Z_]+=", t)]
  if words[0] == "export":
    return "env", None
  if words[0] in ("make", "pip"):
    return words[0], None
  if python_program(argv) is None:
    raise AssertionError("README line %d: not a command this test knows: %s"
                         % (command.line, command.source))
  if command.lang == "inline":
    return "flags", "mentioned in the prose, with placeholders"
  reasons = [r for p, r in FLAGS_ONLY.items() if re.search(p, command.source)]
  if reasons:
    return "flags", reasons[0]
  if words[0] not in PYTHONS:
    raise AssertionError("README line %d: give a reason in FLAGS_ONLY: %s" %
                         (command.line, command.source))
  return "run", None


with open(README, encoding="utf-8") as _f:
  COMMANDS = read_commands(_f.read())

# ---------------------------------------------------------------------------
# Substitution and scaling.


def substitute(text, workspace):
  """README paths and $VARIABLES -> the tiny fixtures under `workspace`."""
  for old, new in PATHS.items():
    text = text.replace(old, os.path.join(workspace, new))

  def variable(match):
    name = match.group(1) or match.group(2)
    if name not in VARIABLES:
      raise AssertionError("README uses $%s, unknown to test_readme.py "
                           "(add it to VARIABLES)" % name)
    return os.path.join(workspace, VARIABLES[name])

  return re.sub(r"\$\{(\w+)\}|\$(\w+)", variable, text)


def run_argv(command, workspace):
  """The program (script path or -m module) and the arguments of a real run,
  substituted and scaled down."""
  _, program, args = python_program(command.argv)
  if "..." in args:
    if program not in ELIDED:
      raise AssertionError("README line %d: what does `...` stand for? "
                           "(add it to ELIDED)" % command.line)
    given = {a.split("=", 1)[0] for a in args}
    args = [a for a in args if a != "..."] + [
        a.format(line=command.line) for a in ELIDED[program]
        if a.split("=", 1)[0] not in given]
  scale = dict(SCALE, **PROGRAM_SCALE.get(program, {}))
  out = []
  for arg in args:
    match = re.match(r"^--(\w+)=(.*)$", arg)
    if match:
      name, value = match.groups()
      if value == "..." or value.startswith("configs/..."):
        value = PLACEHOLDERS[name]
      value = scale.get(name, re.sub(r"@\d+$", "@2", value))
      arg = "--%s=%s" % (name, value)
    out.append(substitute(arg, workspace))
  out += [substitute(a, workspace) for a in EXTRA_FLAGS.get(program, [])]
  if program.endswith(".py"):
    return [sys.executable, os.path.join(ROOT, program)] + out
  return [sys.executable, "-m", program] + out


def _path(value, workspace, pattern_chars="*?[%"):
  """(normalised absolute path, True if it is a pattern cut at its first
  wildcard or shard marker)."""
  path = os.path.join(workspace, value)
  cut = re.search(r"@\d+$|[%s]" % re.escape(pattern_chars), path)
  if cut:
    return path[:cut.start()], True
  return os.path.normpath(path), False


def paths_of(command, workspace):
  """(inputs, outputs): the paths a real run reads and writes."""
  if command.lang == "python":
    text = substitute(command.source, workspace)
    found = re.findall(re.escape(workspace) + r"[^\s\"')]*", text)
    return [_path(p, workspace) for p in found], []
  inputs, outputs = [], []
  for arg in run_argv(command, workspace)[2:]:
    name, _, value = arg.partition("=")
    if not value:
      continue
    target = outputs if name[2:] in OUTPUT_FLAGS else inputs
    target.append(_path(value, workspace))
  return inputs, outputs


def _reads(path, output):
  """Whether `path` (of `paths_of`) is, or is inside, what `output` names."""
  p, (o, o_pattern) = path[0], output
  return p == o or p.startswith(o + os.sep) or (o_pattern and
                                                p.startswith(o))


# ---------------------------------------------------------------------------
# The tiny fixtures.


def _tiny_vocab():
  from conftest import TINY_VOCAB  # pylint: disable=g-import-not-at-top
  return list(dict.fromkeys(TINY_VOCAB))


WORDS = ["the", "dog", "cat", "runs", "ran", "fast", "slow", "good", "bad",
         "movie", "film", "great", "man", "woman", "city", "house", "car",
         "red", "blue", "green", "big", "small", "new", "old", "day", "night"]


def _sentence(rng, low=5, high=10):
  return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def _write(path, text):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    f.write(text)
  return path


def _wikipedia_dump(path, rng, pages=6):
  """A MediaWiki XML dump (bz2) of a few articles with markup."""
  xml = ['<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" '
         'version="0.10" xml:lang="en"><siteinfo><sitename>Wikipedia'
         '</sitename><dbname>enwiki</dbname><base>https://en.wikipedia.org/'
         'wiki/Main_Page</base><generator>MediaWiki 1.41</generator><case>'
         'first-letter</case><namespaces><namespace key="0" case="first-'
         'letter" /></namespaces></siteinfo>']
  for i in range(pages):
    text = ("'''Page %d''' is a [[city]] in the {{convert|3|km}} land."
            "<ref>a note</ref> %s\n\n== History ==\n%s" % (
                i, ". ".join(_sentence(rng) for _ in range(8)),
                ". ".join(_sentence(rng) for _ in range(8))))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">",
                                                                   "&gt;")
    xml.append(
        "<page><title>Page %d</title><ns>0</ns><id>%d</id><revision><id>%d"
        "</id><timestamp>2024-01-01T00:00:00Z</timestamp><contributor>"
        "<username>x</username><id>1</id></contributor><model>wikitext"
        "</model><format>text/x-wiki</format><text bytes=\"%d\" xml:space="
        "\"preserve\">%s</text><sha1>0</sha1></revision></page>" % (
            i, i + 1, i + 1, len(text), text))
  xml.append("</mediawiki>")
  with bz2.open(path, "wt", encoding="utf-8") as f:
    f.write("\n".join(xml))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
  """The scratch directory W with every input the README's commands read."""
  from bert_tf import export  # pylint: disable=g-import-not-at-top
  from bert_tf import modeling  # pylint: disable=g-import-not-at-top
  from test_classifier import write_mrpc_like  # pylint: disable=g-import-not-at-top
  from test_convert import TINY_CONFIG, _tiny_hf_state, _write_hf_dir  # pylint: disable=g-import-not-at-top
  from test_ner_runner import _tagged_file  # pylint: disable=g-import-not-at-top
  from test_squad_runner import make_squad  # pylint: disable=g-import-not-at-top
  w = str(tmp_path_factory.mktemp("readme"))
  rng = random.Random(0)

  def join(*parts):
    return os.path.join(w, *parts)

  os.makedirs(join("tmp"))

  # $BERT_BASE_DIR: vocab.txt, bert_config.json, bert_model.ckpt.
  vocab = _write(join("bert_base", "vocab.txt"), "\n".join(_tiny_vocab()) +
                 "\n")
  config = dict(vocab_size=128, hidden_size=32, num_hidden_layers=4,
                num_attention_heads=4, intermediate_size=37,
                hidden_act="gelu", hidden_dropout_prob=0.1,
                attention_probs_dropout_prob=0.1,
                max_position_embeddings=512, type_vocab_size=2,
                initializer_range=0.02)
  _write(join("bert_base", "bert_config.json"), json.dumps(config))
  export.save_random_checkpoint(modeling.BertConfig.from_dict(config),
                                join("bert_base", "bert_model.ckpt"))
  # The shared MiniLM: a tiny Hugging Face directory.
  hf_config = dict(TINY_CONFIG, max_position_embeddings=512)
  _write_hf_dir(join("hf_minilm"), hf_config,
                _tiny_hf_state(hf_config, "bert.", ("pretraining",)), vocab)

  # Task data.
  os.makedirs(join("conll"))
  write_mrpc_like(join("glue", "MRPC"), 16, 8, 4)
  os.makedirs(join("squad"))
  make_squad(join("squad", "train-v1.1.json"), n_paragraphs=8, seed=1)
  make_squad(join("squad", "dev-v1.1.json"), n_paragraphs=4, seed=2)
  for name, n, seed in (("train.txt", 24, 1), ("dev.txt", 8, 2),
                        ("test.txt", 8, 3)):
    tagged = _tagged_file(join("conll", name + ".tsv"), n, seed)
    with open(tagged, encoding="utf-8") as f:  # word POS chunk TAG
      lines = [" ".join([l.split("\t")[0], "NN", "I-NP", l.split("\t")[1]])
               if l.strip() else "" for l in f.read().split("\n")]
    _write(join("conll", name), "-DOCSTART- -X- -X- O\n\n" +
           "\n".join(lines))
  _tagged_file(join("my_train.tsv"), 24, 4)
  _tagged_file(join("my_dev.tsv"), 8, 5)
  _write(join("new.txt"), "the\ndog\nruns\n\nred\ncat\n")
  for name, n in (("train.csv", 24), ("dev.csv", 8), ("test.csv", 4)):
    rows = ["id,review,sentiment"] + [
        "%d,%s,%s" % (i, _sentence(rng), rng.choice(["neg", "pos"]))
        for i in range(n)]
    _write(join("my_data", name), "\n".join(rows) + "\n")

  tags = ["animal", "film", "place"]
  for name, n in (("train.tsv", 24), ("dev.tsv", 8), ("test.tsv", 4)):
    rows = ["text\ttags"] + [
        "%s\t%s" % (_sentence(rng), "|".join(
            t for t in tags if rng.random() < 0.4)) for _ in range(n)]
    _write(join("my_tags", name), "\n".join(rows) + "\n")

  # Text.
  _write(join("my_corpus.txt"), "\n\n".join(
      "\n".join(_sentence(rng) + " ." for _ in range(6)) for _ in range(4)) +
         "\n")
  _wikipedia_dump(join("enwiki-latest-pages-articles.xml.bz2"), rng)
  _write(join("input.txt"), "the dog runs fast . ||| the cat ran slow .\n"
         "hello world\n")
  _write(join("pairs.tsv"), "the cat sat .\ta cat was sitting .\n"
         "a good movie\tthe film was great\n")
  return w


# ---------------------------------------------------------------------------
# Running them: two at a time, each after the commands it reads from.


class Runs(object):
  """The README's real runs, started in README order on 2 workers."""

  def __init__(self, workspace):
    self.workspace = workspace
    self.pool = concurrent.futures.ThreadPoolExecutor(2)
    self.futures = {}
    self.lock = threading.Lock()
    self.real = [c for c in COMMANDS if kind_of(c)[0] in ("run", "python")]
    # The runs' environment, read here in pytest's thread: pytest sets and
    # deletes PYTEST_CURRENT_TEST in os.environ as each test starts and ends,
    # and a run's thread copying os.environ at that moment fails (KeyError).
    self.env = dict(os.environ, BERT_TF_TRACEBACK="1",
                    PYTHONPATH=os.pathsep.join(
                        [ROOT] + [p for p in [os.environ.get("PYTHONPATH")]
                                  if p]))
    self.env.pop("PYTEST_CURRENT_TEST", None)

  def dependencies(self, command):
    """The earlier runs that write what `command` reads or writes."""
    inputs, outputs = paths_of(command, self.workspace)
    out = []
    for other in self.real:
      if other.line >= command.line:
        break
      _, written = paths_of(other, self.workspace)
      if any(_reads(p, o) for p in inputs + outputs for o in written):
        out.append(other)
    return out

  def start(self, ids):
    """Submits the runs of `ids` and what they depend on, in README order
    (a run waits only for earlier ones: no deadlock)."""
    wanted = set(ids)
    for command in reversed(self.real):
      if command.id in wanted:
        wanted |= {c.id for c in self.dependencies(command)}
    with self.lock:
      for command in self.real:
        if command.id in wanted and command.id not in self.futures:
          self.futures[command.id] = self.pool.submit(self._run, command)

  def result(self, command):
    self.start([command.id])
    return self.futures[command.id].result()

  def _run(self, command):
    for dep in self.dependencies(command):
      rc = self.futures[dep.id].result()[0]
      if rc != 0:
        return 1, "depends on %s, which failed" % dep.id, 0.0
    if command.lang == "python":
      cmd = [sys.executable, "-c", substitute(command.source,
                                              self.workspace)]
    else:
      cmd = run_argv(command, self.workspace)
    start = time.time()
    proc = subprocess.run(cmd, cwd=self.workspace, env=self.env,
                          capture_output=True, text=True, timeout=TIMEOUT,
                          check=False)
    return (proc.returncode,
            "$ %s\n%s%s" % (shlex.join(cmd), proc.stdout, proc.stderr),
            time.time() - start)


@pytest.fixture(scope="module")
def runs(workspace, request):
  runner = Runs(workspace)
  selected = [item.callspec.params["command"].id
              for item in request.session.items
              if item.name.startswith("test_readme_command[")]
  runner.start(selected)
  yield runner
  runner.pool.shutdown(wait=False, cancel_futures=True)


# ---------------------------------------------------------------------------
# Checking flags without running.

_FLAG_CHECK = r"""
import json, os, runpy, sys
from absl import flags
target, args = sys.argv[1], json.loads(sys.argv[2])
original = flags.FlagValues.__call__

def check(self, argv, known_only=False):
  if known_only:  # a look-ahead (bert_tf.flags.prepare_environment)
    return original(self, argv, known_only=True)
  for flag in self._flags().values():
    flag.validators = []  # required flags may be left out here
  try:
    rest = original(self, argv)
    result = {"ok": True, "positional": list(rest[1:])}
  except flags.Error as e:
    result = {"ok": False, "error": str(e)}
  print("FLAG_CHECK " + json.dumps(result), flush=True)
  os._exit(0)

flags.FlagValues.__call__ = check
sys.argv = [target] + args
if target.endswith(".py"):
  runpy.run_path(target, run_name="__main__")
else:
  runpy.run_module(target, run_name="__main__", alter_sys=True)
print("FLAG_CHECK " + json.dumps({"ok": False, "error": "exited without "
                                  "parsing its flags"}), flush=True)
"""


def check_flags(program, args):
  """Parses `args` with the flags of `program` (a script of the checkout or
  a module); returns (ok, message). Without arguments, `program` must
  exist."""
  args = [a for a in args if a != "..."]
  target = os.path.join(ROOT, program) if program.endswith(".py") else program
  if not args:
    if program.endswith(".py"):
      return os.path.exists(target), "no such script: %s" % target
    return (importlib.util.find_spec(program) is not None,
            "no such module: %s" % program)
  env = dict(os.environ, PYTHONPATH=ROOT)
  proc = subprocess.run([sys.executable, "-c", _FLAG_CHECK, target,
                         json.dumps(args)], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=300,
                        check=False)
  lines = [l for l in proc.stdout.splitlines() if l.startswith("FLAG_CHECK ")]
  if not lines:
    return False, "rc %d: %s" % (proc.returncode, proc.stderr[-2000:])
  result = json.loads(lines[-1][len("FLAG_CHECK "):])
  if not result["ok"]:
    return False, result["error"]
  if len(result["positional"]) != POSITIONAL.get(program, 0):
    return False, "unexpected arguments: %s" % result["positional"]
  return True, ""


def _expand(command):
  """An inline `bert_tf.<name>` or `<name>.py` mentions every script."""
  _, program, args = python_program(command.argv)
  if "<name>" not in program:
    return [(program, args)]
  return [(program.replace("<name>", name), args) for name in scripts.SCRIPTS]


# ---------------------------------------------------------------------------
# The tests.


@pytest.mark.parametrize("command", COMMANDS, ids=[c.id for c in COMMANDS])
def test_readme_command(command, runs):
  kind, reason = kind_of(command)
  if kind in ("run", "python"):
    rc, output, seconds = runs.result(command)
    assert rc == 0, "README line %d failed:\n%s" % (command.line,
                                                     output[-6000:])
    if kind == "run":
      _, outputs = paths_of(command, runs.workspace)
      for path, pattern in outputs:
        assert glob.glob(path + "*") if pattern else os.path.exists(path), (
            "README line %d did not write %s" % (command.line, path))
    print("README line %d: %.1f s" % (command.line, seconds))
  elif kind == "flags":
    for program, args in _expand(command):
      ok, message = check_flags(program, args)
      assert ok, "README line %d (%s; flags checked only: %s): %s" % (
          command.line, program, reason, message)
  elif kind == "make":
    # make [VAR=value ...] target ...: every target exists and is tested,
    # every variable is one the Makefile reads.
    settings = [t for t in command.argv[1:] if re.match(r"^[A-Z_]+=", t)]
    with open(os.path.join(ROOT, "Makefile"), encoding="utf-8") as f:
      makefile = f.read()
    for target in command.argv[1:]:
      if target in settings:
        continue
      assert re.search(r"^%s:" % re.escape(target), makefile, re.M), target
      assert target in MAKE_TARGETS, target
    for setting in settings:
      name = setting.split("=", 1)[0]
      assert "$(%s)" % name in makefile, "the Makefile reads no %s" % name
    demo_args = [t.split("=", 1)[1] for t in command.argv
                 if t.startswith("DEMO_ARGS=")]
    if demo_args:
      ok, message = check_flags("bert_tf.demo", demo_args[0].split())
      assert ok, message
  elif kind == "pip":
    with open(os.path.join(ROOT, "setup.py"), encoding="utf-8") as f:
      setup = f.read()
    for extras in re.findall(r"\[([\w,]+)\]", command.source):
      for extra in extras.split(","):
        assert re.search(r'^\s+"%s": \[' % extra, setup, re.M), extra
  else:  # export VAR=...
    name = command.argv[1].split("=", 1)[0]
    assert name in VARIABLES, name


def test_every_exception_is_still_in_the_readme():
  for pattern in FLAGS_ONLY:
    assert any(re.search(pattern, c.source) for c in COMMANDS), pattern
  kinds = {kind_of(c)[0] for c in COMMANDS}
  assert {"run", "python", "flags", "make", "pip", "env"} <= kinds


def test_reading_commands_and_a_misspelled_flag():
  text = ("Intro `python -m bert_tf.plots --model_dir=DIR` and\n\n"
          "```bash\n# a comment\npython run_squad.py --do_train \\\n"
          "  --vocab_file=$BERT_BASE_DIR/vocab.txt   # trailing\n"
          "make demo\n```\n\n```python\nprint(1)\n```\n")
  commands = read_commands(text)
  assert [(c.line, c.lang, c.argv) for c in commands] == [
      (5, "bash", ["python", "run_squad.py", "--do_train",
                   "--vocab_file=$BERT_BASE_DIR/vocab.txt"]),
      (7, "bash", ["make", "demo"]),
      (11, "python", ["print(1)"]),
      (1, "inline", ["python", "-m", "bert_tf.plots", "--model_dir=DIR"])]
  with pytest.raises(AssertionError, match=r"\$NOWHERE"):
    substitute("--data_dir=$NOWHERE/x", "/w")
  ok, message = check_flags("run_classifier.py", [
      "--task_name=MRPC", "--max_seq_lenght=128"])
  assert not ok and "max_seq_lenght" in message
  ok, message = check_flags("bert_tf.benchmark", ["--hf=maybe"])
  assert not ok and "expected on or off" in message
  ok, message = check_flags("run_pretraining.py", ["--num_train_epochs=3"])
  assert not ok and "use --num_train_steps" in message
