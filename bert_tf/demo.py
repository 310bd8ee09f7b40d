"""The newcomer's demo: all of BERT, end to end, on text every Python ships.

  python -m bert_tf.demo [--output_dir=./demo_output] [--quick]
  python -m bert_tf.demo --from_minilm [--minilm_dir=DIR]

No download, no data set, no network: the corpus is the standard library's
`pydoc_data.topics`, the English reference prose that `help("if")`,
`help("yield")` ... print (79 topics, about 465,000 characters). The demo

  1. extracts the prose sentences of every topic (code samples and grammar
     rules are left out). Topics that share sentences (e.g. "if" is a part of
     "compound") are merged into one topic group, named after its largest
     topic, so that no sentence belongs to two groups. A fifth of all
     sentences, chosen by a hash of their text, are held out: the vocabulary,
     the pretraining and the fine-tuning never see them; they only serve for
     evaluation;
  2. builds a WordPiece vocabulary from the training sentences
     (`bert_tf.vocab_builder`);
  3. writes masked-LM / next-sentence pretraining TFRecords, one document per
     topic group, one sentence per line (`bert_tf.tasks.pretraining`);
  4. pretrains a small BERT (2 layers, hidden size 128) from scratch
     (`bert_tf.tasks.pretrainer`), evaluated on the held-out sentences;
  5. fine-tunes it on a task derived from the same corpus: "which part of
     the Python documentation is this sentence from?", a classification of
     single sentences into the 8 largest topic groups (special method names,
     compound statements, built-in types, the debugger, string methods,
     sequence types, format strings, mapping types), run through
     run_classifier's generic task. The labels come from the corpus's own
     structure, not from people: a sentence's label is the topic group its
     text was taken from. Training sentences train, held-out sentences are
     the dev set (chance: 1/8; always answering the largest group: about
     23%);
  6. evaluates on the dev set (accuracy, Matthews correlation) and exports a
     SavedModel;
  7. answers every dev sentence from the SavedModel (the accuracy must agree
     with step 6; macro-averaged F1 is computed from these answers) and
     prints a few with their inputs;
  8. draws the loss, learning-rate and evaluation plots (`bert_tf.plots`).

It takes about 5 minutes on 2 CPU cores (`--quick`, for tests, well under
one). With `--from_minilm`, steps 2-4 are replaced by the converted MiniLM
checkpoint (6 layers, hidden size 384, with its own uncased vocabulary) found
in `--minilm_dir` (default ../shared/models/minilm-l6-h384-uncased), which
is then fine-tuned on the same task; the outputs get a "_minilm" suffix, so
both runs can sit side by side.

Everything is written under --output_dir; a second run starts afresh (the
outputs of a previous demo run in that directory are replaced; any other
non-empty directory is refused).

The library functions never read absl FLAGS (flags are defined only when the
module runs as a script).
"""

import collections
import dataclasses
import hashlib
import json
import logging as std_logging
import os
import random
import re
import sys
import time
from typing import Optional

import numpy as np
import tensorflow.compat.v1 as tf

from bert_tf import input_pipeline
from bert_tf import metrics
from bert_tf import modeling
from bert_tf import plots
from bert_tf.tasks import pretrainer
from bert_tf import runtime
from bert_tf import tokenization
from bert_tf import vocab_builder
from bert_tf.tasks import classifier
from bert_tf.tasks import glue
from bert_tf.tasks import pretraining

MARKER_FILE = ".bert_tf_demo"
DEFAULT_MINILM_DIR = os.path.join("..", "shared", "models",
                                  "minilm-l6-h384-uncased")
TSV_HEADER = ("label", "sentence")


@dataclasses.dataclass
class DemoConfig:
  """Settings of the demo (the CLI flags, by the same names).

  The defaults are the full demo (about 5 minutes on 2 CPU cores); `quick`
  shrinks every stage to a few steps (for tests).
  """
  output_dir: str = "demo_output"
  quick: bool = False
  from_minilm: bool = False
  minilm_dir: str = DEFAULT_MINILM_DIR
  dev_fraction: float = 0.2
  vocab_size: int = 3000
  max_seq_length: int = 64
  max_predictions_per_seq: int = 10
  dupe_factor: int = 5
  pretrain_steps: int = 1500
  pretrain_batch_size: int = 16
  pretrain_learning_rate: float = 5e-4
  finetune_epochs: float = 4.0
  finetune_batch_size: int = 32
  finetune_learning_rate: Optional[float] = None  # 5e-4, MiniLM: 1e-4
  num_classes: int = 8
  compare_with_scratch: bool = False
  num_predictions: int = 8
  pretrain_log_every_n_steps: int = 100
  log_every_n_steps: int = 20
  seed: int = 12345

  def resolved(self):
    """The config with --quick applied and defaults filled in."""
    cfg = dataclasses.replace(self)
    if cfg.finetune_learning_rate is None:
      cfg.finetune_learning_rate = 1e-4 if cfg.from_minilm else 5e-4
    if cfg.quick:
      cfg.vocab_size = min(cfg.vocab_size, 800)
      cfg.dupe_factor = 1
      cfg.pretrain_steps = min(cfg.pretrain_steps, 4)
      cfg.pretrain_batch_size = min(cfg.pretrain_batch_size, 8)
      cfg.finetune_epochs = min(cfg.finetune_epochs, 1.0)
      cfg.finetune_batch_size = min(cfg.finetune_batch_size, 8)
      cfg.num_predictions = min(cfg.num_predictions, 4)
      cfg.pretrain_log_every_n_steps = 2
      cfg.log_every_n_steps = 2
    return cfg


# ----------------------------------------------------------------------------
# The corpus: prose sentences of the pydoc topics, grouped and split.
# ----------------------------------------------------------------------------

TopicGroup = collections.namedtuple("TopicGroup",
                                    ["name", "topics", "sentences"])
TopicGroup.__doc__ = """Topics merged because they share sentences.

Attributes:
  name: str, the largest topic's name, e.g. "compound".
  topics: tuple of str, the merged pydoc topic names (sorted).
  sentences: tuple of str, distinct sentences in corpus order.
"""

_UNDERLINE = re.compile(r"^[*=\-^~]{3,}$")
_WORD = re.compile(r"^[\"'(]*[A-Za-z][A-Za-z'\u2019\-]*[\"'\u2019),.;:?!]*$")
_BULLET = re.compile(r"^(\*|-|\[\d+\]|\d+\.)\s+")


def load_topics():
  """Returns the standard library's pydoc topics: dict name -> text."""
  from pydoc_data import topics  # pylint: disable=g-import-not-at-top
  return dict(topics.topics)


def is_prose(sentence):
  """True for an English sentence (not code, a grammar rule or a fragment).

  It has 5 to 50 words, starts with an upper-case letter (or a quote),
  ends with ".", "?", "!" or ":", and at least 60% of its words are plain
  words (letters, apostrophes and hyphens, with punctuation around them).
  """
  words = sentence.split()
  if not 5 <= len(words) <= 50:
    return False
  if not (sentence[0].isupper() or sentence[0] in "\"'"):
    return False
  if sentence[-1] not in ".?!:":
    return False
  plain = sum(1 for w in words if _WORD.match(w))
  return plain >= 0.6 * len(words)


def topic_sentences(text):
  """The prose sentences of one topic's text, in order.

  Paragraphs are separated by blank lines. Titles (with their underlines),
  interactive sessions (">>>") and grammar rules ("::=") are skipped; list
  markers ("* ", "1. ", "[1] ") are removed; each paragraph is split with
  `pretraining.split_sentences` and only sentences passing `is_prose` (which
  rejects code) are kept.
  """
  sentences = []
  for paragraph in re.split(r"\n[ \t]*\n", text):
    lines = [line.strip() for line in paragraph.split("\n") if line.strip()]
    if not lines:
      continue
    if any(_UNDERLINE.match(line) for line in lines):
      continue
    if any(">>>" in line or "::=" in line for line in lines):
      continue
    joined = _BULLET.sub("", " ".join(lines))
    sentences.extend(s for s in pretraining.split_sentences(joined)
                     if is_prose(s))
  return sentences


def group_topics(topics, min_shared=2):
  """Merges topics that share sentences; every sentence ends in one group.

  Topics sharing at least `min_shared` sentences are merged (transitively).
  A sentence found in two groups even so is dropped from both; within a
  group, repeated sentences are kept once.

  Args:
    topics: dict name -> text.
    min_shared: int.

  Returns:
    list of TopicGroup with at least one sentence, sorted by name.
  """
  per_topic = {name: topic_sentences(text) for name, text in topics.items()}
  owners = collections.defaultdict(set)
  for name, sentences in per_topic.items():
    for s in sentences:
      owners[s].add(name)
  parent = {name: name for name in per_topic}

  def find(name):
    while parent[name] != name:
      parent[name] = parent[parent[name]]
      name = parent[name]
    return name

  shared = collections.Counter()
  for names in owners.values():
    names = sorted(names)
    for i, a in enumerate(names):
      for b in names[i + 1:]:
        shared[(a, b)] += 1
  for (a, b), count in sorted(shared.items()):
    if count >= min_shared:
      parent[find(a)] = find(b)
  members = collections.defaultdict(list)
  for name in sorted(per_topic):
    members[find(name)].append(name)

  group_of_topic = {}
  for root, names in members.items():
    for name in names:
      group_of_topic[name] = root
  groups = []
  for root, names in members.items():
    seen = set()
    sentences = []
    for name in names:
      for s in per_topic[name]:
        if s in seen or len({group_of_topic[t] for t in owners[s]}) > 1:
          continue
        seen.add(s)
        sentences.append(s)
    if sentences:
      largest = max(names, key=lambda n: (len(per_topic[n]), n))
      groups.append(TopicGroup(largest, tuple(names), tuple(sentences)))
  return sorted(groups, key=lambda g: g.name)


def is_held_out(sentence, dev_fraction):
  """Whether `sentence` is a dev sentence: decided by a hash of its text.

  Equal sentences always land on the same side, and the choice does not
  depend on the order or the rest of the corpus.
  """
  digest = int(hashlib.sha256(sentence.encode("utf-8")).hexdigest()[:8], 16)
  return digest % 10000 < dev_fraction * 10000


def split_sentences(groups, dev_fraction=0.2):
  """Holds out a `dev_fraction` of every group's sentences (by hash).

  Returns:
    (train_groups, dev_groups): lists of TopicGroup with the same names and
    order, holding the training and the held-out sentences.
  """
  train, dev = [], []
  for group in groups:
    held = [is_held_out(s, dev_fraction) for s in group.sentences]
    train.append(group._replace(sentences=tuple(
        s for s, h in zip(group.sentences, held) if not h)))
    dev.append(group._replace(sentences=tuple(
        s for s, h in zip(group.sentences, held) if h)))
  return train, dev


def class_groups(groups, num_classes):
  """The names of the `num_classes` largest groups (the task's labels),
  sorted."""
  ranked = sorted(groups, key=lambda g: (-len(g.sentences), g.name))
  return sorted(g.name for g in ranked[:num_classes])


def write_corpus(groups, path):
  """Writes one sentence per line, a blank line between groups (documents)."""
  text = "\n\n".join("\n".join(g.sentences) for g in groups if g.sentences)
  input_pipeline.atomic_write_text(path, text + "\n")
  return path


def write_task_tsv(groups, labels, path, rng):
  """Writes `label<TAB>sentence` rows (header first) for the groups named in
  `labels`, in an order shuffled by `rng`, atomically.

  The shuffle matters: the classifier's input pipeline (like the
  reference's) shuffles within a buffer of 100 examples only, so rows sorted
  by label would give batches of a single class.

  Returns:
    list of (label, sentence), the rows written.
  """
  rows = [(g.name, s) for g in groups if g.name in labels
          for s in g.sentences]
  rng.shuffle(rows)
  lines = ["\t".join(TSV_HEADER)]
  for label, sentence in rows:
    if "\t" in sentence or "\n" in sentence:
      raise ValueError("A sentence holds a tab or newline: %r" % sentence)
    lines.append("%s\t%s" % (label, sentence))
  input_pipeline.atomic_write_text(path, "\n".join(lines) + "\n")
  return rows


def task_processor_kwargs(labels):
  """`GenericProcessor` arguments for the task's TSVs, i.e. run_classifier's
  --task_name=generic --text_a_column=sentence --label_column=label
  --labels=<labels>."""
  return dict(text_a_column="sentence", label_column="label",
              labels=list(labels), delimiter="\t", has_header=True,
              metric_names=("accuracy", "mcc"))


def macro_f1(predictions, labels, num_classes):
  """The mean over classes of the one-vs-rest F1."""
  return float(np.mean([metrics.f1_score(predictions, labels, k)
                        for k in range(num_classes)]))


# ----------------------------------------------------------------------------
# Output, logging and timing.
# ----------------------------------------------------------------------------

# TF / Estimator INFO lines that say nothing to a newcomer. Progress (loss,
# examples/sec, ETA), checkpoints, restores and results stay.
_QUIET_PATTERNS = re.compile(
    r"^(  name = |\*\*\* Features \*\*\*|\*\*\*\* Trainable Variables|"
    r"Calling model_fn|Done calling model_fn|Create CheckpointSaverHook|"
    r"Graph was finalized|Running local_init_op|Done running local_init_op|"
    r"Calling checkpoint listeners|Using config:|Using default config|"
    r"global_step/sec|Starting evaluation at|Inference Time|Evaluation \[|"
    r"Signatures (INCLUDED|EXCLUDED)|No assets to|Assets written to|"
    r"SavedModel written to|Writing to file|"
    r"\*\*\* Example|tokens: |input_ids: |label: |Estimator's model_fn|"
    r"Skipping training since max_steps|Could not find trained model|"
    r"\*\*\*\*\* Running|  Num examples|  Batch size|"
    r"Reusing cached|Wrote \d+ \w+ features)")


class _QuietFilter(std_logging.Filter):
  """Drops the TensorFlow log records matching `_QUIET_PATTERNS`."""

  def filter(self, record):
    try:
      message = record.getMessage()
    except Exception:  # pylint: disable=broad-except
      message = str(record.msg)
    return not _QUIET_PATTERNS.match(message)


def _setup_logging():
  """Readable progress logs: short prefix, Estimator chatter filtered."""
  runtime.set_verbosity()
  quiet = _QuietFilter()
  for name in ("tensorflow", "absl"):
    logger = std_logging.getLogger(name)
    if not any(isinstance(f, _QuietFilter) for f in logger.filters):
      logger.addFilter(quiet)
  formatter = std_logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
  # set_verbosity left one handler, on the root, for TF's and absl's records.
  for handler in std_logging.getLogger().handlers:
    handler.setFormatter(formatter)
  try:
    from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
    absl_logging.set_verbosity(absl_logging.INFO)
    absl_logging.get_absl_handler().setFormatter(formatter)
  except Exception:  # pylint: disable=broad-except
    pass


def _say(text=""):
  """A line for the reader, on stdout, kept in order with the logs."""
  sys.stderr.flush()
  print(text, flush=True)


class _Stages(object):
  """Numbered stage banners and their wall times."""

  def __init__(self, total):
    self.total = total
    self.index = 0
    self.times = collections.OrderedDict()
    self._name = None
    self._start = None

  def start(self, name, text):
    self.stop()
    self.index += 1
    self._name = name
    self._start = time.time()
    _say()
    _say("==> [%d/%d] %s" % (self.index, self.total, text))

  def stop(self):
    if self._name is not None:
      self.times[self._name] = round(time.time() - self._start, 1)
      self._name = None


def _prepare_output_dir(output_dir, owned):
  """Creates `output_dir`, replacing the parts a previous demo run wrote.

  Raises:
    ValueError: if `output_dir` is a non-empty directory that no demo run
      wrote (it has no marker file), so nothing of the user's is deleted.
  """
  if tf.io.gfile.exists(output_dir):
    if not tf.io.gfile.isdir(output_dir):
      raise ValueError("--output_dir=%s is a file; expected a directory (new "
                       "or from a previous demo run)." % output_dir)
    entries = tf.io.gfile.listdir(output_dir)
    if entries and MARKER_FILE not in entries:
      raise ValueError(
          "--output_dir=%s is not empty and was not written by the demo (no "
          "%s in it); expected a new directory or a previous demo output. "
          "Choose another --output_dir." % (output_dir, MARKER_FILE))
    for name in owned:
      path = os.path.join(output_dir, name)
      if tf.io.gfile.isdir(path):
        tf.io.gfile.rmtree(path)
      elif tf.io.gfile.exists(path):
        tf.io.gfile.remove(path)
  tf.io.gfile.makedirs(output_dir)
  input_pipeline.atomic_write_text(
      os.path.join(output_dir, MARKER_FILE),
      "Written by `python -m bert_tf.demo`; a later demo run replaces this "
      "directory's demo outputs.\n")


def tiny_bert_config(vocab_size, max_position_embeddings=128):
  """The demo's small BERT: 2 layers, hidden size 128, 2 heads."""
  return modeling.BertConfig(
      vocab_size=vocab_size, hidden_size=128, num_hidden_layers=2,
      num_attention_heads=2, intermediate_size=512, hidden_act="gelu",
      hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
      max_position_embeddings=max_position_embeddings, type_vocab_size=2,
      initializer_range=0.02)


# ----------------------------------------------------------------------------
# Answering from the SavedModel.
# ----------------------------------------------------------------------------


def predict_from_saved_model(export_path, sentences, vocab_file,
                             do_lower_case, max_seq_length, labels):
  """Answers sentences from an exported classifier SavedModel.

  Uses `bert_tf.predictor.Predictor` (without it, loads the SavedModel with
  `tf.saved_model.loader.load` and feeds its `serving_default` signature).

  Args:
    export_path: the timestamped SavedModel directory.
    sentences: list of str.
    vocab_file: the model's vocabulary.
    do_lower_case: bool.
    max_seq_length: the length the model was exported with.
    labels: the label list (for the fallback's features).

  Returns:
    numpy float array [len(sentences), num_labels] of class probabilities.
  """
  try:
    from bert_tf import predictor as predictor_lib  # pylint: disable=g-import-not-at-top
  except ImportError:
    predictor_lib = None
  if predictor_lib is not None:
    predictor = predictor_lib.Predictor(export_path, vocab_file=vocab_file,
                                        do_lower_case=do_lower_case)
    try:
      return np.asarray(predictor.predict(list(sentences)), np.float64)
    finally:
      predictor.close()
  tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case)
  features = [
      classifier.convert_single_example(
          10 ** 6, glue.InputExample("predict-%d" % i, text, None, labels[0]),
          list(labels), max_seq_length, tokenizer)
      for i, text in enumerate(sentences)]
  with tf.Graph().as_default(), tf.Session() as sess:
    meta = tf.saved_model.loader.load(sess, ["serve"], export_path)
    signature = meta.signature_def["serving_default"]
    feed = {}
    for name in ("input_ids", "input_mask", "segment_ids"):
      feed[signature.inputs[name].name] = np.array(
          [getattr(f, name) for f in features], np.int32)
    return sess.run(signature.outputs["probabilities"].name, feed)


# ----------------------------------------------------------------------------
# The demo.
# ----------------------------------------------------------------------------


def _float_metrics(metrics):
  return {k: float(v) for k, v in metrics.items()}


def _convert_minilm(cfg, target_dir):
  """Converts the Hugging Face MiniLM in cfg.minilm_dir to target_dir."""
  from bert_tf import convert  # pylint: disable=g-import-not-at-top
  if not os.path.isfile(os.path.join(cfg.minilm_dir, "config.json")):
    raise FileNotFoundError(
        "--from_minilm needs a Hugging Face BERT directory (config.json, "
        "model.safetensors, vocab.txt) at --minilm_dir=%s; none found." %
        cfg.minilm_dir)
  report = convert.hf_to_google(cfg.minilm_dir, target_dir, overwrite=True)
  tf.logging.info("Converted %s -> %s", cfg.minilm_dir, target_dir)
  del report
  return (os.path.join(target_dir, "bert_config.json"),
          os.path.join(target_dir, "vocab.txt"),
          os.path.join(target_dir, "bert_model.ckpt"))


def run(cfg):
  """Runs the whole demo as `cfg` says; returns the summary dict.

  The summary (also written to <output_dir>/summary.json) holds the paths of
  every stage's outputs, the metrics, the data sizes and the stage times.
  """
  cfg = cfg.resolved()
  _setup_logging()
  start = time.time()
  out = os.path.abspath(cfg.output_dir)
  suffix = "_minilm" if cfg.from_minilm else ""
  paths = collections.OrderedDict([
      ("corpus_dir", os.path.join(out, "corpus")),
      ("vocab_file", os.path.join(out, "vocab", "vocab.txt")),
      ("pretraining_data_dir", os.path.join(out, "pretraining_data")),
      ("pretrain_dir", os.path.join(out, "pretrain")),
      ("finetune_data_dir", os.path.join(out, "finetune_data")),
      ("finetune_dir", os.path.join(out, "finetune" + suffix)),
      ("export_dir", os.path.join(out, "export" + suffix)),
      ("predictions_file", os.path.join(out, "predictions%s.tsv" % suffix)),
      ("plots_dir", os.path.join(out, "plots" + suffix)),
      ("summary_file", os.path.join(out, "summary%s.json" % suffix)),
  ])
  if cfg.from_minilm:
    for key in ("vocab_file", "pretraining_data_dir", "pretrain_dir"):
      del paths[key]
    paths["minilm_checkpoint_dir"] = os.path.join(out, "minilm")
  elif cfg.compare_with_scratch:
    paths["finetune_scratch_dir"] = os.path.join(out, "finetune_scratch")
  owned = sorted({os.path.relpath(p, out).split(os.sep)[0]
                  for p in paths.values()})
  _prepare_output_dir(out, owned)
  stages = _Stages(6 if cfg.from_minilm else 8)
  summary = collections.OrderedDict(config=dataclasses.asdict(cfg),
                                    paths=paths)

  # 1. Corpus.
  stages.start("corpus", "Reading the corpus: the standard library's "
               "pydoc_data.topics (Python's own reference prose)")
  topics = load_topics()
  groups = group_topics(topics)
  train_groups, dev_groups = split_sentences(groups, cfg.dev_fraction)
  if cfg.quick:
    train_groups = [g._replace(sentences=g.sentences[:24])
                    for g in train_groups]
    dev_groups = [g._replace(sentences=g.sentences[:5]) for g in dev_groups]
  labels = class_groups(groups, cfg.num_classes)
  tf.io.gfile.makedirs(paths["corpus_dir"])
  train_corpus = write_corpus(
      train_groups, os.path.join(paths["corpus_dir"], "train_sentences.txt"))
  dev_corpus = write_corpus(
      dev_groups, os.path.join(paths["corpus_dir"], "dev_sentences.txt"))
  input_pipeline.atomic_write_text(
      os.path.join(paths["corpus_dir"], "topic_groups.json"),
      json.dumps({g.name: list(g.topics) for g in groups}, indent=2,
                 sort_keys=True) + "\n")
  num_train = sum(len(g.sentences) for g in train_groups)
  num_dev = sum(len(g.sentences) for g in dev_groups)
  summary["corpus"] = {"topics": len(topics), "groups": len(groups),
                       "train_sentences": num_train,
                       "dev_sentences": num_dev}
  _say("    %d topics -> %d topic groups (topics that share sentences are "
       "merged), %d prose sentences;" % (len(topics), len(groups),
                                         num_train + num_dev))
  _say("    %d for training, %d held out (by a hash of the text) for "
       "evaluation only." % (num_train, num_dev))
  _say("    -> %s (one sentence per line, a blank line between topic groups)"
       % train_corpus)

  # 2-4. Vocabulary, pretraining data and pretraining, or MiniLM.
  if cfg.from_minilm:
    stages.start("minilm", "Converting the MiniLM checkpoint (Hugging Face "
                 "layout) in %s to Google's layout" % cfg.minilm_dir)
    bert_config_file, vocab_file, init_checkpoint = _convert_minilm(
        cfg, paths["minilm_checkpoint_dir"])
    _say("    -> %s" % paths["minilm_checkpoint_dir"])
  else:
    stages.start("vocab", "Building a %d-entry WordPiece vocabulary from the "
                 "training sentences" % cfg.vocab_size)
    vocab = vocab_builder.build_vocab(
        train_corpus, os.path.dirname(paths["vocab_file"]), cfg.vocab_size,
        do_lower_case=True, seed=cfg.seed)
    vocab_file = vocab.vocab_file
    summary["vocab"] = {"size": vocab.vocab_size,
                        "unk_rate": round(vocab.unk_rate, 6)}
    tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=True)
    example = "The yield expression is used when defining a generator."
    _say("    %d entries, [UNK] rate %.3f%%. %r ->" % (
        vocab.vocab_size, 100 * vocab.unk_rate, example))
    _say("    %s" % " ".join(tokenizer.tokenize(example)))
    _say("    -> %s" % vocab_file)

    stages.start("pretraining_data", "Creating masked-LM / next-sentence "
                 "pretraining data (sequence length %d, at most %d masks, "
                 "%dx duplication)" % (cfg.max_seq_length,
                                       cfg.max_predictions_per_seq,
                                       cfg.dupe_factor))
    tf.io.gfile.makedirs(paths["pretraining_data_dir"])
    counts = {}
    for split, corpus in (("train", train_corpus), ("dev", dev_corpus)):
      instances = pretraining.create_training_instances(
          corpus, tokenizer, cfg.max_seq_length,
          cfg.dupe_factor if split == "train" else 1, 0.1, 0.15,
          cfg.max_predictions_per_seq,
          random.Random(cfg.seed + (split == "dev")))
      counts[split] = pretraining.write_instances(
          instances, tokenizer, cfg.max_seq_length,
          cfg.max_predictions_per_seq,
          [os.path.join(paths["pretraining_data_dir"], split + ".tfrecord")],
          num_logged=1 if split == "train" else 0)
    summary["pretraining_data"] = counts
    _say("    %d training and %d held-out instances -> %s" % (
        counts["train"], counts["dev"], paths["pretraining_data_dir"]))

    stages.start("pretrain", "Pretraining a small BERT from scratch (2 "
                 "layers, hidden size 128): %d steps of %d sequences" % (
                     cfg.pretrain_steps, cfg.pretrain_batch_size))
    tf.io.gfile.makedirs(paths["pretrain_dir"])
    bert_config_file = os.path.join(paths["pretrain_dir"], "bert_config.json")
    input_pipeline.atomic_write_text(
        bert_config_file, tiny_bert_config(vocab.vocab_size).to_json_string())
    result = pretrainer.run(pretrainer.PretrainingConfig(
        input_file=os.path.join(paths["pretraining_data_dir"],
                                "train.tfrecord"),
        eval_input_file=os.path.join(paths["pretraining_data_dir"],
                                     "dev.tfrecord"),
        bert_config_file=bert_config_file, output_dir=paths["pretrain_dir"],
        max_seq_length=cfg.max_seq_length,
        max_predictions_per_seq=cfg.max_predictions_per_seq,
        do_train=True, do_eval=True,
        train_batch_size=cfg.pretrain_batch_size, eval_batch_size=64,
        learning_rate=cfg.pretrain_learning_rate,
        num_train_steps=cfg.pretrain_steps,
        num_warmup_steps=max(1, cfg.pretrain_steps // 10),
        save_checkpoints_steps=max(cfg.pretrain_steps // 2, 1),
        max_eval_steps=20, keep_checkpoint_max=2, random_seed=cfg.seed,
        log_every_n_steps=cfg.pretrain_log_every_n_steps))
    summary["pretrain"] = _float_metrics(result["eval"])
    init_checkpoint = tf.train.latest_checkpoint(paths["pretrain_dir"])
    _say("    Held-out sentences: masked-LM accuracy %.3f, next-sentence "
         "accuracy %.3f" % (result["eval"]["masked_lm_accuracy"],
                            result["eval"]["next_sentence_accuracy"]))
    _say("    -> %s" % init_checkpoint)

  # 5. Fine-tuning data.
  stages.start("finetune_data", "Deriving the fine-tuning task: \"which part "
               "of the documentation is this sentence from?\"")
  tf.io.gfile.makedirs(paths["finetune_data_dir"])
  rng = random.Random(cfg.seed)
  train_rows = write_task_tsv(
      train_groups, labels,
      os.path.join(paths["finetune_data_dir"], "train.tsv"), rng)
  dev_rows = write_task_tsv(
      dev_groups, labels, os.path.join(paths["finetune_data_dir"], "dev.tsv"),
      rng)
  counts = collections.Counter(label for label, _ in dev_rows)
  majority = max(counts.values()) / max(1, len(dev_rows))
  summary["finetune_data"] = {"labels": labels,
                              "train_sentences": len(train_rows),
                              "dev_sentences": len(dev_rows),
                              "dev_majority_baseline": round(majority, 4)}
  _say("    The label of a sentence is the topic group it comes from; %d "
       "groups:" % len(labels))
  for label in labels:
    topics_of = next(g.topics for g in groups if g.name == label)
    _say("      %-16s %3d dev sentences  (topics: %s)" % (
        label, counts[label], ", ".join(topics_of)))
  _say("    %d training and %d dev sentences (chance %.3f, always the "
       "largest group %.3f) -> %s" % (
           len(train_rows), len(dev_rows), 1.0 / len(labels), majority,
           paths["finetune_data_dir"]))

  # 6. Fine-tuning, evaluation and export.
  steps = max(1, int(len(train_rows) / cfg.finetune_batch_size *
                     cfg.finetune_epochs))
  stages.start("finetune", "Fine-tuning %s: %d steps of %d sentences, then "
               "dev evaluation and SavedModel export" % (
                   "MiniLM" if cfg.from_minilm else "the pretrained BERT",
                   steps, cfg.finetune_batch_size))
  result = classifier.run(classifier.ClassifierConfig(
      task_name="generic", data_dir=paths["finetune_data_dir"],
      bert_config_file=bert_config_file, output_dir=paths["finetune_dir"],
      vocab_file=vocab_file, init_checkpoint=init_checkpoint,
      do_lower_case=True, max_seq_length=cfg.max_seq_length, do_train=True,
      do_eval=True, train_batch_size=cfg.finetune_batch_size,
      eval_batch_size=64, learning_rate=cfg.finetune_learning_rate,
      num_train_epochs=cfg.finetune_epochs,
      save_checkpoints_steps=max(steps // 2, 1), keep_checkpoint_max=2,
      random_seed=cfg.seed, export_dir=paths["export_dir"],
      log_every_n_steps=cfg.log_every_n_steps,
      processor_kwargs=task_processor_kwargs(labels)))
  summary["finetune"] = _float_metrics(result["eval"])
  if cfg.compare_with_scratch and not cfg.from_minilm:
    _say("    The same fine-tuning from a random initialisation, for "
         "comparison:")
    scratch = classifier.run(classifier.ClassifierConfig(
        task_name="generic", data_dir=paths["finetune_data_dir"],
        bert_config_file=bert_config_file,
        output_dir=paths["finetune_scratch_dir"], vocab_file=vocab_file,
        do_lower_case=True, max_seq_length=cfg.max_seq_length, do_train=True,
        do_eval=True, train_batch_size=cfg.finetune_batch_size,
        eval_batch_size=64, learning_rate=cfg.finetune_learning_rate,
        num_train_epochs=cfg.finetune_epochs,
        save_checkpoints_steps=max(steps // 2, 1), keep_checkpoint_max=1,
        random_seed=cfg.seed, log_every_n_steps=cfg.log_every_n_steps,
        processor_kwargs=task_processor_kwargs(labels)))
    summary["finetune_scratch"] = _float_metrics(scratch["eval"])
    _say("    From scratch: dev accuracy %.3f, Matthews correlation %.3f" % (
        scratch["eval"]["eval_accuracy"], scratch["eval"]["mcc"]))
  export_path = result["export_path"]
  paths["saved_model"] = export_path
  _say("    Dev: accuracy %.3f, Matthews correlation %.3f -> %s" % (
      result["eval"]["eval_accuracy"], result["eval"]["mcc"],
      os.path.join(paths["finetune_dir"], "eval_results.txt")))
  _say("    SavedModel -> %s" % export_path)

  # 7. Answers from the SavedModel.
  stages.start("predict", "Answering the %d dev sentences from the exported "
               "SavedModel" % len(dev_rows))
  probabilities = predict_from_saved_model(
      export_path, [sentence for _, sentence in dev_rows], vocab_file, True,
      cfg.max_seq_length, labels)
  predicted = np.argmax(probabilities, axis=-1)
  truth = np.array([labels.index(label) for label, _ in dev_rows])
  served = {"accuracy": metrics.accuracy(predicted, truth),
            "macro_f1": macro_f1(predicted, truth, len(labels))}
  summary["served"] = served
  lines = ["\t".join(("predicted", "probability", "label", "sentence"))]
  for (label, sentence), probs, k in zip(dev_rows, probabilities, predicted):
    lines.append("%s\t%.4f\t%s\t%s" % (labels[k], probs[k], label, sentence))
  input_pipeline.atomic_write_text(paths["predictions_file"],
                                   "\n".join(lines) + "\n")
  shown = []
  for label in labels:  # The first dev sentence of each group, in turn.
    for i, (row_label, _) in enumerate(dev_rows):
      if row_label == label:
        shown.append(i)
        break
  for i in shown[:cfg.num_predictions]:
    label, sentence = dev_rows[i]
    k = predicted[i]
    _say("    %r" % _shorten(sentence))
    _say("      -> %s (p=%.2f); it is from %s: %s" % (
        labels[k], probabilities[i][k], label,
        "right" if labels[k] == label else "wrong"))
  _say("    From the SavedModel: accuracy %.3f (as evaluated above), macro "
       "F1 %.3f -> %s" % (served["accuracy"], served["macro_f1"],
                          paths["predictions_file"]))

  # 8. Plots.
  stages.start("plots", "Drawing the training curves (bert_tf.plots)")
  written = collections.OrderedDict()
  model_dirs = [("finetune", paths["finetune_dir"])]
  if not cfg.from_minilm:
    model_dirs.insert(0, ("pretrain", paths["pretrain_dir"]))
  for name, model_dir in model_dirs:
    for kind, png in plots.make_plots(
        model_dir, os.path.join(paths["plots_dir"], name),
        title="demo " + name).items():
      written["%s_%s" % (name, kind)] = png
  paths["plots"] = written
  _say("    %d PNGs -> %s" % (len(written), paths["plots_dir"]))
  stages.stop()

  summary["stage_seconds"] = stages.times
  summary["wall_seconds"] = round(time.time() - start, 1)
  input_pipeline.atomic_write_text(
      paths["summary_file"], json.dumps(summary, indent=2) + "\n")
  _print_summary(cfg, summary)
  return summary


def _shorten(text, width=110):
  return text if len(text) <= width else text[:width - 3] + "..."


def _display(path):
  """`path` relative to the working directory when that is shorter."""
  relative = os.path.relpath(path)
  return relative if len(relative) < len(path) else path


def _print_summary(cfg, summary):
  """The closing lines: metrics, where things are, what to try next."""
  paths = summary["paths"]
  _say()
  _say("=" * 78)
  _say("Demo finished in %s (%s)." % (
      runtime.format_seconds(summary["wall_seconds"]),
      ", ".join("%s %ss" % kv for kv in summary["stage_seconds"].items())))
  if "pretrain" in summary:
    _say("  Pretraining, held-out sentences: masked-LM accuracy %.3f, "
         "next-sentence accuracy %.3f" % (
             summary["pretrain"]["masked_lm_accuracy"],
             summary["pretrain"]["next_sentence_accuracy"]))
  data = summary["finetune_data"]
  _say("  Which-topic task (%d groups), %d held-out sentences: accuracy "
       "%.3f, macro F1 %.3f, MCC %.3f" % (
           len(data["labels"]), data["dev_sentences"],
           summary["finetune"]["eval_accuracy"],
           summary["served"]["macro_f1"], summary["finetune"]["mcc"]))
  _say("  (chance %.3f; always answering the largest group %.3f)" % (
      1.0 / len(data["labels"]), data["dev_majority_baseline"]))
  if "finetune_scratch" in summary:
    _say("  The same fine-tuning from random weights: accuracy %.3f, MCC %.3f"
         % (summary["finetune_scratch"]["eval_accuracy"],
            summary["finetune_scratch"]["mcc"]))
  if cfg.quick:
    _say("  --quick: a few steps per stage; the numbers mean nothing.")
  _say("Outputs:")
  for key, label in (("corpus_dir", "corpus (sentences, topic groups)"),
                     ("vocab_file", "vocabulary"),
                     ("pretraining_data_dir", "pretraining TFRecords"),
                     ("pretrain_dir", "pretrained BERT (checkpoints)"),
                     ("minilm_checkpoint_dir", "converted MiniLM"),
                     ("finetune_data_dir", "task TSVs (train, dev)"),
                     ("finetune_dir", "fine-tuned model, eval_results.txt"),
                     ("finetune_scratch_dir", "the same from random weights"),
                     ("saved_model", "SavedModel"),
                     ("predictions_file", "answers from the SavedModel"),
                     ("plots_dir", "plots (PNG)"),
                     ("summary_file", "this summary (JSON)")):
    if key in paths:
      _say("  %-36s %s" % (label, _display(paths[key])))
  _say("Next:")
  _say("  tensorboard --logdir %s" % _display(os.path.abspath(
      cfg.output_dir)))
  _say("  python -m bert_tf.plots --model_dir=%s" % _display(
      paths["finetune_dir"]))
  _say("  python -m bert_tf.predictor --export_dir=%s --input_file=FILE.txt" %
       _display(paths["export_dir"]))
  if "pretrain_dir" in paths:
    _say("  # your own labelled TSV (columns: label, sentence) on the "
         "demo's BERT:")
    _say("  python run_classifier.py --task_name=generic --do_train "
         "--do_eval --data_dir=DIR --text_a_column=sentence "
         "--label_column=label --vocab_file=%s --bert_config_file=%s "
         "--init_checkpoint=%s --max_seq_length=%d --output_dir=/tmp/my_task"
         % (_display(paths["vocab_file"]),
            _display(os.path.join(paths["pretrain_dir"], "bert_config.json")),
            _display(paths["pretrain_dir"]), cfg.max_seq_length))
  if not cfg.from_minilm and os.path.isdir(cfg.minilm_dir):
    _say("  python -m bert_tf.demo --from_minilm   # the same task from the "
         "pretrained MiniLM in %s" % cfg.minilm_dir)
  _say("=" * 78)


def _define_flags():
  """Defines the CLI flags (only when run as a script)."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  defaults = DemoConfig()
  flags.DEFINE_string("output_dir", defaults.output_dir,
                      "Where everything is written.")
  flags.DEFINE_bool("quick", False,
                    "A few steps per stage (for tests): checks the plumbing, "
                    "learns nothing.")
  flags.DEFINE_bool("from_minilm", False,
                    "Fine-tune the converted MiniLM checkpoint of "
                    "--minilm_dir instead of pretraining a small BERT.")
  flags.DEFINE_string("minilm_dir", defaults.minilm_dir,
                      "Hugging Face MiniLM directory for --from_minilm.")
  flags.DEFINE_integer("pretrain_steps", defaults.pretrain_steps,
                       "Pretraining steps.")
  flags.DEFINE_float("finetune_epochs", defaults.finetune_epochs,
                     "Fine-tuning epochs over the training sentences.")
  flags.DEFINE_float("finetune_learning_rate", None,
                     "Fine-tuning learning rate (default 5e-4, MiniLM 1e-4).")
  flags.DEFINE_bool("compare_with_scratch", False,
                    "Also fine-tune from random weights (about a minute "
                    "more) to show what the pretraining adds.")
  flags.DEFINE_integer("vocab_size", defaults.vocab_size, "Vocabulary size.")
  flags.DEFINE_integer("seed", defaults.seed, "Random seed.")


def main(_):
  from absl import flags  # pylint: disable=g-import-not-at-top
  options = flags.FLAGS
  cfg = DemoConfig(
      output_dir=options.output_dir, quick=options.quick,
      from_minilm=options.from_minilm, minilm_dir=options.minilm_dir,
      pretrain_steps=options.pretrain_steps,
      finetune_epochs=options.finetune_epochs,
      finetune_learning_rate=options.finetune_learning_rate,
      compare_with_scratch=options.compare_with_scratch,
      vocab_size=options.vocab_size, seed=options.seed)
  run(cfg)
  return 0


if __name__ == "__main__":
  import bert_tf  # pylint: disable=g-import-not-at-top
  from bert_tf import flags as bert_flags  # pylint: disable=g-import-not-at-top
  bert_tf.quiet_tensorflow()
  _define_flags()
  bert_flags.run_main(main)
