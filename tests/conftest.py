"""Shared pytest fixtures.

`../shared` (beside the project root) holds real data and a real checkpoint. In a
user's clone it may be absent: tests that need it skip with a message. Under CI
(`CI=true`) or with `BERT_TF_REQUIRE_SHARED=1` a missing `../shared` is an error.
"""

import os
import pathlib

import pytest

import bert_tf

bert_tf.quiet_tensorflow()

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("BERT_TF_SHARED", ROOT.parent / "shared"))


def _require_shared():
  return (os.environ.get("BERT_TF_REQUIRE_SHARED") == "1" or
          os.environ.get("CI", "").lower() == "true")


def shared_path(*parts):
  """Returns SHARED/parts, skipping (or failing under CI) if it is absent."""
  path = SHARED.joinpath(*parts)
  if not path.exists():
    message = "needs %s (the shared data beside the project root)" % path
    if _require_shared():
      pytest.fail(message + "; CI requires it")
    pytest.skip(message)
  return path


# The test files that take minutes (real weights, whole runs through the
# scripts), longest first. `make test` runs the suite in two worker
# processes, a file per worker at a time (pytest-xdist, --dist loadfile);
# started first, they run while the other worker takes the many short files,
# instead of one worker finishing alone at the end.
LONG_FILES = ("test_learning.py", "test_readme.py", "test_ner_runner.py",
              "test_classifier.py", "test_squad_runner.py",
              "test_multinode.py")


def pytest_collection_modifyitems(items):
  """Runs LONG_FILES first; the order within a file is unchanged."""
  rank = {name: i for i, name in enumerate(LONG_FILES)}
  items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FILES)))


@pytest.fixture(autouse=True)
def _eager_execution_stays_on():
  """Library code must not switch eager execution off for the process (the
  reference's users call it from TF2 programs too); a test that did would
  also break every later test that relies on eager mode."""
  import tensorflow as tf2  # pylint: disable=g-import-not-at-top
  yield
  assert tf2.executing_eagerly(), (
      "eager execution was disabled globally during this test")


@pytest.fixture
def minilm_dir():
  return shared_path("models", "minilm-l6-h384-uncased")


@pytest.fixture
def glue_dir():
  return shared_path("data", "glue")


@pytest.fixture
def squad_file():
  return shared_path("data", "squad", "dev-v1.1-part-a.json")


@pytest.fixture
def corpus_dir():
  return shared_path("data", "corpus")


TINY_VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "an", "is",
    "was", "dog", "cat", "runs", "ran", "fast", "slow", "and", "or", "not",
    "good", "bad", "movie", "film", "great", "terrible", "i", "you", "he",
    "she", "it", "un", "##aff", "##able", "play", "##ing", "##ed", "##s",
    "want", "##ant", ".", ",", "!", "?", "'", "hello", "world", "how", "are",
    "to", "of", "in", "on", "with", "for", "this", "that", "very", "really",
    "love", "hate", "like", "book", "story", "man", "woman", "city", "house",
    "car", "red", "blue", "green", "big", "small", "new", "old", "day", "night",
    "time", "year", "good", "##ly", "##er", "##est", "be", "have", "do", "say",
    "go", "get", "make", "know", "think", "see", "come", "take", "no", "yes",
    "one", "two", "three",
]


@pytest.fixture
def tiny_vocab_file(tmp_path):
  """A ~100-token WordPiece vocabulary with the special tokens."""
  path = tmp_path / "vocab.txt"
  seen = []
  for token in TINY_VOCAB:
    if token not in seen:
      seen.append(token)
  path.write_text("\n".join(seen) + "\n", encoding="utf-8")
  return str(path)
