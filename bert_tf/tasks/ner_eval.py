"""Entity-level scoring of tag sequences, as CoNLL's conlleval defines it.

An entity (chunk) is a maximal run of tags that the conlleval chunking rules
group together; a predicted entity is correct only when a gold entity has the
same type, the same first word and the same last word. Precision, recall and
F1 are micro-averaged over all entities of the evaluation set (and given per
type); token accuracy is the share of words whose predicted tag equals the
gold tag.

The chunking rules (`start_of_chunk`, `end_of_chunk`) are conlleval's,
extended to the S-/E- tags of BIOES exactly as seqeval's default (non-strict)
mode extends them, so IOB1, IOB2 and BIOES sequences are all read correctly,
and so are ill-formed predictions (an I- after O starts an entity; a type
change inside a run starts a new one). Sentences are scored independently:
no entity crosses a sentence break.

  gold = [["B-PER", "I-PER", "O"], ["B-LOC"]]
  pred = [["B-PER", "I-PER", "O"], ["B-ORG"]]
  m = evaluate(gold, pred)       # m["f1"] == 0.5, m["accuracy"] == 0.75

This module is pure Python and numpy-free; it never reads absl FLAGS.
"""

import collections

OUTSIDE = "O"
PREFIXES = ("B", "I", "E", "S")


def split_tag(tag):
  """Splits a tag into (prefix, type) the way seqeval/conlleval do.

  Args:
    tag: str, e.g. "B-PER", "I-creative-work", "O".

  Returns:
    (prefix, entity_type): ("B", "PER"), ("I", "creative-work"), ("O", "").
    A bare prefix ("B") has the type "".
  """
  if tag == OUTSIDE or not tag:
    return OUTSIDE, ""
  prefix = tag[0]
  entity_type = tag[2:] if len(tag) > 2 and tag[1] == "-" else tag[1:]
  return prefix, entity_type


def end_of_chunk(prev_tag, tag, prev_type, entity_type):
  """True if an entity ended at the previous word (conlleval's rules).

  Args:
    prev_tag, tag: prefixes ("B", "I", "E", "S", "O") of the previous and
      current word.
    prev_type, entity_type: their entity types.
  """
  if prev_tag in ("E", "S"):
    return True
  if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
    return True
  return prev_tag != OUTSIDE and prev_type != entity_type


def start_of_chunk(prev_tag, tag, prev_type, entity_type):
  """True if an entity starts at the current word (conlleval's rules)."""
  if tag in ("B", "S"):
    return True
  if prev_tag in ("E", "S", "O") and tag in ("E", "I"):
    return True
  return tag != OUTSIDE and prev_type != entity_type


def get_entities(tags):
  """The entities of one sentence's tags.

  Args:
    tags: list of str tags (any of IOB1, IOB2, BIOES; ill-formed sequences
      are read as conlleval reads them).

  Returns:
    list of (entity_type, first_word_index, last_word_index) tuples, in order.
  """
  entities = []
  prev_tag, prev_type = OUTSIDE, ""
  begin = 0
  for i, full_tag in enumerate(list(tags) + [OUTSIDE]):
    tag, entity_type = split_tag(full_tag)
    if tag == OUTSIDE:
      entity_type = ""
    if end_of_chunk(prev_tag, tag, prev_type, entity_type):
      entities.append((prev_type, begin, i - 1))
    if start_of_chunk(prev_tag, tag, prev_type, entity_type):
      begin = i
    prev_tag, prev_type = tag, entity_type
  return entities


def to_iob2(tags):
  """Rewrites a sentence's tags as IOB2 (B- on the first word of each entity).

  Args:
    tags: list of str in IOB1, IOB2 or BIOES.

  Returns:
    list of str, the same entities in IOB2.
  """
  out = [OUTSIDE] * len(tags)
  for entity_type, first, last in get_entities(tags):
    out[first] = "B-" + entity_type
    for i in range(first + 1, last + 1):
      out[i] = "I-" + entity_type
  return out


def to_bioes(tags):
  """Rewrites a sentence's tags as BIOES (S- for one-word entities, E- ends)."""
  out = [OUTSIDE] * len(tags)
  for entity_type, first, last in get_entities(tags):
    if first == last:
      out[first] = "S-" + entity_type
      continue
    out[first] = "B-" + entity_type
    for i in range(first + 1, last):
      out[i] = "I-" + entity_type
    out[last] = "E-" + entity_type
  return out


def _prf(correct, predicted, gold):
  precision = correct / predicted if predicted else 0.0
  recall = correct / gold if gold else 0.0
  f1 = (2.0 * precision * recall / (precision + recall)
        if precision + recall else 0.0)
  return precision, recall, f1


def evaluate(gold_sentences, predicted_sentences):
  """Entity-level P/R/F1 (micro and per type) and token accuracy.

  Args:
    gold_sentences: list of sentences, each a list of str tags.
    predicted_sentences: the same shape: one predicted tag per gold tag.

  Returns:
    dict with
      precision, recall, f1: floats in [0, 1], micro-averaged over entities;
      accuracy: float, share of words tagged exactly right;
      num_gold, num_predicted, num_correct: entity counts;
      num_words, num_sentences: ints;
      per_type: dict type -> {precision, recall, f1, num_gold,
        num_predicted, num_correct} for every type in gold or predictions.

  Raises:
    ValueError: when the two do not have the same number of sentences and
      words per sentence (naming the first sentence that differs).
  """
  if len(gold_sentences) != len(predicted_sentences):
    raise ValueError("%d gold sentences but %d predicted ones" %
                     (len(gold_sentences), len(predicted_sentences)))
  counts = collections.defaultdict(lambda: [0, 0, 0])  # correct, pred, gold
  words = right = 0
  for index, (gold, pred) in enumerate(zip(gold_sentences,
                                           predicted_sentences)):
    if len(gold) != len(pred):
      raise ValueError("Sentence %d has %d gold tags but %d predicted ones" %
                       (index, len(gold), len(pred)))
    words += len(gold)
    right += sum(1 for g, p in zip(gold, pred) if g == p)
    gold_entities = set(get_entities(gold))
    pred_entities = set(get_entities(pred))
    for entity in gold_entities:
      counts[entity[0]][2] += 1
    for entity in pred_entities:
      counts[entity[0]][1] += 1
    for entity in gold_entities & pred_entities:
      counts[entity[0]][0] += 1
  total = [sum(c[i] for c in counts.values()) for i in range(3)]
  precision, recall, f1 = _prf(*total)
  per_type = {}
  for entity_type in sorted(counts):
    c = counts[entity_type]
    p, r, f = _prf(*c)
    per_type[entity_type] = {"precision": p, "recall": r, "f1": f,
                             "num_correct": c[0], "num_predicted": c[1],
                             "num_gold": c[2]}
  return {
      "precision": precision, "recall": recall, "f1": f1,
      "accuracy": right / words if words else 0.0,
      "num_correct": total[0], "num_predicted": total[1],
      "num_gold": total[2], "num_words": words,
      "num_sentences": len(gold_sentences), "per_type": per_type,
  }


def format_results(metrics, extra=None):
  """eval_results.txt: `key = value` lines, conlleval's summary, per type.

  Args:
    metrics: the dict of `evaluate`.
    extra: optional dict of more `key = value` lines (eval_loss,
      global_step, ...).

  Returns:
    str.
  """
  lines = []
  flat = dict(extra or {})
  for key in ("precision", "recall", "f1", "accuracy", "num_gold",
              "num_predicted", "num_correct", "num_words", "num_sentences"):
    flat[key] = metrics[key]
  for entity_type, m in metrics["per_type"].items():
    for key in ("precision", "recall", "f1", "num_gold"):
      flat["%s_%s" % (entity_type, key)] = m[key]
  for key in sorted(flat):
    lines.append("%s = %s" % (key, flat[key]))
  lines.append("")
  lines.append("# conlleval summary")
  lines.append(
      "processed %d tokens with %d phrases; found: %d phrases; correct: %d." %
      (metrics["num_words"], metrics["num_gold"], metrics["num_predicted"],
       metrics["num_correct"]))
  lines.append(
      "accuracy: %6.2f%%; precision: %6.2f%%; recall: %6.2f%%; FB1: %6.2f" %
      (100 * metrics["accuracy"], 100 * metrics["precision"],
       100 * metrics["recall"], 100 * metrics["f1"]))
  for entity_type, m in metrics["per_type"].items():
    lines.append("%17s: precision: %6.2f%%; recall: %6.2f%%; FB1: %6.2f  %d"
                 % (entity_type, 100 * m["precision"], 100 * m["recall"],
                    100 * m["f1"], m["num_predicted"]))
  return "\n".join(lines) + "\n"
