"""SQuAD v1.1 / v2.0 data processing and answer post-processing.

This module carries the semantics of the reference `run_squad.py` as a
library, so that a runner script (or a notebook) can call it:

  * `read_squad_examples` parses the official SQuAD JSON into `SquadExample`s:
    the context is split on whitespace, and in training the answer's character
    offset is turned into a span of whitespace words.
  * `convert_examples_to_features` sub-tokenises questions and contexts, moves
    the answer span onto word pieces (shrinking it to the tokenised answer
    where possible), slides fixed-size windows over long contexts with a
    stride, and emits one `InputFeatures` per window.
  * `FeatureWriter` stores features as `tf.train.Example`s in a TFRecord under
    the reference's feature names; `name_to_features` parses them back.
  * `write_predictions` turns per-window start/end logits (`RawResult`s) into
    answer strings recovered from the original context, an n-best list with
    probabilities and, for SQuAD 2.0, null-answer score differences.

This module never reads absl FLAGS; every setting is an argument.
"""

import collections
import json
import math

from absl import logging
import numpy as np
import tensorflow.compat.v1 as tf

from bert_tf import input_pipeline
from bert_tf import tokenization

CLS_TOKEN = "[CLS]"
SEP_TOKEN = "[SEP]"

# Score given to an example whose windows offered no valid non-null span in
# SQuAD 2.0 post-processing (the reference crashes there); it ranks the
# example as "most surely unanswerable". It equals the reference's initial
# null score.
NO_NON_NULL_SCORE_DIFF = 1e6


class SquadFormatError(ValueError):
  """Raised for a SQuAD JSON file that does not follow the official format."""


def is_whitespace(char):
  """True for the characters that separate words of a SQuAD context.

  These are the reference's: space, tab, carriage return, newline and the
  narrow no-break space U+202F.
  """
  return char in (" ", "\t", "\r", "\n") or ord(char) == 0x202F


def split_context(text):
  """Splits a context into whitespace words and maps characters to words.

  Args:
    text: str, the paragraph text.

  Returns:
    (doc_tokens, char_to_word_offset): the list of words, and for every
    character of `text` the index of the word it belongs to. A whitespace
    character maps to the word before it (-1 before the first word).
  """
  doc_tokens = []
  char_to_word_offset = []
  after_space = True
  for char in text:
    if is_whitespace(char):
      after_space = True
    else:
      if after_space:
        doc_tokens.append(char)
      else:
        doc_tokens[-1] += char
      after_space = False
    char_to_word_offset.append(len(doc_tokens) - 1)
  return doc_tokens, char_to_word_offset


class SquadExample(object):
  """One question about one paragraph.

  For examples without an answer (evaluation) the positions are None. For
  SQuAD 2.0 training questions without an answer `is_impossible` is True,
  `orig_answer_text` is "" and both positions are -1.

  Attributes:
    qas_id: str, the question id.
    question_text: str.
    doc_tokens: list of str, the context split on whitespace.
    orig_answer_text: str or None, the answer as written in the context.
    start_position: int or None, index of the answer's first word.
    end_position: int or None, index of the answer's last word (inclusive).
    is_impossible: bool.
  """

  def __init__(self, qas_id, question_text, doc_tokens, orig_answer_text=None,
               start_position=None, end_position=None, is_impossible=False):
    self.qas_id = qas_id
    self.question_text = question_text
    self.doc_tokens = doc_tokens
    self.orig_answer_text = orig_answer_text
    self.start_position = start_position
    self.end_position = end_position
    self.is_impossible = is_impossible

  def __str__(self):
    return self.__repr__()

  def __repr__(self):
    parts = ["qas_id: %s" % tokenization.printable_text(self.qas_id),
             "question_text: %s" %
             tokenization.printable_text(self.question_text),
             "doc_tokens: [%s]" % " ".join(self.doc_tokens)]
    if self.start_position is not None:
      parts.append("start_position: %d" % self.start_position)
    if self.end_position is not None:
      parts.append("end_position: %d" % self.end_position)
    if self.is_impossible:
      parts.append("is_impossible: %r" % self.is_impossible)
    return ", ".join(parts)


def _field(obj, name, where, expected_type=None):
  """Returns obj[name], raising SquadFormatError naming `where` if absent."""
  if not isinstance(obj, dict):
    raise SquadFormatError("%s: expected a JSON object, found %s" %
                           (where, type(obj).__name__))
  if name not in obj:
    raise SquadFormatError("%s: missing field %r" % (where, name))
  value = obj[name]
  if expected_type is not None and not isinstance(value, expected_type):
    raise SquadFormatError(
        "%s: field %r should be %s, found %s" %
        (where, name, expected_type.__name__ if isinstance(expected_type, type)
         else "/".join(t.__name__ for t in expected_type),
         type(value).__name__))
  return value


def load_squad_json(input_file):
  """Reads a SQuAD JSON file and returns its "data" list (the articles).

  Raises:
    FileNotFoundError: if the file does not exist.
    SquadFormatError: if it is not JSON or has no "data" list.
  """
  if not tf.io.gfile.exists(input_file):
    raise FileNotFoundError("SQuAD file not found: %s" % input_file)
  with tf.io.gfile.GFile(input_file, "r") as reader:
    try:
      content = json.load(reader)
    except ValueError as e:
      raise SquadFormatError("%s is not valid JSON: %s" % (input_file, e))
  return _field(content, "data", input_file, list)


def squad_examples_from_json(input_data, is_training,
                             version_2_with_negative=False,
                             source="<SQuAD data>"):
  """Builds SquadExamples from the parsed "data" list of a SQuAD file.

  Args:
    input_data: list of article dicts (the JSON's "data").
    is_training: if True, read the answer and locate it in the context.
    version_2_with_negative: if True, training questions carry
      "is_impossible" (SQuAD 2.0).
    source: name used in error messages (normally the file name).

  Returns:
    (examples, skipped): the list of SquadExample and a list of
    (qas_id, reason) for training questions whose answer could not be found
    in the context and were therefore left out.

  Raises:
    SquadFormatError: for a missing or mistyped field, or a training question
      that does not have exactly one answer.
  """
  examples = []
  skipped = []
  for article_index, article in enumerate(input_data):
    article_where = "%s: data[%d]" % (source, article_index)
    paragraphs = _field(article, "paragraphs", article_where, list)
    for paragraph_index, paragraph in enumerate(paragraphs):
      paragraph_where = "%s.paragraphs[%d]" % (article_where, paragraph_index)
      paragraph_text = _field(paragraph, "context", paragraph_where, str)
      qas = _field(paragraph, "qas", paragraph_where, list)
      doc_tokens, char_to_word_offset = split_context(paragraph_text)

      for qa_index, qa in enumerate(qas):
        qa_where = "%s.qas[%d]" % (paragraph_where, qa_index)
        qas_id = _field(qa, "id", qa_where, (str, int))
        qa_where = "%s (question id %r)" % (qa_where, qas_id)
        question_text = _field(qa, "question", qa_where, str)
        start_position = None
        end_position = None
        orig_answer_text = None
        is_impossible = False

        if is_training:
          if version_2_with_negative:
            is_impossible = bool(
                _field(qa, "is_impossible", qa_where, (bool, int)))
          if is_impossible:
            start_position = -1
            end_position = -1
            orig_answer_text = ""
          else:
            answers = _field(qa, "answers", qa_where, list)
            if len(answers) != 1:
              raise SquadFormatError(
                  "%s: training needs exactly one answer per answerable "
                  "question, found %d" % (qa_where, len(answers)))
            answer_where = qa_where + ".answers[0]"
            orig_answer_text = _field(answers[0], "text", answer_where, str)
            answer_offset = _field(answers[0], "answer_start", answer_where,
                                   int)
            answer_length = len(orig_answer_text)
            last_char = answer_offset + answer_length - 1
            if answer_length == 0:
              skipped.append((qas_id, "empty answer text"))
              continue
            if answer_offset < 0 or last_char >= len(char_to_word_offset):
              skipped.append(
                  (qas_id, "answer_start %d (length %d) lies outside the "
                   "context of %d characters" %
                   (answer_offset, answer_length, len(char_to_word_offset))))
              continue
            start_position = char_to_word_offset[answer_offset]
            end_position = char_to_word_offset[last_char]
            # Compare after collapsing whitespace: the words at the span must
            # contain the answer text. Anything else (a wrong offset, odd
            # Unicode) cannot be trained on.
            actual_text = " ".join(
                doc_tokens[max(start_position, 0):end_position + 1])
            cleaned_answer_text = " ".join(
                tokenization.whitespace_tokenize(orig_answer_text))
            if start_position < 0 or actual_text.find(
                cleaned_answer_text) == -1:
              skipped.append(
                  (qas_id, "answer %r not found in context words %r" %
                   (cleaned_answer_text, actual_text)))
              continue

        examples.append(
            SquadExample(
                qas_id=qas_id,
                question_text=question_text,
                doc_tokens=doc_tokens,
                orig_answer_text=orig_answer_text,
                start_position=start_position,
                end_position=end_position,
                is_impossible=is_impossible))
  return examples, skipped


def read_squad_examples(input_file, is_training, version_2_with_negative=False,
                        return_skipped=False):
  """Reads a SQuAD JSON file into a list of SquadExample.

  Training questions whose answer cannot be found in the context are left
  out, as in the reference, but never silently: their number and ids are
  logged as a warning, and returned with `return_skipped=True`.

  Args:
    input_file: path of a file in the official SQuAD JSON format.
    is_training: if True, read and locate the (single) answer of each
      question.
    version_2_with_negative: SQuAD 2.0: training questions carry
      "is_impossible"; impossible ones get positions -1/-1 and answer "".
    return_skipped: if True, also return the skipped questions.

  Returns:
    The list of SquadExample, or (examples, skipped) with `skipped` a list
    of (qas_id, reason) when `return_skipped` is True.

  Raises:
    FileNotFoundError: if `input_file` does not exist.
    SquadFormatError: (a ValueError) naming the file and the question for a
      missing or mistyped field, or a training question without exactly one
      answer.
  """
  input_data = load_squad_json(input_file)
  examples, skipped = squad_examples_from_json(
      input_data, is_training, version_2_with_negative, source=input_file)
  if skipped:
    shown = ", ".join(str(qas_id) for qas_id, _ in skipped[:20])
    logging.warning(
        "%s: skipped %d question(s) whose answer could not be found in the "
        "context: %s%s", input_file, len(skipped), shown,
        " ..." if len(skipped) > 20 else "")
    for qas_id, reason in skipped[:20]:
      logging.info("Skipped question %s: %s", qas_id, reason)
  if return_skipped:
    return examples, skipped
  return examples


class InputFeatures(object):
  """The model inputs for one window of one example.

  Attributes:
    unique_id: int, unique over all features of a run.
    example_index: int, index of the example in the list given to
      `convert_examples_to_features`.
    doc_span_index: int, index of this window within its example.
    tokens: list of str, "[CLS] query [SEP] window [SEP]" (unpadded).
    token_to_orig_map: dict, position in `tokens` -> index of the whitespace
      word of the example it came from (context tokens only).
    token_is_max_context: dict, position in `tokens` -> bool, whether this
      window gives that token its best context (context tokens only).
    input_ids, input_mask, segment_ids: lists of int of length
      max_seq_length.
    start_position, end_position: int (training) or None: positions in
      `tokens`; 0 (the [CLS] token) when the answer is not inside the window
      or the question is impossible.
    is_impossible: bool.
  """

  def __init__(self, unique_id, example_index, doc_span_index, tokens,
               token_to_orig_map, token_is_max_context, input_ids, input_mask,
               segment_ids, start_position=None, end_position=None,
               is_impossible=None):
    self.unique_id = unique_id
    self.example_index = example_index
    self.doc_span_index = doc_span_index
    self.tokens = tokens
    self.token_to_orig_map = token_to_orig_map
    self.token_is_max_context = token_is_max_context
    self.input_ids = input_ids
    self.input_mask = input_mask
    self.segment_ids = segment_ids
    self.start_position = start_position
    self.end_position = end_position
    self.is_impossible = is_impossible

  def __repr__(self):
    return ("InputFeatures(unique_id=%d, example_index=%d, doc_span_index=%d, "
            "tokens=%s, start_position=%r, end_position=%r, "
            "is_impossible=%r)" %
            (self.unique_id, self.example_index, self.doc_span_index,
             " ".join(self.tokens), self.start_position, self.end_position,
             self.is_impossible))


DocSpan = collections.namedtuple("DocSpan", ["start", "length"])


def improve_answer_span(doc_tokens, input_start, input_end, tokenizer,
                        orig_answer_text):
  """Shrinks a word-piece answer span to the tokenised answer text.

  The span derived from whitespace words may be too wide: for the answer
  "1990" in the word "(1990)" the word covers "( 1990 )". The narrowest-
  first search below returns the first sub-span (earliest start, then
  longest) whose pieces, joined with spaces, equal the tokenised answer, or
  the input span when there is none.

  Args:
    doc_tokens: list of str, the word pieces of the context.
    input_start, input_end: int, the span covering the answer's words.
    tokenizer: an object with `tokenize(text)`.
    orig_answer_text: str.

  Returns:
    (start, end), inclusive word-piece indexes.
  """
  tok_answer_text = " ".join(tokenizer.tokenize(orig_answer_text))
  for new_start in range(input_start, input_end + 1):
    for new_end in range(input_end, new_start - 1, -1):
      if " ".join(doc_tokens[new_start:new_end + 1]) == tok_answer_text:
        return new_start, new_end
  return input_start, input_end


def make_doc_spans(num_tokens, max_tokens_for_doc, doc_stride):
  """Returns the DocSpans (windows) covering `num_tokens` context tokens.

  Windows have at most `max_tokens_for_doc` tokens, successive windows start
  `min(length, doc_stride)` tokens apart, and the last window ends at the
  last token.
  """
  if max_tokens_for_doc < 1:
    raise ValueError("max_tokens_for_doc must be positive, got %d" %
                     max_tokens_for_doc)
  if doc_stride < 1:
    raise ValueError("doc_stride must be positive, got %d" % doc_stride)
  doc_spans = []
  start_offset = 0
  while start_offset < num_tokens:
    length = min(num_tokens - start_offset, max_tokens_for_doc)
    doc_spans.append(DocSpan(start=start_offset, length=length))
    if start_offset + length == num_tokens:
      break
    start_offset += min(length, doc_stride)
  return doc_spans


def check_is_max_context(doc_spans, cur_span_index, position):
  """True if window `cur_span_index` gives token `position` its best context.

  A token's score in a window is min(tokens to its left, tokens to its
  right) + 0.01 * window length; the window with the highest score wins,
  the earliest one on ties.
  """
  best_score = None
  best_span_index = None
  for span_index, doc_span in enumerate(doc_spans):
    end = doc_span.start + doc_span.length - 1
    if position < doc_span.start or position > end:
      continue
    num_left_context = position - doc_span.start
    num_right_context = end - position
    score = min(num_left_context, num_right_context) + 0.01 * doc_span.length
    if best_score is None or score > best_score:
      best_score = score
      best_span_index = span_index
  return cur_span_index == best_span_index


def convert_examples_to_features(examples, tokenizer, max_seq_length,
                                 doc_stride, max_query_length, is_training,
                                 output_fn, unique_id_start=1000000000):
  """Converts SquadExamples into windowed InputFeatures.

  Args:
    examples: list of SquadExample.
    tokenizer: a tokenization.FullTokenizer (anything with `tokenize` and
      `convert_tokens_to_ids`).
    max_seq_length: int, total length of [CLS] query [SEP] window [SEP]
      after padding.
    doc_stride: int, distance between the starts of successive windows.
    max_query_length: int, questions are cut to this many word pieces.
    is_training: if True, compute the answer positions of every window.
    output_fn: callable receiving each InputFeatures as it is made.
    unique_id_start: int, unique_id of the first feature.

  Returns:
    int, the number of features produced.

  Raises:
    ValueError: for settings that leave no room for context tokens, or a
      training example without answer positions.
  """
  if not callable(output_fn):
    raise ValueError("output_fn must be callable, got %r" % (output_fn,))
  if max_query_length < 1:
    raise ValueError("max_query_length must be positive, got %d" %
                     max_query_length)
  if doc_stride < 1:
    raise ValueError("doc_stride must be positive, got %d" % doc_stride)

  unique_id = unique_id_start
  num_features = 0
  for example_index, example in enumerate(examples):
    query_tokens = tokenizer.tokenize(example.question_text)
    query_tokens = query_tokens[:max_query_length]

    tok_to_orig_index = []
    orig_to_tok_index = []
    all_doc_tokens = []
    for i, word in enumerate(example.doc_tokens):
      orig_to_tok_index.append(len(all_doc_tokens))
      for sub_token in tokenizer.tokenize(word):
        tok_to_orig_index.append(i)
        all_doc_tokens.append(sub_token)

    tok_start_position = None
    tok_end_position = None
    if is_training and example.is_impossible:
      tok_start_position = -1
      tok_end_position = -1
    if is_training and not example.is_impossible:
      if example.start_position is None or example.end_position is None:
        raise ValueError("Training example %s has no answer positions" %
                         example.qas_id)
      tok_start_position = orig_to_tok_index[example.start_position]
      if example.end_position < len(example.doc_tokens) - 1:
        tok_end_position = orig_to_tok_index[example.end_position + 1] - 1
      else:
        tok_end_position = len(all_doc_tokens) - 1
      tok_start_position, tok_end_position = improve_answer_span(
          all_doc_tokens, tok_start_position, tok_end_position, tokenizer,
          example.orig_answer_text)

    # [CLS], [SEP] and [SEP] take three positions.
    max_tokens_for_doc = max_seq_length - len(query_tokens) - 3
    if max_tokens_for_doc < 1:
      raise ValueError(
          "max_seq_length=%d leaves no room for the context after a query of "
          "%d tokens (max_query_length=%d); raise max_seq_length or lower "
          "max_query_length" %
          (max_seq_length, len(query_tokens), max_query_length))
    doc_spans = make_doc_spans(len(all_doc_tokens), max_tokens_for_doc,
                               doc_stride)

    for doc_span_index, doc_span in enumerate(doc_spans):
      tokens = [CLS_TOKEN] + query_tokens + [SEP_TOKEN]
      segment_ids = [0] * len(tokens)
      token_to_orig_map = {}
      token_is_max_context = {}
      for i in range(doc_span.length):
        split_token_index = doc_span.start + i
        token_to_orig_map[len(tokens)] = tok_to_orig_index[split_token_index]
        token_is_max_context[len(tokens)] = check_is_max_context(
            doc_spans, doc_span_index, split_token_index)
        tokens.append(all_doc_tokens[split_token_index])
        segment_ids.append(1)
      tokens.append(SEP_TOKEN)
      segment_ids.append(1)

      input_ids = tokenizer.convert_tokens_to_ids(tokens)
      input_mask = [1] * len(input_ids)
      padding = max_seq_length - len(input_ids)
      input_ids = input_ids + [0] * padding
      input_mask = input_mask + [0] * padding
      segment_ids = segment_ids + [0] * padding

      start_position = None
      end_position = None
      if is_training and not example.is_impossible:
        doc_start = doc_span.start
        doc_end = doc_span.start + doc_span.length - 1
        if tok_start_position >= doc_start and tok_end_position <= doc_end:
          doc_offset = len(query_tokens) + 2
          start_position = tok_start_position - doc_start + doc_offset
          end_position = tok_end_position - doc_start + doc_offset
        else:
          start_position = 0
          end_position = 0
      if is_training and example.is_impossible:
        start_position = 0
        end_position = 0

      if example_index < 20:
        logging.info(
            "*** Example *** unique_id: %d example_index: %d "
            "doc_span_index: %d tokens: %s start_position: %r "
            "end_position: %r is_impossible: %r", unique_id, example_index,
            doc_span_index,
            " ".join(tokenization.printable_text(t) for t in tokens),
            start_position, end_position, example.is_impossible)

      output_fn(
          InputFeatures(
              unique_id=unique_id,
              example_index=example_index,
              doc_span_index=doc_span_index,
              tokens=tokens,
              token_to_orig_map=token_to_orig_map,
              token_is_max_context=token_is_max_context,
              input_ids=input_ids,
              input_mask=input_mask,
              segment_ids=segment_ids,
              start_position=start_position,
              end_position=end_position,
              is_impossible=example.is_impossible))
      unique_id += 1
      num_features += 1
  return num_features


class FeatureWriter(input_pipeline.CloseOrAbortOnExit):
  """Writes InputFeatures to a TFRecord file of tf.train.Examples.

  The file appears under `filename` only when `close()` succeeds (it is
  written under a temporary name first). Usable as a context manager, and
  as the `output_fn` of `convert_examples_to_features` through
  `process_feature`.

  Attributes:
    filename: str.
    is_training: bool, whether answer positions are written.
    num_features: int, features written so far.
  """

  def __init__(self, filename, is_training):
    self.filename = filename
    self.is_training = is_training
    self.num_features = 0
    self._writer = input_pipeline.AtomicTFRecordWriter(filename)

  def process_feature(self, feature):
    """Serialises one InputFeatures and writes it."""
    create = input_pipeline.create_int_feature
    features = collections.OrderedDict()
    features["unique_ids"] = create([feature.unique_id])
    features["input_ids"] = create(feature.input_ids)
    features["input_mask"] = create(feature.input_mask)
    features["segment_ids"] = create(feature.segment_ids)
    if self.is_training:
      if feature.start_position is None or feature.end_position is None:
        raise ValueError(
            "Feature %d has no start/end positions; a training FeatureWriter "
            "needs features made with is_training=True" % feature.unique_id)
      features["start_positions"] = create([feature.start_position])
      features["end_positions"] = create([feature.end_position])
      features["is_impossible"] = create([1 if feature.is_impossible else 0])
    self._writer.write(input_pipeline.make_example(features))
    self.num_features += 1

  __call__ = process_feature

  def close(self):
    """Finishes the file and moves it to `filename`."""
    self._writer.close()

  def abort(self):
    """Removes the temporary file; `filename` is left as it was."""
    self._writer.abort()


def name_to_features(seq_length, is_training, include_is_impossible=False):
  """Returns the parsing spec for records written by FeatureWriter.

  Args:
    seq_length: int, the max_seq_length the features were made with.
    is_training: bool, also read "start_positions" and "end_positions".
    include_is_impossible: bool, in training also read "is_impossible"
      (the reference writes it but does not read it back).

  Returns:
    dict feature name -> tf.io.FixedLenFeature (all int64).
  """
  spec = {
      "unique_ids": tf.io.FixedLenFeature([], tf.int64),
      "input_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
      "input_mask": tf.io.FixedLenFeature([seq_length], tf.int64),
      "segment_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
  }
  if is_training:
    spec["start_positions"] = tf.io.FixedLenFeature([], tf.int64)
    spec["end_positions"] = tf.io.FixedLenFeature([], tf.int64)
    if include_is_impossible:
      spec["is_impossible"] = tf.io.FixedLenFeature([], tf.int64)
  return spec


RawResult = collections.namedtuple("RawResult",
                                   ["unique_id", "start_logits", "end_logits"])

_PrelimPrediction = collections.namedtuple(
    "PrelimPrediction",
    ["feature_index", "start_index", "end_index", "start_logit", "end_logit"])

_NbestPrediction = collections.namedtuple(
    "NbestPrediction", ["text", "start_logit", "end_logit"])


def get_best_indexes(logits, n_best_size):
  """Returns the indexes of the `n_best_size` largest logits, best first.

  Equal logits keep their order (lower index first), as a stable sort in
  decreasing order gives.
  """
  values = np.asarray(logits, dtype=np.float64).reshape([-1])
  order = np.argsort(-values, kind="stable")[:n_best_size]
  return [int(i) for i in order]


def compute_softmax(scores):
  """Returns the softmax of a list of floats (an empty list for none)."""
  if not scores:
    return []
  max_score = max(scores)
  exps = [math.exp(score - max_score) for score in scores]
  total = sum(exps)
  return [x / total for x in exps]


def _strip_spaces(text):
  """Returns (text without " ", map from its positions to those in text)."""
  chars = []
  ns_to_s_map = collections.OrderedDict()
  for i, char in enumerate(text):
    if char == " ":
      continue
    ns_to_s_map[len(chars)] = i
    chars.append(char)
  return "".join(chars), ns_to_s_map


def get_final_text(pred_text, orig_text, do_lower_case, verbose_logging=False):
  """Projects a de-tokenised prediction back onto the original text.

  `pred_text` comes from word pieces ("steve smith") while `orig_text` is
  the original words that the pieces came from ("Steve Smith's"). The
  original text is run through BasicTokenizer, the prediction is located in
  that, and the two are aligned character by character ignoring spaces
  (which works because BasicTokenizer only changes case, accents and
  spacing when their lengths agree). The span of `orig_text` that matches
  the prediction is returned, with its original casing and punctuation.
  When the alignment fails, `orig_text` itself is returned.

  Args:
    pred_text: str, the prediction joined from word pieces.
    orig_text: str, the original whitespace words joined by spaces.
    do_lower_case: bool, as for the tokenizer.
    verbose_logging: bool, log why an alignment failed.

  Returns:
    str.
  """
  tokenizer = tokenization.BasicTokenizer(do_lower_case=do_lower_case)
  tok_text = " ".join(tokenizer.tokenize(orig_text))

  start_position = tok_text.find(pred_text)
  if start_position == -1:
    if verbose_logging:
      logging.info("Unable to find text: %r in %r", pred_text, orig_text)
    return orig_text
  end_position = start_position + len(pred_text) - 1

  orig_ns_text, orig_ns_to_s_map = _strip_spaces(orig_text)
  tok_ns_text, tok_ns_to_s_map = _strip_spaces(tok_text)
  if len(orig_ns_text) != len(tok_ns_text):
    if verbose_logging:
      logging.info("Length not equal after stripping spaces: %r vs %r",
                   orig_ns_text, tok_ns_text)
    return orig_text

  tok_s_to_ns_map = {s: ns for ns, s in tok_ns_to_s_map.items()}

  def _to_orig(tok_position):
    ns_position = tok_s_to_ns_map.get(tok_position)
    if ns_position is None:
      return None
    return orig_ns_to_s_map.get(ns_position)

  orig_start_position = _to_orig(start_position)
  if orig_start_position is None:
    if verbose_logging:
      logging.info("Couldn't map start position")
    return orig_text
  orig_end_position = _to_orig(end_position)
  if orig_end_position is None:
    if verbose_logging:
      logging.info("Couldn't map end position")
    return orig_text
  return orig_text[orig_start_position:orig_end_position + 1]


def _detokenize(tok_tokens):
  """Joins word pieces into text: "##" pieces glue to the previous piece."""
  text = " ".join(tok_tokens)
  text = text.replace(" ##", "").replace("##", "")
  return " ".join(text.strip().split())


def _as_float_list(values):
  if hasattr(values, "flat"):
    values = values.flat
  return [float(x) for x in values]


def _write_json(path, obj):
  input_pipeline.atomic_write_text(path, json.dumps(obj, indent=4) + "\n")


def write_predictions(all_examples, all_features, all_results, n_best_size,
                      max_answer_length, do_lower_case, output_prediction_file,
                      output_nbest_file, output_null_log_odds_file=None,
                      version_2_with_negative=False,
                      null_score_diff_threshold=0.0, verbose_logging=False):
  """Turns per-window logits into answer texts and writes them as JSON.

  For every example, candidate spans are gathered from all its windows: the
  `n_best_size` best start and end positions of each window are paired, and
  a pair is kept if both ends lie in the window's context, end >= start, the
  span has at most `max_answer_length` tokens and the window gives the start
  token its maximum context. Candidates are ranked by start_logit +
  end_logit; the `n_best_size` best distinct answer texts form the n-best
  list, with softmax probabilities over their scores.

  For SQuAD 2.0 the null answer ("", scored by the [CLS] logits of the window
  where that score is lowest) competes too; the score difference
  null - best non-null is recorded, and "" is predicted when it exceeds
  `null_score_diff_threshold`.

  Args:
    all_examples: list of SquadExample (in the order used to make features).
    all_features: list of InputFeatures for those examples.
    all_results: iterable of RawResult, one per feature (matched by
      unique_id).
    n_best_size: int.
    max_answer_length: int, in word pieces.
    do_lower_case: bool, as for the tokenizer.
    output_prediction_file: path for {qas_id: answer} JSON, or None.
    output_nbest_file: path for {qas_id: [n-best entries]} JSON, or None.
    output_null_log_odds_file: path for {qas_id: score_diff} JSON (SQuAD 2.0
      only), or None.
    version_2_with_negative: bool.
    null_score_diff_threshold: float.
    verbose_logging: bool, log failed text alignments.

  Returns:
    (predictions, nbest, null_odds): OrderedDicts keyed by qas_id; null_odds
    is empty unless `version_2_with_negative`.

  Raises:
    ValueError: if a feature has no result.
  """
  example_index_to_features = collections.defaultdict(list)
  for feature in all_features:
    example_index_to_features[feature.example_index].append(feature)

  unique_id_to_result = {}
  for result in all_results:
    unique_id_to_result[int(result.unique_id)] = result

  all_predictions = collections.OrderedDict()
  all_nbest_json = collections.OrderedDict()
  scores_diff_json = collections.OrderedDict()

  for example_index, example in enumerate(all_examples):
    features = example_index_to_features[example_index]

    prelim_predictions = []
    # Null answer: the lowest [CLS] score over the windows.
    score_null = 1000000.0
    min_null_feature_index = 0
    null_start_logit = 0.0
    null_end_logit = 0.0
    for feature_index, feature in enumerate(features):
      result = unique_id_to_result.get(int(feature.unique_id))
      if result is None:
        raise ValueError(
            "No RawResult for feature unique_id %d (example %s, window %d)" %
            (feature.unique_id, example.qas_id, feature.doc_span_index))
      start_logits = _as_float_list(result.start_logits)
      end_logits = _as_float_list(result.end_logits)
      if version_2_with_negative:
        feature_null_score = start_logits[0] + end_logits[0]
        if feature_null_score < score_null:
          score_null = feature_null_score
          min_null_feature_index = feature_index
          null_start_logit = start_logits[0]
          null_end_logit = end_logits[0]
      num_tokens = len(feature.tokens)
      for start_index in get_best_indexes(start_logits, n_best_size):
        for end_index in get_best_indexes(end_logits, n_best_size):
          # Spans must lie in the context part of the window (not the query,
          # the separators or the padding).
          if start_index >= num_tokens or end_index >= num_tokens:
            continue
          if (start_index not in feature.token_to_orig_map or
              end_index not in feature.token_to_orig_map):
            continue
          if not feature.token_is_max_context.get(start_index, False):
            continue
          if end_index < start_index:
            continue
          if end_index - start_index + 1 > max_answer_length:
            continue
          prelim_predictions.append(
              _PrelimPrediction(
                  feature_index=feature_index,
                  start_index=start_index,
                  end_index=end_index,
                  start_logit=start_logits[start_index],
                  end_logit=end_logits[end_index]))

    if version_2_with_negative:
      prelim_predictions.append(
          _PrelimPrediction(
              feature_index=min_null_feature_index,
              start_index=0,
              end_index=0,
              start_logit=null_start_logit,
              end_logit=null_end_logit))
    prelim_predictions.sort(key=lambda p: p.start_logit + p.end_logit,
                            reverse=True)

    seen_predictions = set()
    nbest = []
    for pred in prelim_predictions:
      if len(nbest) >= n_best_size:
        break
      if pred.start_index > 0:  # A real span, not the null answer.
        feature = features[pred.feature_index]
        tok_tokens = feature.tokens[pred.start_index:pred.end_index + 1]
        orig_doc_start = feature.token_to_orig_map[pred.start_index]
        orig_doc_end = feature.token_to_orig_map[pred.end_index]
        orig_tokens = example.doc_tokens[orig_doc_start:orig_doc_end + 1]
        tok_text = _detokenize(tok_tokens)
        orig_text = " ".join(orig_tokens)
        final_text = get_final_text(tok_text, orig_text, do_lower_case,
                                    verbose_logging)
        if final_text in seen_predictions:
          continue
      else:
        final_text = ""
      seen_predictions.add(final_text)
      nbest.append(
          _NbestPrediction(
              text=final_text,
              start_logit=pred.start_logit,
              end_logit=pred.end_logit))

    # The null answer always takes part in SQuAD 2.0, even beyond n_best.
    if version_2_with_negative and "" not in seen_predictions:
      nbest.append(
          _NbestPrediction(
              text="", start_logit=null_start_logit,
              end_logit=null_end_logit))
    # No valid span at all (e.g. an empty context): a placeholder, as in the
    # reference, so that every question gets an answer.
    if not nbest:
      nbest.append(_NbestPrediction(text="empty", start_logit=0.0,
                                    end_logit=0.0))

    total_scores = [entry.start_logit + entry.end_logit for entry in nbest]
    best_non_null_entry = None
    for entry in nbest:
      if entry.text:
        best_non_null_entry = entry
        break
    probs = compute_softmax(total_scores)

    nbest_json = []
    for entry, prob in zip(nbest, probs):
      output = collections.OrderedDict()
      output["text"] = entry.text
      output["probability"] = prob
      output["start_logit"] = entry.start_logit
      output["end_logit"] = entry.end_logit
      nbest_json.append(output)

    if not version_2_with_negative:
      all_predictions[example.qas_id] = nbest_json[0]["text"]
    else:
      if best_non_null_entry is None:
        score_diff = NO_NON_NULL_SCORE_DIFF
        all_predictions[example.qas_id] = ""
      else:
        score_diff = (score_null - best_non_null_entry.start_logit -
                      best_non_null_entry.end_logit)
        if score_diff > null_score_diff_threshold:
          all_predictions[example.qas_id] = ""
        else:
          all_predictions[example.qas_id] = best_non_null_entry.text
      scores_diff_json[example.qas_id] = score_diff
    all_nbest_json[example.qas_id] = nbest_json

  if output_prediction_file:
    logging.info("Writing predictions to: %s", output_prediction_file)
    _write_json(output_prediction_file, all_predictions)
  if output_nbest_file:
    logging.info("Writing nbest to: %s", output_nbest_file)
    _write_json(output_nbest_file, all_nbest_json)
  if version_2_with_negative and output_null_log_odds_file:
    _write_json(output_null_log_odds_file, scores_diff_json)
  return all_predictions, all_nbest_json, scores_diff_json
