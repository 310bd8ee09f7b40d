"""The demo's corpus: prose sentences of the pydoc topics, grouped by topic,
split into training and held-out sentences, and the task's TSVs."""

import collections
import hashlib
import re

import numpy as np

from bert_tf import input_pipeline
from bert_tf import metrics
from bert_tf.tasks import pretraining

TSV_HEADER = ("label", "sentence")

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
