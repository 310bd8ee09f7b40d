"""The demo's pipeline: `run`, one function per stage.

Each stage reads what earlier stages produced, writes its outputs under the
run's paths, adds its numbers to the summary and tells the reader.
"""

import collections
import dataclasses
import json
import os
import random
import time

import numpy as np
import tensorflow.compat.v1 as tf

from bert_tf import input_pipeline
from bert_tf import metrics
from bert_tf import modeling
from bert_tf import plots
from bert_tf import tokenization
from bert_tf import vocab_builder
from bert_tf.demo import console
from bert_tf.demo import corpus as corpus_lib
from bert_tf.demo import summary as summary_lib
from bert_tf.tasks import classifier
from bert_tf.tasks import glue
from bert_tf.tasks import pretrainer
from bert_tf.tasks import pretraining


def tiny_bert_config(vocab_size, max_position_embeddings=128):
  """The demo's small BERT: 2 layers, hidden size 128, 2 heads."""
  return modeling.BertConfig(
      vocab_size=vocab_size, hidden_size=128, num_hidden_layers=2,
      num_attention_heads=2, intermediate_size=512, hidden_act="gelu",
      hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
      max_position_embeddings=max_position_embeddings, type_vocab_size=2,
      initializer_range=0.02)


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


Corpus = collections.namedtuple(
    "Corpus", ["groups", "train_groups", "dev_groups", "labels", "train_file",
               "dev_file"])
Corpus.__doc__ = """The corpus stage's outputs: the topic groups (all, training
and held-out sentences), the task's labels and the two sentence files."""

Model = collections.namedtuple(
    "Model", ["bert_config_file", "vocab_file", "init_checkpoint"])
Model.__doc__ = """The BERT that is fine-tuned: config, vocabulary and
checkpoint."""


@dataclasses.dataclass
class _Run:
  """What every stage of one run shares."""
  cfg: object  # the resolved DemoConfig
  paths: collections.OrderedDict
  summary: collections.OrderedDict
  stages: console.Stages


def _float_metrics(metrics):
  """The numeric metrics as floats (a confusion matrix is left out)."""
  return {k: float(v) for k, v in metrics.items()
          if isinstance(v, (int, float))}


def _shorten(text, width=110):
  return text if len(text) <= width else text[:width - 3] + "..."


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


def output_paths(cfg):
  """The paths of every output of a run with (resolved) `cfg`, by key."""
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
  return paths


def run(cfg):
  """Runs the whole demo as `cfg` says; returns the summary dict.

  The summary (also written to <output_dir>/summary.json) holds the paths of
  every stage's outputs, the metrics, the data sizes and the stage times.
  """
  cfg = cfg.resolved()
  console.setup_logging()
  start = time.time()
  out = os.path.abspath(cfg.output_dir)
  paths = output_paths(cfg)
  owned = sorted({os.path.relpath(p, out).split(os.sep)[0]
                  for p in paths.values()})
  console.prepare_output_dir(out, owned)
  state = _Run(cfg, paths,
               collections.OrderedDict(config=dataclasses.asdict(cfg),
                                       paths=paths),
               console.Stages(6 if cfg.from_minilm else 8))

  corpus = _corpus_stage(state)
  if cfg.from_minilm:
    model = _minilm_stage(state)
  else:
    vocab, tokenizer = _vocab_stage(state, corpus)
    _pretraining_data_stage(state, corpus, tokenizer)
    model = _pretrain_stage(state, vocab)
  train_rows, dev_rows = _finetune_data_stage(state, corpus)
  export_path = _finetune_stage(state, model, corpus.labels, len(train_rows))
  _predict_stage(state, export_path, model.vocab_file, dev_rows,
                 corpus.labels)
  _plots_stage(state)
  state.stages.stop()

  summary = state.summary
  summary["stage_seconds"] = state.stages.times
  summary["wall_seconds"] = round(time.time() - start, 1)
  input_pipeline.atomic_write_text(
      paths["summary_file"], json.dumps(summary, indent=2) + "\n")
  summary_lib.print_summary(cfg, summary)
  return summary


def _corpus_stage(state):
  """1. The corpus: sentences of the pydoc topics, grouped and split."""
  cfg, paths, say = state.cfg, state.paths, console.say
  state.stages.start("corpus", "Reading the corpus: the standard library's "
                     "pydoc_data.topics (Python's own reference prose)")
  topics = corpus_lib.load_topics()
  groups = corpus_lib.group_topics(topics)
  train_groups, dev_groups = corpus_lib.split_sentences(groups,
                                                        cfg.dev_fraction)
  if cfg.quick:
    train_groups = [g._replace(sentences=g.sentences[:24])
                    for g in train_groups]
    dev_groups = [g._replace(sentences=g.sentences[:5]) for g in dev_groups]
  labels = corpus_lib.class_groups(groups, cfg.num_classes)
  tf.io.gfile.makedirs(paths["corpus_dir"])
  train_corpus = corpus_lib.write_corpus(
      train_groups, os.path.join(paths["corpus_dir"], "train_sentences.txt"))
  dev_corpus = corpus_lib.write_corpus(
      dev_groups, os.path.join(paths["corpus_dir"], "dev_sentences.txt"))
  input_pipeline.atomic_write_text(
      os.path.join(paths["corpus_dir"], "topic_groups.json"),
      json.dumps({g.name: list(g.topics) for g in groups}, indent=2,
                 sort_keys=True) + "\n")
  num_train = sum(len(g.sentences) for g in train_groups)
  num_dev = sum(len(g.sentences) for g in dev_groups)
  state.summary["corpus"] = {"topics": len(topics), "groups": len(groups),
                             "train_sentences": num_train,
                             "dev_sentences": num_dev}
  say("    %d topics -> %d topic groups (topics that share sentences are "
      "merged), %d prose sentences;" % (len(topics), len(groups),
                                        num_train + num_dev))
  say("    %d for training, %d held out (by a hash of the text) for "
      "evaluation only." % (num_train, num_dev))
  say("    -> %s (one sentence per line, a blank line between topic groups)"
      % train_corpus)
  return Corpus(groups, train_groups, dev_groups, labels, train_corpus,
                dev_corpus)


def _minilm_stage(state):
  """2. (--from_minilm) The converted MiniLM instead of stages 2-4."""
  cfg, paths = state.cfg, state.paths
  state.stages.start("minilm", "Converting the MiniLM checkpoint (Hugging "
                     "Face layout) in %s to Google's layout" % cfg.minilm_dir)
  model = Model(*_convert_minilm(cfg, paths["minilm_checkpoint_dir"]))
  console.say("    -> %s" % paths["minilm_checkpoint_dir"])
  return model


def _vocab_stage(state, corpus):
  """2. A WordPiece vocabulary of the training sentences; (vocab, tokenizer)."""
  cfg, paths, say = state.cfg, state.paths, console.say
  state.stages.start("vocab", "Building a %d-entry WordPiece vocabulary from "
                     "the training sentences" % cfg.vocab_size)
  vocab = vocab_builder.build_vocab(
      corpus.train_file, os.path.dirname(paths["vocab_file"]),
      cfg.vocab_size, do_lower_case=True, seed=cfg.seed)
  state.summary["vocab"] = {"size": vocab.vocab_size,
                            "unk_rate": round(vocab.unk_rate, 6)}
  tokenizer = tokenization.FullTokenizer(vocab.vocab_file, do_lower_case=True)
  example = "The yield expression is used when defining a generator."
  say("    %d entries, [UNK] rate %.3f%%. %r ->" % (
      vocab.vocab_size, 100 * vocab.unk_rate, example))
  say("    %s" % " ".join(tokenizer.tokenize(example)))
  say("    -> %s" % vocab.vocab_file)
  return vocab, tokenizer


def _pretraining_data_stage(state, corpus, tokenizer):
  """3. Masked-LM / next-sentence TFRecords of both sentence files."""
  cfg, paths = state.cfg, state.paths
  state.stages.start("pretraining_data", "Creating masked-LM / next-sentence "
                     "pretraining data (sequence length %d, at most %d "
                     "masks, %dx duplication)" % (
                         cfg.max_seq_length, cfg.max_predictions_per_seq,
                         cfg.dupe_factor))
  tf.io.gfile.makedirs(paths["pretraining_data_dir"])
  counts = {}
  for split, corpus_file in (("train", corpus.train_file),
                             ("dev", corpus.dev_file)):
    instances = pretraining.create_training_instances(
        corpus_file, tokenizer, cfg.max_seq_length,
        cfg.dupe_factor if split == "train" else 1, 0.1, 0.15,
        cfg.max_predictions_per_seq,
        random.Random(cfg.seed + (split == "dev")))
    counts[split] = pretraining.write_instances(
        instances, tokenizer, cfg.max_seq_length,
        cfg.max_predictions_per_seq,
        [os.path.join(paths["pretraining_data_dir"], split + ".tfrecord")],
        num_logged=1 if split == "train" else 0)
  state.summary["pretraining_data"] = counts
  console.say("    %d training and %d held-out instances -> %s" % (
      counts["train"], counts["dev"], paths["pretraining_data_dir"]))


def _pretrain_stage(state, vocab):
  """4. Pretrains the small BERT from scratch; returns the `Model`."""
  cfg, paths, say = state.cfg, state.paths, console.say
  state.stages.start("pretrain", "Pretraining a small BERT from scratch (2 "
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
  state.summary["pretrain"] = _float_metrics(result["eval"])
  init_checkpoint = tf.train.latest_checkpoint(paths["pretrain_dir"])
  say("    Held-out sentences: masked-LM accuracy %.3f, next-sentence "
      "accuracy %.3f" % (result["eval"]["masked_lm_accuracy"],
                         result["eval"]["next_sentence_accuracy"]))
  say("    -> %s" % init_checkpoint)
  return Model(bert_config_file, vocab.vocab_file, init_checkpoint)


def _finetune_data_stage(state, corpus):
  """5. The task's TSVs; returns (train_rows, dev_rows)."""
  cfg, paths, say = state.cfg, state.paths, console.say
  labels = corpus.labels
  state.stages.start("finetune_data", "Deriving the fine-tuning task: "
                     "\"which part of the documentation is this sentence "
                     "from?\"")
  tf.io.gfile.makedirs(paths["finetune_data_dir"])
  rng = random.Random(cfg.seed)
  train_rows = corpus_lib.write_task_tsv(
      corpus.train_groups, labels,
      os.path.join(paths["finetune_data_dir"], "train.tsv"), rng)
  dev_rows = corpus_lib.write_task_tsv(
      corpus.dev_groups, labels,
      os.path.join(paths["finetune_data_dir"], "dev.tsv"), rng)
  counts = collections.Counter(label for label, _ in dev_rows)
  majority = max(counts.values()) / max(1, len(dev_rows))
  state.summary["finetune_data"] = {"labels": labels,
                                    "train_sentences": len(train_rows),
                                    "dev_sentences": len(dev_rows),
                                    "dev_majority_baseline": round(majority,
                                                                   4)}
  say("    The label of a sentence is the topic group it comes from; %d "
      "groups:" % len(labels))
  for label in labels:
    topics_of = next(g.topics for g in corpus.groups if g.name == label)
    say("      %-16s %3d dev sentences  (topics: %s)" % (
        label, counts[label], ", ".join(topics_of)))
  say("    %d training and %d dev sentences (chance %.3f, always the "
      "largest group %.3f) -> %s" % (
          len(train_rows), len(dev_rows), 1.0 / len(labels), majority,
          paths["finetune_data_dir"]))
  return train_rows, dev_rows


def _classifier_config(state, model, labels, steps, output_dir,
                       keep_checkpoint_max, export_dir=None):
  """The fine-tuning run of `model` on the task's TSVs."""
  cfg = state.cfg
  return classifier.ClassifierConfig(
      task_name="generic", data_dir=state.paths["finetune_data_dir"],
      bert_config_file=model.bert_config_file, output_dir=output_dir,
      vocab_file=model.vocab_file, init_checkpoint=model.init_checkpoint,
      do_lower_case=True, max_seq_length=cfg.max_seq_length, do_train=True,
      do_eval=True, train_batch_size=cfg.finetune_batch_size,
      eval_batch_size=64, learning_rate=cfg.finetune_learning_rate,
      num_train_epochs=cfg.finetune_epochs,
      save_checkpoints_steps=max(steps // 2, 1),
      keep_checkpoint_max=keep_checkpoint_max, random_seed=cfg.seed,
      export_dir=export_dir, log_every_n_steps=cfg.log_every_n_steps,
      processor_kwargs=corpus_lib.task_processor_kwargs(labels))


def _finetune_stage(state, model, labels, num_train):
  """6. Fine-tuning, evaluation and export; returns the SavedModel path."""
  cfg, paths, say = state.cfg, state.paths, console.say
  steps = max(1, int(num_train / cfg.finetune_batch_size *
                     cfg.finetune_epochs))
  state.stages.start("finetune", "Fine-tuning %s: %d steps of %d sentences, "
                     "then dev evaluation and SavedModel export" % (
                         "MiniLM" if cfg.from_minilm else
                         "the pretrained BERT", steps,
                         cfg.finetune_batch_size))
  result = classifier.run(_classifier_config(
      state, model, labels, steps, paths["finetune_dir"],
      keep_checkpoint_max=2, export_dir=paths["export_dir"]))
  state.summary["finetune"] = _float_metrics(result["eval"])
  if cfg.compare_with_scratch and not cfg.from_minilm:
    say("    The same fine-tuning from a random initialisation, for "
        "comparison:")
    scratch = classifier.run(_classifier_config(
        state, model._replace(init_checkpoint=None), labels, steps,
        paths["finetune_scratch_dir"], keep_checkpoint_max=1))
    state.summary["finetune_scratch"] = _float_metrics(scratch["eval"])
    say("    From scratch: dev accuracy %.3f, Matthews correlation %.3f" % (
        scratch["eval"]["eval_accuracy"], scratch["eval"]["mcc"]))
  export_path = result["export_path"]
  paths["saved_model"] = export_path
  say("    Dev: accuracy %.3f, Matthews correlation %.3f -> %s" % (
      result["eval"]["eval_accuracy"], result["eval"]["mcc"],
      os.path.join(paths["finetune_dir"], "eval_results.txt")))
  say("    SavedModel -> %s" % export_path)
  return export_path


def _predict_stage(state, export_path, vocab_file, dev_rows, labels):
  """7. Answers the dev sentences from the SavedModel."""
  cfg, paths, say = state.cfg, state.paths, console.say
  state.stages.start("predict", "Answering the %d dev sentences from the "
                     "exported SavedModel" % len(dev_rows))
  probabilities = predict_from_saved_model(
      export_path, [sentence for _, sentence in dev_rows], vocab_file, True,
      cfg.max_seq_length, labels)
  predicted = np.argmax(probabilities, axis=-1)
  truth = np.array([labels.index(label) for label, _ in dev_rows])
  served = {"accuracy": metrics.accuracy(predicted, truth),
            "macro_f1": corpus_lib.macro_f1(predicted, truth, len(labels))}
  state.summary["served"] = served
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
    say("    %r" % _shorten(sentence))
    say("      -> %s (p=%.2f); it is from %s: %s" % (
        labels[k], probabilities[i][k], label,
        "right" if labels[k] == label else "wrong"))
  say("    From the SavedModel: accuracy %.3f (as evaluated above), macro "
      "F1 %.3f -> %s" % (served["accuracy"], served["macro_f1"],
                         paths["predictions_file"]))


def _plots_stage(state):
  """8. The loss, learning-rate and evaluation plots."""
  cfg, paths = state.cfg, state.paths
  state.stages.start("plots", "Drawing the training curves (bert_tf.plots)")
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
  console.say("    %d PNGs -> %s" % (len(written), paths["plots_dir"]))
