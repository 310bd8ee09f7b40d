"""Pretraining benchmark: vocabulary, data creation, from-scratch and continued.

  .venv/bin/python bench/pretraining.py            # full run (~15 min, 2 cores)
  .venv/bin/python bench/pretraining.py --quick    # smoke run (about a minute)

Split (whole documents held out): the vocabulary, the training instances and
all training use five Jane Austen novels from ../shared/data/corpus/janeausten
(emma, mansfieldpark, northangerabbey, prideprejudice, sensesensibility);
every evaluation runs on instances made from the held-out novel
persuasion.txt, which no step ever trains on. The novels are wrapped prose, so
the data is made with `sentence_split=True` (paragraphs cut into sentences,
one document per chapter).

Steps, each timed:
  1. WordPiece vocabulary (`bert_tf.vocab_builder.build_vocab`, default 8000
     entries) from the training novels; its [UNK] rate on training lines and
     on the held-out novel.
  2. Data-creation throughput of `create_training_instances` on the training
     novels with num_workers=1 and num_workers=2 (same seed, dupe_factor 5 by
     default); the two outputs must be identical.
  3. A small BERT (default 2 layers, hidden 128, 2 heads, intermediate 512:
     the shape of Google's BERT-Tiny; seq 128, 20 predictions, batch 32,
     lr 1e-3, 10% warmup, 1500 steps)
     pretrained from scratch with one `pretrainer.run` call (one
     learning-rate schedule for the whole run), checkpoints saved at the
     evaluation points (default 0, 25%, 50%, 100% of the steps), each then
     evaluated on the held-out instances (default: the first 256 of the
     shuffled held-out instances) with
     `pretrainer.run(do_eval=True, eval_input_file=...)`.
  4. Continued pretraining of the converted shared MiniLM (6 layers, hidden
     384; fresh cls/ heads) on data made with its own uncased vocabulary
     (default 200 steps, batch 8, lr 5e-4, 10% warmup): held-out metrics at
     step 0 (encoder as converted, heads untrained) and at the end.

Evaluating saved checkpoints (rather than re-running `pretrainer.run` with a
growing num_train_steps, which would also resume) keeps one linear-decay
schedule: a run stopped at num_train_steps=N/4 would have decayed its
learning rate to 0 at N/4 and restarted the decay from a higher rate.

Prints markdown tables and writes JSON (bench/results/pretraining.json by
default; --quick writes pretraining-quick.json).
"""

import argparse
import json
import math
import os
import platform
import random
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# pylint: disable=g-import-not-at-top,wrong-import-position
import bert_tf
import tensorflow.compat.v1 as tf

from bert_tf import convert
from bert_tf.tasks import pretrainer
from bert_tf import tokenization
from bert_tf import vocab_builder
from bert_tf.tasks import pretraining
# pylint: enable=g-import-not-at-top,wrong-import-position

SHARED = os.environ.get("BERT_TF_SHARED", os.path.join(os.path.dirname(ROOT),
                                                        "shared"))
NOVELS = ("emma", "mansfieldpark", "northangerabbey", "persuasion",
          "prideprejudice", "sensesensibility")
DEFAULT_HELD_OUT = "persuasion"
METRICS = ("masked_lm_accuracy", "masked_lm_loss", "next_sentence_accuracy",
           "next_sentence_loss")

_START = time.time()


def log(message, *args):
  """Progress line on stderr, with the time since the start."""
  text = message % args if args else message
  sys.stderr.write("[bench %6.1fs] %s\n" % (time.time() - _START, text))
  sys.stderr.flush()


def parse_args(argv=None):
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  parser.add_argument("--quick", action="store_true",
                      help="tiny smoke run: one short novel, tiny model, a "
                      "few steps (seconds to a minute)")
  parser.add_argument("--corpus_dir",
                      default=os.path.join(SHARED, "data", "corpus",
                                           "janeausten"))
  parser.add_argument("--held_out", default=DEFAULT_HELD_OUT,
                      help="novel (file stem) held out for evaluation")
  parser.add_argument("--train_novels", default=None,
                      help="comma-separated file stems to train on (default: "
                      "all the others)")
  parser.add_argument("--vocab_size", type=int, default=8000)
  parser.add_argument("--max_seq_length", type=int, default=128)
  parser.add_argument("--max_predictions_per_seq", type=int, default=20)
  parser.add_argument("--masked_lm_prob", type=float, default=0.15)
  parser.add_argument("--short_seq_prob", type=float, default=0.1)
  parser.add_argument("--timing_dupe_factor", type=int, default=5,
                      help="dupe_factor of the num_workers 1 vs 2 timing")
  parser.add_argument("--dupe_factor", type=int, default=1,
                      help="dupe_factor of the from-scratch training data")
  parser.add_argument("--num_layers", type=int, default=2)
  parser.add_argument("--hidden_size", type=int, default=128)
  parser.add_argument("--num_heads", type=int, default=2)
  parser.add_argument("--intermediate_size", type=int, default=512)
  parser.add_argument("--train_batch_size", type=int, default=32)
  parser.add_argument("--eval_batch_size", type=int, default=64)
  parser.add_argument("--learning_rate", type=float, default=1e-3)
  parser.add_argument("--warmup_proportion", type=float, default=0.1)
  parser.add_argument("--train_steps", type=int, default=1500,
                      help="from-scratch training steps (0 skips it)")
  parser.add_argument("--eval_fractions", default="0,0.25,0.5,1",
                      help="evaluation points as fractions of --train_steps")
  parser.add_argument("--max_eval_examples", type=int, default=256,
                      help="evaluate on the first this many (shuffled) "
                      "held-out instances (0: all)")
  parser.add_argument("--minilm_steps", type=int, default=200,
                      help="continued-pretraining steps (0 skips MiniLM)")
  parser.add_argument("--minilm_batch_size", type=int, default=8)
  parser.add_argument("--minilm_learning_rate", type=float, default=5e-4)
  parser.add_argument("--minilm_dupe_factor", type=int, default=1)
  parser.add_argument("--random_seed", type=int, default=12345)
  parser.add_argument("--results_dir",
                      default=os.path.join(ROOT, "bench", "results"))
  parser.add_argument("--work_dir", default=None,
                      help="scratch directory, wiped first (default: "
                      "<results_dir>/pretraining-work[-quick])")
  parser.add_argument("--json", default=None, help="output JSON path")
  args = parser.parse_args(argv)
  if args.quick:
    args.train_novels = args.train_novels or "northangerabbey"
    args.vocab_size = min(args.vocab_size, 2000)
    args.max_seq_length = min(args.max_seq_length, 64)
    args.max_predictions_per_seq = min(args.max_predictions_per_seq, 10)
    args.dupe_factor = 1
    args.num_layers, args.hidden_size = 2, 64
    args.num_heads, args.intermediate_size = 2, 256
    args.train_batch_size = 16
    args.train_steps = min(args.train_steps, 12)
    args.max_eval_examples = min(args.max_eval_examples or 128, 128)
    args.minilm_steps = min(args.minilm_steps, 4)
    args.minilm_batch_size = 4
  suffix = "-quick" if args.quick else ""
  args.work_dir = args.work_dir or os.path.join(args.results_dir,
                                                "pretraining-work" + suffix)
  args.json = args.json or os.path.join(args.results_dir,
                                        "pretraining%s.json" % suffix)
  return args


def eval_steps(args):
  """The evaluation steps (sorted, unique) from --eval_fractions."""
  steps = set()
  for text in args.eval_fractions.split(","):
    fraction = float(text)
    if not 0.0 <= fraction <= 1.0:
      raise ValueError("--eval_fractions: %r is not in [0, 1]." % text)
    steps.add(int(round(fraction * args.train_steps)))
  return sorted(steps)


def checkpoint_interval(steps):
  """save_checkpoints_steps that saves at every step in `steps` (and 0)."""
  interval = 0
  for step in steps:
    interval = math.gcd(interval, step)
  return max(interval, 1)


def corpus_files(args):
  held_out = os.path.join(args.corpus_dir, args.held_out + ".txt")
  if args.train_novels:
    names = [n.strip() for n in args.train_novels.split(",") if n.strip()]
  else:
    names = [n for n in NOVELS if n != args.held_out]
  if args.held_out in names:
    raise ValueError("The held-out novel %r is also a training novel." %
                     args.held_out)
  train = [os.path.join(args.corpus_dir, n + ".txt") for n in names]
  for path in train + [held_out]:
    if not os.path.exists(path):
      raise FileNotFoundError("%s not found (is ../shared present? set "
                              "BERT_TF_SHARED or --corpus_dir)" % path)
  return train, held_out


def make_instances(files, tokenizer, args, dupe_factor, seed, num_workers=1,
                   max_predictions=None, max_seq_length=None):
  return pretraining.create_training_instances(
      files, tokenizer, max_seq_length or args.max_seq_length, dupe_factor,
      args.short_seq_prob, args.masked_lm_prob,
      max_predictions or args.max_predictions_per_seq, random.Random(seed),
      sentence_split=True, num_workers=num_workers)


def write_records(instances, tokenizer, args, path):
  return pretraining.write_instances(instances, tokenizer, args.max_seq_length,
                                     args.max_predictions_per_seq, [path],
                                     num_logged=0)


def write_bert_config(args, vocab_size, path):
  config = {
      "attention_probs_dropout_prob": 0.1,
      "hidden_act": "gelu",
      "hidden_dropout_prob": 0.1,
      "hidden_size": args.hidden_size,
      "initializer_range": 0.02,
      "intermediate_size": args.intermediate_size,
      "max_position_embeddings": 512,
      "num_attention_heads": args.num_heads,
      "num_hidden_layers": args.num_layers,
      "type_vocab_size": 2,
      "vocab_size": vocab_size,
  }
  with open(path, "w") as f:
    json.dump(config, f, indent=2)
  return config


def evaluate_checkpoint(checkpoint, bert_config_file, eval_file,
                        num_eval_examples, args, eval_dir):
  """Held-out metrics of one checkpoint via pretrainer.run(do_eval=True)."""
  os.makedirs(eval_dir, exist_ok=True)
  # The Estimator evaluates the latest checkpoint of its model_dir: point a
  # fresh directory's checkpoint state at the one we want.
  tf.train.update_checkpoint_state(eval_dir, os.path.abspath(checkpoint))
  cfg = pretrainer.PretrainingConfig(
      input_file=eval_file, eval_input_file=eval_file,
      bert_config_file=bert_config_file, output_dir=eval_dir,
      max_seq_length=args.max_seq_length,
      max_predictions_per_seq=args.max_predictions_per_seq,
      do_train=False, do_eval=True, eval_batch_size=args.eval_batch_size,
      max_eval_steps=int(math.ceil(num_eval_examples / args.eval_batch_size)))
  start = time.time()
  metrics = pretrainer.run(cfg)["eval"]
  row = {k: float(metrics[k]) for k in METRICS}
  row["step"] = int(metrics["global_step"])
  row["eval_wall_sec"] = round(time.time() - start, 1)
  return row


def find_checkpoint(model_dir, step):
  path = os.path.join(model_dir, "model.ckpt-%d" % step)
  if not tf.io.gfile.exists(path + ".index"):
    have = tf.train.get_checkpoint_state(model_dir)
    raise FileNotFoundError(
        "No checkpoint for step %d in %s (have: %s)" %
        (step, model_dir, list(have.all_model_checkpoint_paths) if have
         else "none"))
  return path


def train_and_evaluate(name, bert_config_file, train_file, eval_file,
                       num_eval_examples, steps, batch_size, learning_rate,
                       init_checkpoint, args):
  """One pretrainer.run training call; evaluates its checkpoints at `steps`."""
  model_dir = os.path.join(args.work_dir, name)
  total = steps[-1]
  warmup = int(round(args.warmup_proportion * total))
  cfg = pretrainer.PretrainingConfig(
      input_file=train_file, bert_config_file=bert_config_file,
      output_dir=model_dir, init_checkpoint=init_checkpoint,
      max_seq_length=args.max_seq_length,
      max_predictions_per_seq=args.max_predictions_per_seq,
      do_train=True, train_batch_size=batch_size,
      learning_rate=learning_rate, num_train_steps=total,
      num_warmup_steps=warmup,
      save_checkpoints_steps=checkpoint_interval(steps),
      keep_checkpoint_max=total // checkpoint_interval(steps) + 2,
      random_seed=args.random_seed, log_every_n_steps=max(1, total // 20))
  log("%s: training %d steps (batch %d, lr %g, warmup %d) in %s", name, total,
      batch_size, learning_rate, warmup, model_dir)
  start = time.time()
  summary = pretrainer.run(cfg)["train_summary"]
  train_wall = time.time() - start
  log("%s: trained in %.0fs, %.1f examples/sec", name, train_wall,
      summary["examples_per_sec"])
  rows = []
  for step in steps:
    row = evaluate_checkpoint(
        find_checkpoint(model_dir, step), bert_config_file, eval_file,
        num_eval_examples, args, os.path.join(args.work_dir,
                                              "%s-eval-%d" % (name, step)))
    log("%s: step %d: held-out masked-LM acc %.4f loss %.3f, NSP acc %.4f",
        name, step, row["masked_lm_accuracy"], row["masked_lm_loss"],
        row["next_sentence_accuracy"])
    rows.append(row)
  return {
      "steps": total,
      "warmup_steps": warmup,
      "train_batch_size": batch_size,
      "learning_rate": learning_rate,
      "train_examples_per_sec": summary["examples_per_sec"],
      "train_wall_sec": round(train_wall, 1),
      "eval": rows,
  }


def converted_minilm(results_dir):
  """The shared MiniLM in Google layout (cached like bench/glue_finetune)."""
  out = os.path.join(results_dir, "minilm-google")
  if not os.path.exists(os.path.join(out, "bert_config.json")):
    log("converting the shared MiniLM to %s", out)
    convert.hf_to_google(
        os.path.join(SHARED, "models", "minilm-l6-h384-uncased"), out)
  return out


def stage_vocab(args, train_files, held_out_file):
  start = time.time()
  result = vocab_builder.build_vocab(
      train_files, os.path.join(args.work_dir, "vocab"), args.vocab_size,
      do_lower_case=True, seed=args.random_seed)
  wall = time.time() - start
  tokenizer = tokenization.FullTokenizer(result.vocab_file, do_lower_case=True)
  held_out_lines = vocab_builder.read_training_lines([held_out_file])
  held_out_unk = vocab_builder.unk_rate(tokenizer, held_out_lines)
  log("vocab: %d entries in %.1fs, [UNK] %.4f%% train / %.4f%% held out",
      result.vocab_size, wall, 100 * result.unk_rate, 100 * held_out_unk)
  info = {
      "type": "wordpiece (bert_tf.vocab_builder)",
      "requested_size": args.vocab_size,
      "size": result.vocab_size,
      "training_lines": result.num_training_lines,
      "unk_rate_train": result.unk_rate,
      "unk_rate_held_out": held_out_unk,
      "build_wall_sec": round(wall, 1),
  }
  return tokenizer, result.vocab_file, info


def stage_data_timing(args, tokenizer, train_files):
  """create_training_instances with 1 and 2 workers; outputs must agree."""
  _, stats = pretraining.read_documents(train_files, tokenizer,
                                        sentence_split=True)
  rows = []
  outputs = []
  for num_workers in (1, 2):
    start = time.time()
    instances = make_instances(train_files, tokenizer, args,
                               args.timing_dupe_factor, args.random_seed,
                               num_workers=num_workers)
    wall = time.time() - start
    outputs.append(instances)
    rows.append({
        "num_workers": num_workers,
        "instances": len(instances),
        "wall_sec": round(wall, 2),
        "instances_per_sec": round(len(instances) / wall, 1),
        "documents_per_sec": round(
            stats.num_documents * args.timing_dupe_factor / wall, 2),
    })
    log("data: num_workers=%d: %d instances in %.1fs", num_workers,
        len(instances), wall)
  identical = outputs[0] == outputs[1]
  log("data: outputs with 1 and 2 workers identical: %s", identical)
  if not identical:
    raise AssertionError("create_training_instances gave different outputs "
                         "with num_workers=1 and 2 for the same seed.")
  info = {
      "corpus": {
          "files": stats.num_files, "documents": stats.num_documents,
          "sentences": stats.num_sentences, "tokens": stats.num_tokens,
      },
      "dupe_factor": args.timing_dupe_factor,
      "max_seq_length": args.max_seq_length,
      "runs": rows,
      "outputs_identical": identical,
      "cpu_count": os.cpu_count(),
  }
  return outputs[0], info


def stage_scratch(args, tokenizer, vocab_info, timing_instances, train_files,
                  held_out_file):
  """Training/eval data, then from-scratch pretraining with evaluations."""
  if args.dupe_factor == args.timing_dupe_factor:
    instances = timing_instances
  else:
    start = time.time()
    instances = make_instances(train_files, tokenizer, args, args.dupe_factor,
                               args.random_seed, num_workers=2)
    log("data: %d training instances (dupe_factor %d) in %.1fs",
        len(instances), args.dupe_factor, time.time() - start)
  train_file = os.path.join(args.work_dir, "train.tfrecord")
  num_train = write_records(instances, tokenizer, args, train_file)
  eval_instances = make_instances([held_out_file], tokenizer, args, 1,
                                  args.random_seed + 1)
  if args.max_eval_examples:
    eval_instances = eval_instances[:args.max_eval_examples]
  eval_file = os.path.join(args.work_dir, "held_out.tfrecord")
  num_eval = write_records(eval_instances, tokenizer, args, eval_file)
  log("data: wrote %d training and %d held-out instances", num_train,
      num_eval)

  config_file = os.path.join(args.work_dir, "bert_config.json")
  config = write_bert_config(args, vocab_info["size"], config_file)
  result = train_and_evaluate(
      "scratch", config_file, train_file, eval_file, num_eval,
      eval_steps(args), args.train_batch_size, args.learning_rate, None, args)
  result.update({
      "model": "L-%d H-%d A-%d I-%d" % (args.num_layers, args.hidden_size,
                                        args.num_heads,
                                        args.intermediate_size),
      "bert_config": config,
      "train_instances": num_train,
      "train_dupe_factor": args.dupe_factor,
      "held_out_instances": num_eval,
      "epochs": round(result["steps"] * args.train_batch_size / num_train, 2),
  })
  return result


def stage_minilm(args, train_files, held_out_file):
  """Continued pretraining of the converted shared MiniLM."""
  model_dir = converted_minilm(args.results_dir)
  vocab_file = os.path.join(model_dir, "vocab.txt")
  tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=True)
  start = time.time()
  instances = make_instances(train_files, tokenizer, args,
                             args.minilm_dupe_factor, args.random_seed,
                             num_workers=2)
  train_file = os.path.join(args.work_dir, "minilm_train.tfrecord")
  num_train = write_records(instances, tokenizer, args, train_file)
  eval_instances = make_instances([held_out_file], tokenizer, args, 1,
                                  args.random_seed + 1)
  if args.max_eval_examples:
    eval_instances = eval_instances[:args.max_eval_examples]
  eval_file = os.path.join(args.work_dir, "minilm_held_out.tfrecord")
  num_eval = write_records(eval_instances, tokenizer, args, eval_file)
  log("minilm data: %d training / %d held-out instances in %.1fs", num_train,
      num_eval, time.time() - start)
  result = train_and_evaluate(
      "minilm", os.path.join(model_dir, "bert_config.json"), train_file,
      eval_file, num_eval, [0, args.minilm_steps], args.minilm_batch_size,
      args.minilm_learning_rate, os.path.join(model_dir, "bert_model.ckpt"),
      args)
  result.update({
      "model": "minilm-l6-h384-uncased (converted; fresh cls/ heads)",
      "vocab": "shared uncased vocab (%d entries)" % len(tokenizer.vocab),
      "train_instances": num_train,
      "held_out_instances": num_eval,
  })
  return result


def fmt(value, digits=4):
  return ("%." + str(digits) + "f") % value


def print_tables(record):
  """Markdown tables of the record on stdout."""
  vocab = record["vocab"]
  data = record["data_creation"]
  print("\nSplit: train on %s; evaluate on held-out %s (sentence_split=True, "
        "one document per chapter)." % (", ".join(record["split"]["train"]),
                                         record["split"]["held_out"]))
  print("\n| vocabulary | size | training lines | [UNK] train | "
        "[UNK] held out | build time |")
  print("|---|---|---|---|---|---|")
  print("| %s | %d | %d | %.4f%% | %.4f%% | %.1f s |" % (
      vocab["type"], vocab["size"], vocab["training_lines"],
      100 * vocab["unk_rate_train"], 100 * vocab["unk_rate_held_out"],
      vocab["build_wall_sec"]))

  corpus = data["corpus"]
  print("\nData creation (create_training_instances, %d documents / %d "
        "sentences / %d tokens, dupe_factor %d, seq %d, %d CPU cores; "
        "outputs identical: %s)\n" % (
            corpus["documents"], corpus["sentences"], corpus["tokens"],
            data["dupe_factor"], data["max_seq_length"], data["cpu_count"],
            data["outputs_identical"]))
  print("| num_workers | instances | wall | instances/s | documents/s |")
  print("|---|---|---|---|---|")
  for row in data["runs"]:
    print("| %d | %d | %.1f s | %.1f | %.2f |" % (
        row["num_workers"], row["instances"], row["wall_sec"],
        row["instances_per_sec"], row["documents_per_sec"]))

  for key, title in (("scratch", "From scratch"),
                     ("minilm", "Continued pretraining")):
    run = record.get(key)
    if not run:
      continue
    print("\n%s: %s, %d training instances, batch %d, lr %g, warmup %d, "
          "%.1f train examples/s, training %.0f s\n" % (
              title, run["model"], run["train_instances"],
              run["train_batch_size"], run["learning_rate"],
              run["warmup_steps"], run["train_examples_per_sec"],
              run["train_wall_sec"]))
    print("| step | held-out MLM acc | MLM loss | NSP acc | NSP loss |")
    print("|---|---|---|---|---|")
    for row in run["eval"]:
      print("| %d | %s | %s | %s | %s |" % (
          row["step"], fmt(row["masked_lm_accuracy"]),
          fmt(row["masked_lm_loss"], 3), fmt(row["next_sentence_accuracy"]),
          fmt(row["next_sentence_loss"], 3)))
  print("\nTotal wall time: %.0f s. JSON: %s" % (record["total_wall_sec"],
                                                  record["json"]))


def main(argv=None):
  args = parse_args(argv)
  bert_tf.quiet_tensorflow()
  train_files, held_out_file = corpus_files(args)
  if os.path.exists(args.work_dir):
    shutil.rmtree(args.work_dir)
  os.makedirs(args.work_dir)
  log("train: %s; held out: %s; work dir %s",
      ", ".join(os.path.basename(p) for p in train_files),
      os.path.basename(held_out_file), args.work_dir)

  record = {
      "benchmark": "pretraining",
      "date": time.strftime("%Y-%m-%d"),
      "quick": args.quick,
      "split": {
          "train": [os.path.basename(p) for p in train_files],
          "held_out": os.path.basename(held_out_file),
          "sentence_split": True,
          "unit": "whole novels (documents = chapters)",
      },
      "settings": {k: getattr(args, k) for k in (
          "max_seq_length", "max_predictions_per_seq", "masked_lm_prob",
          "short_seq_prob", "random_seed", "eval_batch_size",
          "warmup_proportion")},
      "machine": "%s, %d cores" % (platform.processor() or platform.machine(),
                                   os.cpu_count()),
      "load_average_start": [round(x, 2) for x in os.getloadavg()],
  }
  record["json"] = args.json
  record["complete"] = False

  def save():
    record["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    record["total_wall_sec"] = round(time.time() - _START, 1)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
      json.dump(record, f, indent=2)

  # The JSON is rewritten after every stage ("complete" turns true at the end).
  tokenizer, _, record["vocab"] = stage_vocab(args, train_files,
                                              held_out_file)
  timing_instances, record["data_creation"] = stage_data_timing(
      args, tokenizer, train_files)
  save()
  if args.train_steps > 0:
    record["scratch"] = stage_scratch(args, tokenizer, record["vocab"],
                                      timing_instances, train_files,
                                      held_out_file)
    save()
  if args.minilm_steps > 0:
    record["minilm"] = stage_minilm(args, train_files, held_out_file)
  record["complete"] = True
  save()
  print_tables(record)
  return record


if __name__ == "__main__":
  main()
