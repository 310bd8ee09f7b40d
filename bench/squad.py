"""Accuracy benchmark: SQuAD v1.1 fine-tuning of the converted shared MiniLM.

  .venv/bin/python bench/squad.py                 # defaults below
  .venv/bin/python bench/squad.py --quick         # a smoke run

Split (by article, so no context is shared): ../shared/data/squad/
dev-v1.1-part-a.json holds 24 articles; the first 12 (in file order) are the
training part, the last 12 the evaluation part. Training uses the first gold
answer of each question (as SQuAD training data has one); evaluation scores
against all three gold answers with the official v1.1 definitions.
Prints a table and writes JSON.
"""

import argparse
import json
import os
import platform
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bert_tf import convert  # pylint: disable=g-import-not-at-top
from bert_tf.tasks import squad_runner

SHARED = os.environ.get("BERT_TF_SHARED", os.path.join(os.path.dirname(ROOT),
                                                        "shared"))


def split_by_article(source, out_dir, num_train_articles, max_articles=None):
  with open(source, encoding="utf-8") as f:
    dataset = json.load(f)
  articles = dataset["data"]
  if max_articles:
    articles = articles[:max_articles]
  train = articles[:num_train_articles]
  dev = articles[num_train_articles:]
  train_one = []
  for article in train:
    paragraphs = []
    for p in article["paragraphs"]:
      qas = [dict(q, answers=q["answers"][:1]) for q in p["qas"]]
      paragraphs.append(dict(p, qas=qas))
    train_one.append(dict(article, paragraphs=paragraphs))
  paths = {}
  for name, arts in (("train", train_one), ("dev", dev)):
    path = os.path.join(out_dir, "squad-%s.json" % name)
    with open(path, "w", encoding="utf-8") as f:
      json.dump({"version": dataset.get("version", "1.1"), "data": arts}, f)
    paths[name] = path
  count = lambda arts: sum(len(p["qas"]) for a in arts for p in a["paragraphs"])
  return (paths, [a["title"] for a in train], [a["title"] for a in dev],
          count(train), count(dev))


def save_and_print(path, record, cells):
  """Writes `record` as JSON to `path`; prints `cells` [(name, value)] as a
  one-row Markdown table and the path."""
  with open(path, "w") as f:
    json.dump(record, f, indent=2)
  print("\n| %s |" % " | ".join(name for name, _ in cells))
  print("|%s" % ("---|" * len(cells)))
  print("| %s |" % " | ".join(str(value) for _, value in cells))
  print("JSON: " + path)


def no_dropout_config(bert_config_file, out_dir):
  """Writes a copy of a bert_config.json with every dropout off (encoder,
  attention and the classifier head's) to `out_dir`; returns its path."""
  with open(bert_config_file) as f:
    config = json.load(f)
  config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                classifier_dropout=0.0)
  path = os.path.join(out_dir, "bert_config_no_dropout.json")
  with open(path, "w") as f:
    json.dump(config, f, indent=2)
  return path


def hf_initial_span_head(seed):
  """HF's initial `qa_outputs` (weights [2, H], bias [2]) for a seed.

  bench/squad_hf.py calls `torch.manual_seed(seed)` and then
  `from_pretrained`, which draws the missing span head; this repeats it.
  """
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  torch.manual_seed(seed)
  model = transformers.BertForQuestionAnswering.from_pretrained(
      os.path.join(SHARED, "models", "minilm-l6-h384-uncased"))
  return (model.qa_outputs.weight.detach().numpy().copy(),
          model.qa_outputs.bias.detach().numpy().copy())


def recipe_parser(description):
  """The split and recipe arguments shared with bench/squad_hf.py."""
  parser = argparse.ArgumentParser(description=description)
  parser.add_argument("--max_seq_length", type=int, default=256)
  parser.add_argument("--doc_stride", type=int, default=128)
  parser.add_argument("--max_query_length", type=int, default=64)
  parser.add_argument("--train_batch_size", type=int, default=16)
  parser.add_argument("--learning_rate", type=float, default=3e-5)
  parser.add_argument("--num_train_epochs", type=float, default=2.0)
  parser.add_argument("--num_train_articles", type=int, default=12)
  parser.add_argument("--random_seed", type=int, default=12345)
  parser.add_argument("--no_dropout", action="store_true",
                      help="dropout off (hidden and attention) in training")
  parser.add_argument("--quick", action="store_true",
                      help="4 articles, tiny training: a smoke run")
  parser.add_argument("--results_dir", default=os.path.join(ROOT, "bench",
                                                            "results"))
  parser.add_argument("--json", default=None)
  return parser


def add_optimizer_type(parser):
  """bert_tf's --optimizer_type, for its benchmark scripts."""
  parser.add_argument(
      "--optimizer_type", default="adamw",
      choices=("adamw", "adamw_bias_corrected", "lamb"),
      help="bert_tf's --optimizer_type: adamw (the reference's update, no "
           "bias correction) or adamw_bias_corrected (torch's AdamW)")


def main():
  parser = recipe_parser(__doc__)
  parser.add_argument(
      "--shuffle_buffer", type=int, default=100,
      help="training records in the shuffle buffer: 100 as the reference; 0 "
           "a full permutation every epoch")
  parser.add_argument("--work_name", default=None,
                      help="subdirectory of --results_dir for this run")
  parser.add_argument(
      "--log_every_n_steps", type=int, default=20,
      help="step log and loss summaries every N steps (1: the whole loss "
           "curve, as bench/whole_run_parity.py reads it)")
  parser.add_argument(
      "--hf_head", action="store_true",
      help="start from Hugging Face's own initial span head for "
           "--random_seed (bench/squad_hf.py's draw: normal, sd 0.02) "
           "instead of the reference's truncated normal")
  parser.add_argument(
      "--head_initializer", choices=("truncated_normal", "normal"),
      default="truncated_normal",
      help="bert_tf's --head_initializer: the distribution its own span "
           "head is drawn from (not with --hf_head)")
  add_optimizer_type(parser)
  args = parser.parse_args()
  if args.hf_head and args.head_initializer != "truncated_normal":
    raise SystemExit("--hf_head starts from HF's drawn head: leave "
                     "--head_initializer out")

  os.makedirs(args.results_dir, exist_ok=True)
  model_dir = os.path.join(args.results_dir, "minilm-google")
  if not os.path.exists(os.path.join(model_dir, "bert_config.json")):
    convert.hf_to_google(
        os.path.join(SHARED, "models", "minilm-l6-h384-uncased"), model_dir)
  work = os.path.join(args.results_dir, args.work_name or (
      "squad-quick" if args.quick else "squad"))
  if os.path.exists(work):
    shutil.rmtree(work)
  os.makedirs(work)
  num_train = 2 if args.quick else args.num_train_articles
  paths, train_titles, dev_titles, n_train, n_dev = split_by_article(
      os.path.join(SHARED, "data", "squad", "dev-v1.1-part-a.json"), work,
      num_train, max_articles=4 if args.quick else None)

  init_checkpoint = os.path.join(model_dir, "bert_model.ckpt")
  if args.hf_head:
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    from ner import checkpoint_with_head  # pylint: disable=g-import-not-at-top
    init_checkpoint = checkpoint_with_head(
        model_dir, *hf_initial_span_head(args.random_seed),
        out=os.path.join(work, "hf-head"),
        names=("cls/squad/output_weights", "cls/squad/output_bias"))
  bert_config_file = os.path.join(model_dir, "bert_config.json")
  if args.no_dropout:
    bert_config_file = no_dropout_config(bert_config_file, work)
  cfg = squad_runner.SquadConfig(
      bert_config_file=bert_config_file,
      vocab_file=os.path.join(model_dir, "vocab.txt"),
      init_checkpoint=init_checkpoint,
      output_dir=os.path.join(work, "model"), train_file=paths["train"],
      predict_file=paths["dev"], do_lower_case=True,
      max_seq_length=args.max_seq_length, doc_stride=args.doc_stride,
      max_query_length=args.max_query_length, do_train=True, do_predict=True,
      do_eval=True, train_batch_size=args.train_batch_size,
      predict_batch_size=32, learning_rate=args.learning_rate,
      num_train_epochs=0.05 if args.quick else args.num_train_epochs,
      save_checkpoints_steps=100000, random_seed=args.random_seed,
      shuffle_buffer=args.shuffle_buffer,
      log_every_n_steps=args.log_every_n_steps,
      optimizer_type=args.optimizer_type,
      head_initializer=args.head_initializer)
  start = time.time()
  result = squad_runner.run(cfg)
  wall = time.time() - start
  record = {
      "benchmark": "squad_v1.1",
      "date": time.strftime("%Y-%m-%d"),
      "model": "minilm-l6-h384-uncased (converted)",
      "split": {"train_articles": train_titles, "dev_articles": dev_titles,
                "train_questions": n_train, "dev_questions": n_dev},
      "recipe": {k: getattr(args, k) for k in (
          "max_seq_length", "doc_stride", "max_query_length",
          "train_batch_size", "learning_rate", "num_train_epochs",
          "random_seed", "shuffle_buffer", "no_dropout", "optimizer_type",
          "hf_head", "head_initializer")},
      "exact_match": result["eval"]["exact_match"],
      "f1": result["eval"]["f1"],
      "train_examples_per_sec": result["train_summary"]["examples_per_sec"],
      "train_wall_sec": result["train_summary"]["wall_sec"],
      "predict_examples_per_sec": result["predict_summary"][
          "examples_per_sec"],
      "total_wall_sec": round(wall, 1),
      "model_dir": cfg.output_dir,
      "machine": "%s, %d cores" % (platform.machine(), os.cpu_count()),
  }
  path = args.json or os.path.join(
      args.results_dir, "squad%s.json" % ("-quick" if args.quick else ""))
  save_and_print(path, record, [
      ("train q", n_train), ("dev q", n_dev), ("seq", args.max_seq_length),
      ("epochs", "%g" % cfg.num_train_epochs),
      ("lr", "%g" % args.learning_rate),
      ("shuffle", args.shuffle_buffer or "full"),
      ("dropout", "off" if args.no_dropout else "on"),
      ("seed", args.random_seed), ("optimizer", args.optimizer_type),
      ("EM", "%.2f" % record["exact_match"]), ("F1", "%.2f" % record["f1"]),
      ("train ex/s", "%.1f" % record["train_examples_per_sec"]),
      ("predict feat/s", "%.1f" % record["predict_examples_per_sec"]),
      ("total time", "%.0f s" % wall)])

if __name__ == "__main__":
  main()
