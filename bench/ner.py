"""WNUT-17 NER: bert_tf (run_ner's NerTask) against Hugging Face's
BertForTokenClassification, same weights, windows and recipe, over seeds.

  nice -n 5 .venv/bin/python bench/ner.py --seeds=1,2,3   # ~40 min, 2 cores
  .venv/bin/python bench/ner.py --collect_only             # table only

Data: ../shared/data/ner/wnut17 (train on train.conll, 3,394 sentences;
score dev.conll, 1,009 sentences). Model: ../shared/models' MiniLM-L6-H384
(uncased), converted once with `bert_tf.convert`. Recipe (the reference's
fine-tuning): max_seq_length 128, doc_stride 64, batch 32, learning rate
5e-5, 3 epochs, 10% linear warm-up then linear decay, BERT's AdamW (weight
decay 0.01, none on biases and LayerNorm), gradient clipping at 1.0, dropout
0.1, a fresh random permutation of the training windows every epoch.

Both sides get the same windows (`tasks.ner.convert_sentences`; no WNUT
sentence needs more than one at 128) and are scored the same way: one
prediction per word (its first piece), entity-level micro P/R/F1 as
conlleval defines them (`tasks.ner_eval`), per type, token accuracy; every
run's scores are also computed by seqeval (default mode) and the largest
difference is reported. bert_tf's tagging head is drawn from a normal
(run_ner's default --head_initializer, as HF's), and by default
(--tf_side=tf_random) it batches as the HF side does: batches drawn at
random from each epoch's permutation, each padded to its longest window
(`--use_bucketing --bucket_width=<max_seq_length>`: one length bucket, so
batches are only trimmed). --tf_side=tf is length bucketing (buckets 8
pieces wide: batches of windows of similar length; the loss divided by
batch x the training set's mean labelled words per window, so every word
weighs the same whatever its batch), --tf_side=tf_fixed pads every batch
to --max_seq_length.

Each (framework, seed) runs in its own process, pinned to one core, two at a
time (--parallel), a new one starting as soon as a core is free. Runs write
`<results_dir>/ner-wnut17/{<tf_side>,hf}-seed<N>.json` (an existing one is reused;
delete it to run again); the summary goes to `<results_dir>/ner-wnut17.json`
and a Markdown table to stdout.
"""

import argparse
import glob
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("BERT_TF_SHARED", os.path.join(os.path.dirname(ROOT),
                                                       "shared"))
WNUT = os.path.join(SHARED, "data", "ner", "wnut17")
MINILM = os.path.join(SHARED, "models", "minilm-l6-h384-uncased")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))


def recipe_parser(description):
  parser = argparse.ArgumentParser(description=description)
  parser.add_argument("--results_dir",
                      default=os.path.join(ROOT, "bench", "results"))
  parser.add_argument("--max_seq_length", type=int, default=128)
  parser.add_argument("--doc_stride", type=int, default=64)
  parser.add_argument("--train_batch_size", type=int, default=32)
  parser.add_argument("--eval_batch_size", type=int, default=64)
  parser.add_argument("--learning_rate", type=float, default=5e-5)
  parser.add_argument("--num_train_epochs", type=float, default=3.0)
  parser.add_argument("--warmup_proportion", type=float, default=0.1)
  parser.add_argument("--threads", type=int, default=0,
                      help="torch threads of an HF run (0: all cores)")
  parser.add_argument(
      "--head_initializer", choices=("truncated_normal", "normal"),
      default=None,
      help="bert_tf's --head_initializer (default: run_ner's, normal; HF's "
           "head is always normal)")
  return parser


# bert_tf's batching modes (run_tf's `mode`).
TF_MODES = {
    "tf_random": "HF's batching: random batches, each padded to its longest "
                 "window (--use_bucketing --bucket_width=max_seq_length)",
    "tf": "length bucketing (--use_bucketing, buckets 8 pieces wide)",
    "tf_fixed": "random batches padded to --max_seq_length",
}


def _work_dir(args):
  return os.path.join(args.results_dir, "ner-wnut17")


def converted_minilm(args):
  """The MiniLM converted to a Google checkpoint (made once)."""
  from bert_tf import convert  # pylint: disable=g-import-not-at-top
  out = os.path.join(_work_dir(args), "minilm-google")
  if not os.path.exists(os.path.join(out, "bert_model.ckpt.index")):
    # Converted under a temporary name, then renamed: runs started together
    # never read a half-written conversion.
    tmp = "%s.tmp-%d" % (out, os.getpid())
    convert.hf_to_google(MINILM, tmp)
    try:
      os.rename(tmp, out)
    except OSError:  # Another run got there first.
      shutil.rmtree(tmp, ignore_errors=True)
  return out


def _scores(gold, predicted):
  """ner_eval's scores, seqeval's, and their largest difference."""
  from seqeval import metrics as sm  # pylint: disable=g-import-not-at-top
  from bert_tf.tasks import ner_eval  # pylint: disable=g-import-not-at-top
  ours = ner_eval.evaluate(gold, predicted)
  report = sm.classification_report(gold, predicted, output_dict=True,
                                     zero_division=0)
  theirs = {"precision": sm.precision_score(gold, predicted),
            "recall": sm.recall_score(gold, predicted),
            "f1": sm.f1_score(gold, predicted),
            "accuracy": sm.accuracy_score(gold, predicted)}
  diffs = [abs(ours[k] - theirs[k]) for k in theirs]
  for entity_type, m in ours["per_type"].items():
    if entity_type in report:
      diffs += [abs(m["f1"] - report[entity_type]["f1-score"]),
                abs(m["precision"] - report[entity_type]["precision"]),
                abs(m["recall"] - report[entity_type]["recall"])]
  return {
      "precision": ours["precision"], "recall": ours["recall"],
      "f1": ours["f1"], "accuracy": ours["accuracy"],
      "per_type_f1": {t: m["f1"] for t, m in ours["per_type"].items()},
      "per_type": ours["per_type"],
      "seqeval": theirs,
      "max_abs_diff_vs_seqeval": max(diffs),
  }


def hf_initial_head(seed, num_labels):
  """HF's own initial head for a seed, as run_hf draws it.

  BertForTokenClassification's `classifier` ([num_labels, H] weights drawn
  from a normal of sd initializer_range, zero bias) after
  `torch.manual_seed(seed)` and `from_pretrained`, exactly as run_hf starts.
  """
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  torch.manual_seed(seed)
  model = transformers.BertForTokenClassification.from_pretrained(
      MINILM, num_labels=num_labels, attn_implementation="eager")
  return (model.classifier.weight.detach().numpy().copy(),
          model.classifier.bias.detach().numpy().copy())


def checkpoint_with_head(google, weights, bias, out,
                         names=("output_weights", "output_bias")):
  """Writes `out/bert_model.ckpt`: the converted encoder plus a given head.

  The driver's init_checkpoint loads every graph variable it finds by name,
  so bert_tf starts from this head (`names`: the weights [num_outputs, H],
  the bias [num_outputs]; the tagging head's by default) instead of drawing
  its own.
  """
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  prefix = os.path.join(google, "bert_model.ckpt")
  reader = tf.train.load_checkpoint(prefix)
  os.makedirs(out, exist_ok=True)
  with tf.Graph().as_default():
    variables = [tf.Variable(reader.get_tensor(name), name=name)
                 for name, _ in tf.train.list_variables(prefix)]
    variables += [tf.Variable(weights, name=names[0]),
                  tf.Variable(bias, name=names[1])]
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      tf.train.Saver(variables).save(
          sess, os.path.join(out, "bert_model.ckpt"), write_meta_graph=False)
  return os.path.join(out, "bert_model.ckpt")


def hf_stream(seed, num_windows, num_train, batch_size):
  """The training windows' indices in the order run_hf feeds them.

  A fresh `np.random.RandomState(seed).permutation` of all windows each
  epoch, the permutations concatenated and cut into `num_train` batches of
  `batch_size` (a batch may span two epochs, as bert_tf's repeated stream).

  Returns:
    list of int, num_train * batch_size window indices.
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.RandomState(seed)
  order = []
  while len(order) < num_train * batch_size:
    order.extend(rng.permutation(num_windows).tolist())
  return order[:num_train * batch_size]


def write_stream_file(sentences, order, path):
  """Writes sentences[i] for i in `order` as a tagged file (token TAB tag)."""
  with open(path + ".tmp", "w", encoding="utf-8") as f:
    for i in order:
      s = sentences[i]
      for word, tag in zip(s.words, s.tags):
        f.write("%s\t%s\n" % (word, tag))
      f.write("\n")
  os.replace(path + ".tmp", path)


class _FileOrder(object):
  """Stands in for `random` in tasks.ner: its write-time shuffle of the
  training windows becomes a no-op, so the record file keeps the order of
  the (stream) training file."""

  class Random(object):

    def __init__(self, seed):
      del seed

    def shuffle(self, items):
      del items


def tf_step_losses(model_dir, num_steps):
  """bert_tf's training loss at every step, from the loss summaries."""
  from whole_run_parity import tf_losses  # pylint: disable=g-import-not-at-top
  for tag in ("loss_1", "loss"):
    curve = tf_losses(model_dir, tag)
    if len(curve) >= num_steps - 1:
      return [v for _, v in curve]
  return []


def run_tf(args, seed, mode="tf"):
  """Fine-tunes and scores with bert_tf; returns the record.

  mode: "tf", length bucketing (batches of windows of similar length, each
  trimmed to its longest); "tf_random", one bucket (`--bucket_width` =
  --max_seq_length): batches drawn from the whole shuffled stream, as the
  HF side draws its batches, each trimmed to its longest window, as HF pads
  them; "tf_fixed": the same batches as "tf_random", padded to
  --max_seq_length.
  args.hf_head: start from HF's own initial head for the seed (a control,
  the mirror of run_hf's --init_head_from).
  """
  from bert_tf import input_pipeline  # pylint: disable=g-import-not-at-top
  from bert_tf import tokenization  # pylint: disable=g-import-not-at-top
  from bert_tf.tasks import ner  # pylint: disable=g-import-not-at-top
  google = converted_minilm(args)
  out = os.path.join(_work_dir(args), "%s-seed%d" % (
      mode, seed))
  use_bucketing = mode != "tf_fixed"
  bucket_width = (args.max_seq_length if mode == "tf_random" else
                  input_pipeline.DEFAULT_BUCKET_WIDTH)
  shutil.rmtree(out, ignore_errors=True)
  init_checkpoint = os.path.join(google, "bert_model.ckpt")
  train_sentences = ner.read_conll(os.path.join(WNUT, "train.conll"))
  # The training file's tags, whatever file bert_tf reads.
  labels = ner.labels_from_sentences(train_sentences)
  if getattr(args, "hf_head", False):
    init_checkpoint = checkpoint_with_head(
        google, *hf_initial_head(seed, len(labels)),
        out=os.path.join(_work_dir(args), "hf-head-seed%d" % seed))
  bert_config_file = os.path.join(google, "bert_config.json")
  if getattr(args, "no_dropout", False):
    from squad import no_dropout_config  # pylint: disable=g-import-not-at-top
    os.makedirs(out, exist_ok=True)
    bert_config_file = no_dropout_config(bert_config_file, out)
  train_file = os.path.join(WNUT, "train.conll")
  num_train_epochs = args.num_train_epochs
  shuffle_buffer = 0
  hf_order = getattr(args, "hf_order", False)
  no_dropout = bool(getattr(args, "no_dropout", False))
  if hf_order:
    # HF's exact example stream for the seed, written out epoch after
    # epoch and read in file order: one pass over it is the whole run.
    tokenizer = tokenization.FullTokenizer(
        os.path.join(google, "vocab.txt"), do_lower_case=True)
    windows = ner.convert_sentences(
        train_sentences, tokenizer, args.max_seq_length, args.doc_stride,
        {t: i for i, t in enumerate(labels)})
    if [w.sentence_index for w in windows] != list(range(len(train_sentences))):
      raise SystemExit("--hf_order needs one window per sentence")
    bs = args.train_batch_size
    num_train = max(1, int(len(windows) / bs * args.num_train_epochs))
    order = hf_stream(seed, len(windows), num_train, bs)
    os.makedirs(out, exist_ok=True)
    train_file = os.path.join(out, "train-stream.conll")
    write_stream_file(train_sentences, order, train_file)
    num_train_epochs = 1.0
    shuffle_buffer = 1
    ner.random = _FileOrder
  head_setting = ({"head_initializer": args.head_initializer}
                  if args.head_initializer else {})
  cfg = ner.NerConfig(
      bert_config_file=bert_config_file,
      vocab_file=os.path.join(google, "vocab.txt"),
      init_checkpoint=init_checkpoint,
      output_dir=out, do_train=True, do_eval=True,
      train_file=train_file,
      eval_file=os.path.join(WNUT, "dev.conll"),
      max_seq_length=args.max_seq_length, doc_stride=args.doc_stride,
      train_batch_size=args.train_batch_size,
      eval_batch_size=args.eval_batch_size,
      learning_rate=args.learning_rate,
      num_train_epochs=num_train_epochs,
      warmup_proportion=args.warmup_proportion, random_seed=seed,
      labels=",".join(labels), **head_setting,
      use_bucketing=use_bucketing, bucket_width=bucket_width,
      shuffle_buffer=shuffle_buffer,
      save_checkpoints_steps=100000,
      log_every_n_steps=1 if hf_order and no_dropout else 50)
  start = time.time()
  result = ner.run(cfg)
  seconds = time.time() - start
  gold = [s.tags for s in ner.read_conll(cfg.eval_file)]
  scored = ner.read_conll(result["eval_predictions_file"], has_tags=True)
  # eval_predictions.txt: token, gold tag, predicted tag.
  predicted = [s.tags for s in scored]
  with open(result["eval_predictions_file"], encoding="utf-8") as f:
    rows = [line.split("\t") for line in f.read().splitlines() if line]
  assert all(len(r) == 3 for r in rows)
  record = _scores(gold, predicted)
  assert abs(record["f1"] - result["eval"]["f1"]) < 1e-12
  record.update(framework="bert_tf", seed=seed, seconds=seconds,
                use_bucketing=use_bucketing, bucket_width=bucket_width,
                mode=mode,
                hf_head=bool(getattr(args, "hf_head", False)),
                head_initializer=cfg.head_initializer,
                max_seq_length=args.max_seq_length,
                num_train_steps=result["num_train_steps"],
                eval_loss=result["eval"]["eval_loss"],
                hf_order=hf_order,
                no_dropout=no_dropout)
  if hf_order and no_dropout:
    # The same batches as HF's run: its losses compare step by step.
    record["losses"] = tf_step_losses(out, result["num_train_steps"])
  return record


def run_hf(args, seed):
  """Fine-tunes and scores BertForTokenClassification; returns the record."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  from bert_tf import tokenization  # pylint: disable=g-import-not-at-top
  from bert_tf.tasks import ner  # pylint: disable=g-import-not-at-top
  from squad_hf import bert_learning_rate, clipped_update, copy_head, initial_head, reference_optimizer  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(args.threads or os.cpu_count())
  torch.manual_seed(seed)
  tokenizer = tokenization.FullTokenizer(
      os.path.join(MINILM, "vocab.txt"), do_lower_case=True)
  train = ner.read_conll(os.path.join(WNUT, "train.conll"))
  dev = ner.read_conll(os.path.join(WNUT, "dev.conll"))
  labels = ner.labels_from_sentences(train)
  label_map = {t: i for i, t in enumerate(labels)}
  train_windows = ner.convert_sentences(train, tokenizer, args.max_seq_length,
                                        args.doc_stride, label_map)
  dev_windows = ner.convert_sentences(dev, tokenizer, args.max_seq_length,
                                      args.doc_stride, label_map)

  def arrays(windows):
    return {name: np.array([getattr(w, name) for w in windows], np.int64)
            for name in ner.SEQUENCE_FEATURES}

  tr, dv = arrays(train_windows), arrays(dev_windows)
  tr["labels"] = np.where(tr["label_mask"] > 0, tr["label_ids"], -100)

  def batch(data, rows):
    length = max(1, int(data["input_mask"][rows].sum(1).max()))
    return {k: torch.from_numpy(v[rows, :length]) for k, v in data.items()}

  dropout = {}
  if args.no_dropout:
    dropout = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
  model = transformers.BertForTokenClassification.from_pretrained(
      MINILM, num_labels=len(labels), attn_implementation="eager", **dropout)
  if args.init_head_from:
    # A control: bert_tf's initial head (its model.ckpt-0), so that only
    # the example order and the dropout masks are HF's own.
    copy_head(torch, model.classifier,
              *initial_head(args.init_head_from, "output_weights",
                            "output_bias", timeout=0))
  optimizer = reference_optimizer(torch, model, args.learning_rate)
  n = len(train_windows)
  bs = args.train_batch_size
  # The driver's formula: int(examples / batch * epochs) updates.
  num_train = max(1, int(n / bs * args.num_train_epochs))
  num_warmup = int(num_train * args.warmup_proportion)
  order = hf_stream(seed, n, num_train, bs)
  losses = []
  start = time.time()
  model.train()
  for step in range(num_train):
    rows = np.array(order[step * bs:(step + 1) * bs])
    lr = bert_learning_rate(args.learning_rate, step, num_warmup, num_train)
    for group in optimizer.param_groups:
      group["lr"] = lr
    b = batch(tr, rows)
    out = model(input_ids=b["input_ids"], attention_mask=b["input_mask"],
                token_type_ids=b["segment_ids"], labels=b["labels"])
    clipped_update(torch, model, optimizer, out.loss)
    losses.append(float(out.loss.item()))
    if step % 50 == 0:
      print("step %d/%d loss %.4f (%.0f s)" % (step, num_train,
                                               out.loss.item(),
                                               time.time() - start),
            flush=True)
  model.eval()
  values = []
  with torch.no_grad():
    for i in range(0, len(dev_windows), args.eval_batch_size):
      rows = np.arange(i, min(i + args.eval_batch_size, len(dev_windows)))
      b = batch(dv, rows)
      logits = model(input_ids=b["input_ids"], attention_mask=b["input_mask"],
                     token_type_ids=b["segment_ids"]).logits
      values.extend(logits.argmax(-1).numpy())
  seconds = time.time() - start
  ids = ner.assemble_word_predictions(dev_windows, values, len(dev),
                                      [len(s.words) for s in dev])
  predicted = [[labels[i] for i in s] for s in ids]
  record = _scores([s.tags for s in dev], predicted)
  record.update(framework="hf", seed=seed, seconds=seconds,
                init_head_from=args.init_head_from,
                num_train_steps=num_train, no_dropout=args.no_dropout,
                losses=losses)
  return record


def _run_jobs(jobs, parallel):
  """Runs commands `parallel` at a time, each pinned to its own core, a new
  one starting as soon as a core is free; raises if one fails."""
  pin = hasattr(os, "sched_setaffinity") and os.cpu_count() >= parallel > 1
  running = {}  # core -> (proc, log)
  queue = list(jobs)
  failed = []
  while queue or running:
    for core in range(parallel):
      if core not in running and queue:
        cmd, log = queue.pop(0)
        if pin:
          cmd = ["taskset", "-c", str(core)] + cmd
        print("running: " + " ".join(cmd) + "  (log: %s)" % log, flush=True)
        with open(log, "w") as f:
          running[core] = (subprocess.Popen(cmd, stdout=f,
                                            stderr=subprocess.STDOUT), log)
    time.sleep(5)
    for core, (proc, log) in list(running.items()):
      if proc.poll() is not None:
        del running[core]
        if proc.returncode != 0:
          failed.append("exit %d, see %s" % (proc.returncode, log))
  if failed:
    raise SystemExit("failed: " + "; ".join(failed))


def _mean_sd_se(values):
  if not values:
    return None
  mean = statistics.mean(values)
  sd = statistics.stdev(values) if len(values) > 1 else 0.0
  return {"mean": mean, "sd": sd, "se": sd / math.sqrt(len(values)),
          "n": len(values), "values": values}


def collect(args, seeds):
  """Tabulates the per-run JSON files; writes the summary JSON."""
  work = _work_dir(args)
  tf_side = args.tf_side
  runs = {side: [] for side in ("hf",) + tuple(TF_MODES)}
  for side in runs:
    for seed in seeds:
      path = os.path.join(work, "%s-seed%d.json" % (side, seed))
      if os.path.exists(path):
        with open(path) as f:
          runs[side].append(json.load(f))
  types = sorted({t for side in runs.values() for r in side
                  for t in r["per_type_f1"]})
  summary = {"recipe": {k: getattr(args, k) for k in (
      "max_seq_length", "doc_stride", "train_batch_size", "learning_rate",
      "num_train_epochs", "warmup_proportion")}, "seeds": seeds,
      "tf_side": tf_side}
  for side, records in runs.items():
    summary[side] = {
        "f1": _mean_sd_se([100 * r["f1"] for r in records]),
        "precision": _mean_sd_se([100 * r["precision"] for r in records]),
        "recall": _mean_sd_se([100 * r["recall"] for r in records]),
        "per_type_f1": {t: _mean_sd_se([100 * r["per_type_f1"].get(t, 0.0)
                                        for r in records]) for t in types},
        "max_abs_diff_vs_seqeval": max(
            [r["max_abs_diff_vs_seqeval"] for r in records] or [0.0]),
        "seconds": _mean_sd_se([r["seconds"] for r in records]),
        "runs": records,
    }
  fmt = lambda s: "-" if not s else (  # pylint: disable=g-long-lambda
      "%.2f" % s["mean"] if s["n"] == 1 else
      "%.2f +- %.2f (se %.2f)" % (s["mean"], s["sd"], s["se"]))
  lines = ["| seed | bert_tf F1 (%s) | HF F1 |" % tf_side, "|---|---|---|"]
  for seed in seeds:
    cells = []
    for side in (tf_side, "hf"):
      r = [x for x in runs[side] if x["seed"] == seed]
      cells.append("%.2f" % (100 * r[0]["f1"]) if r else "-")
    lines.append("| %d | %s | %s |" % (seed, cells[0], cells[1]))
  lines.append("| mean +- sd | %s | %s |" % (fmt(summary[tf_side]["f1"]),
                                            fmt(summary["hf"]["f1"])))
  for side in TF_MODES:
    if side != tf_side and runs[side]:
      lines.append("| bert_tf %s, seeds %s | %s | |" % (
          TF_MODES[side], ",".join(str(r["seed"]) for r in runs[side]),
          fmt(summary[side]["f1"])))
  lines += ["", "| entity type | bert_tf F1 | HF F1 |", "|---|---|---|"]
  for key in ("precision", "recall"):
    lines.append("| (all, %s) | %s | %s |" % (
        key, fmt(summary[tf_side][key]), fmt(summary["hf"][key])))
  for t in types:
    lines.append("| %s | %s | %s |" % (
        t, fmt(summary[tf_side]["per_type_f1"][t]),
        fmt(summary["hf"]["per_type_f1"][t])))
  tf_f1, hf_f1 = summary[tf_side]["f1"], summary["hf"]["f1"]
  if tf_f1 and hf_f1:
    summary["target_met"] = tf_f1["mean"] >= hf_f1["mean"] - hf_f1["se"]
    lines += ["", "target (bert_tf mean >= HF mean - HF se): %s" %
              summary["target_met"]]
  lines.append("largest |ner_eval - seqeval| over all runs: %.3g" % max(
      summary[side]["max_abs_diff_vs_seqeval"] for side in runs))
  summary["table"] = "\n".join(lines)
  with open(os.path.join(args.results_dir, "ner-wnut17.json"), "w") as f:
    json.dump(summary, f, indent=2, sort_keys=True)
  print(summary["table"])
  return summary


def main():
  parser = recipe_parser(__doc__)
  parser.add_argument("--seeds", default="1,2,3")
  parser.add_argument("--framework",
                      choices=("hf",) + tuple(TF_MODES),
                      default=None,
                      help="run one side for one --seeds value (what the "
                           "orchestrating run starts)")
  parser.add_argument("--json", default=None)
  parser.add_argument(
      "--init_head_from", default=None,
      help="with --framework=hf: start the HF head from the initial head "
           "(model.ckpt-0) of this bert_tf run directory")
  parser.add_argument(
      "--hf_head", action="store_true",
      help="with --framework=tf: start bert_tf from HF's own initial head "
           "for the seed (normal, sd 0.02) instead of the reference's "
           "truncated normal (the mirror of --init_head_from); use its own "
           "--results_dir")
  parser.add_argument(
      "--hf_order", action="store_true",
      help="with --framework=tf_fixed: feed bert_tf HF's exact example "
           "stream for the seed (written out, read in file order with a "
           "one-record buffer), so only the dropout masks differ from an HF "
           "run started from the same head (--hf_head); with --no_dropout "
           "the per-step losses go into the JSON; use its own --results_dir")
  parser.add_argument(
      "--no_dropout", action="store_true",
      help="dropout off on either side (with --hf_order --hf_head against "
           "--framework=hf: a whole-run parity of the same batches)")
  parser.add_argument(
      "--tf_side", choices=sorted(TF_MODES), default="tf_random",
      help="bert_tf's batching in the orchestrated comparison: %s" % "; ".join(
          "%s: %s" % kv for kv in sorted(TF_MODES.items())))
  parser.add_argument("--collect_only", action="store_true")
  parser.add_argument("--parallel", type=int, default=2,
                      help="runs at once (each pinned to one core)")
  args = parser.parse_args()
  for path in (WNUT, MINILM):
    if not os.path.exists(path):
      raise SystemExit("needs %s (the shared data beside the project root)"
                       % path)
  if args.hf_head and args.framework not in TF_MODES:
    raise SystemExit("--hf_head applies to --framework=%s only" %
                     ", ".join(TF_MODES))
  if args.hf_head and args.head_initializer:
    raise SystemExit("--hf_head starts from HF's drawn head: leave "
                     "--head_initializer out")
  if args.init_head_from and args.framework != "hf":
    raise SystemExit("--init_head_from applies to --framework=hf only")
  if args.hf_order and args.framework not in ("tf_fixed", "tf_random"):
    raise SystemExit("--hf_order applies to --framework=tf_fixed or "
                     "tf_random only (length bucketing would regroup the "
                     "stream)")
  if args.no_dropout and not args.framework:
    raise SystemExit("--no_dropout applies to one run (--framework=...)")
  os.makedirs(_work_dir(args), exist_ok=True)
  seeds = [int(s) for s in args.seeds.split(",") if s]
  if args.framework:
    if args.framework == "hf":
      record = run_hf(args, seeds[0])
    else:
      record = run_tf(args, seeds[0], mode=args.framework)
    with open(args.json + ".tmp", "w") as f:
      json.dump(record, f, indent=2, sort_keys=True)
    os.replace(args.json + ".tmp", args.json)
    print(json.dumps({k: record[k] for k in ("framework", "seed", "f1",
                                             "precision", "recall",
                                             "seconds")}))
    return
  if not args.collect_only:
    converted_minilm(args)
    jobs = {args.tf_side: [], "hf": []}
    recipe = ["--%s=%s" % (k, getattr(args, k)) for k in (
        "results_dir", "max_seq_length", "doc_stride", "train_batch_size",
        "eval_batch_size", "learning_rate", "num_train_epochs",
        "warmup_proportion")] + (
            ["--head_initializer=" + args.head_initializer]
            if args.head_initializer else [])
    for seed in seeds:
      for side in (args.tf_side, "hf"):
        out = os.path.join(_work_dir(args), "%s-seed%d.json" % (side, seed))
        if os.path.exists(out):
          continue
        cmd = [sys.executable, os.path.abspath(__file__), "--framework=" +
               side, "--seeds=%d" % seed, "--json=" + out] + recipe
        if side == "hf" and args.parallel > 1:
          cmd.append("--threads=1")
        jobs[side].append((cmd, out[:-5] + ".log"))
    # The slower HF runs first, so the cores stay busy to the end.
    _run_jobs(jobs["hf"] + jobs[args.tf_side], args.parallel)
  else:
    seeds = sorted({int(m.group(1)) for p in glob.glob(
        os.path.join(_work_dir(args), "*-seed*.json"))
                    for m in [re.search(r"seed(\d+)\.json$", p)] if m})
  collect(args, seeds)


if __name__ == "__main__":
  main()
