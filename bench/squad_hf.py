"""SQuAD v1.1 with Hugging Face transformers + PyTorch on bench/squad.py's split.

  .venv/bin/python bench/squad_hf.py --optimizer=reference_adamw   # matched
  .venv/bin/python bench/squad_hf.py --learning_rate=1e-4          # HF-style

The framework check for `bench/squad.py`: the same shared MiniLM (loaded from
its Hugging Face files, not converted), the same article split, the same
windows (this project's feature conversion, whose span mapping the tests
check by hand) and the same recipe (seq 256, stride 128, batch 16, 2 epochs,
lr 3e-5, linear warm-up over 10% then linear decay, global-norm clipping at
1.0, weight decay 0.01 off biases and LayerNorm), trained by
`BertForQuestionAnswering` with `torch.optim.AdamW` (bias-corrected) and
HF's linear schedule or, with `--optimizer=reference_adamw`, BERT's AdamW
update (no bias correction) and BERT's schedule, written here in torch
(tests/test_parity.py checks that such a run follows bert_tf's
losses step by step with dropout off); scored by the same post-processing and
official-equivalent evaluation. Model, loss, optimizer and training loop are
independent of bert_tf; only the windows and the scoring are shared.

The example stream is a fresh full permutation of the windows every epoch
(`--shuffle_buffer=0`, the default here) or, with `--shuffle_buffer=100`,
tf.data's buffered shuffle of the file order as bert_tf and the reference
read their TFRecord. `--random_seed` seeds torch (head initialisation,
dropout) and the example order; `--no_dropout` turns dropout off.

Prints a table and writes JSON (bench/results/squad-hf.json).
"""

import json
import os
import random
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from squad import SHARED, recipe_parser, save_and_print, split_by_article  # pylint: disable=g-import-not-at-top,wrong-import-position

from bert_tf import tokenization  # pylint: disable=g-import-not-at-top
from bert_tf.tasks import squad as squad_lib
from bert_tf.tasks import squad_eval


def make_features(examples, tokenizer, args, is_training):
  features = []
  squad_lib.convert_examples_to_features(
      examples=examples, tokenizer=tokenizer,
      max_seq_length=args.max_seq_length, doc_stride=args.doc_stride,
      max_query_length=args.max_query_length, is_training=is_training,
      output_fn=features.append)
  return features


def as_tensors(torch, features, is_training):
  out = {
      "input_ids": torch.tensor([f.input_ids for f in features]),
      "attention_mask": torch.tensor([f.input_mask for f in features]),
      "token_type_ids": torch.tensor([f.segment_ids for f in features]),
  }
  if is_training:
    out["start_positions"] = torch.tensor([f.start_position for f in features])
    out["end_positions"] = torch.tensor([f.end_position for f in features])
  return out


def example_stream(n, shuffle_buffer, rng):
  """Yields record indices 0..n-1, epoch after epoch, shuffled.

  shuffle_buffer <= 0: a fresh full permutation every epoch. Otherwise
  tf.data's buffered shuffle, as bert_tf (and the reference) read their
  TFRecord: each epoch streams the records in file order through a buffer
  of that many, emitting a uniformly chosen buffered record and putting the
  next one in its place; the buffer drains at the end of the epoch. Batches
  are cut from the stream and may span two epochs, as after `repeat()`.
  """
  while True:
    if shuffle_buffer <= 0:
      order = list(range(n))
      rng.shuffle(order)
      yield from order
      continue
    buffer = []
    for i in range(n):
      if len(buffer) < shuffle_buffer:
        buffer.append(i)
        continue
      j = rng.randrange(len(buffer))
      yield buffer[j]
      buffer[j] = i
    while buffer:
      yield buffer.pop(rng.randrange(len(buffer)))


def reference_adamw(torch):
  """The BERT paper's AdamW update as a torch optimizer class.

  Per parameter p with gradient g: m = 0.9 m + 0.1 g; v = 0.999 v + 0.001 g^2;
  u = m / (sqrt(v) + 1e-6) (+ weight_decay * p where decayed); p -= lr * u.
  No bias correction, so early updates are larger than torch's AdamW's.
  """

  class ReferenceAdamW(torch.optim.Optimizer):

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-6,
                 weight_decay=0.0):
      super().__init__(params, dict(lr=lr, betas=betas, eps=eps,
                                    weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):  # pylint: disable=unused-argument
      for group in self.param_groups:
        b1, b2 = group["betas"]
        for p in group["params"]:
          if p.grad is None:
            continue
          state = self.state[p]
          if not state:
            state["m"] = torch.zeros_like(p)
            state["v"] = torch.zeros_like(p)
          m, v = state["m"], state["v"]
          m.mul_(b1).add_(p.grad, alpha=1 - b1)
          v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
          update = m / (v.sqrt() + group["eps"])
          if group["weight_decay"]:
            update.add_(p, alpha=group["weight_decay"])
          p.add_(update, alpha=-group["lr"])

  return ReferenceAdamW


NO_DECAY = ("bias", "LayerNorm.weight", "LayerNorm.bias")


def bert_param_groups(model, weight_decay=0.01):
  """torch parameter groups with BERT's weight-decay exclusions."""
  named = list(model.named_parameters())
  return [
      {"params": [p for n, p in named if not any(k in n for k in NO_DECAY)],
       "weight_decay": weight_decay},
      {"params": [p for n, p in named if any(k in n for k in NO_DECAY)],
       "weight_decay": 0.0}]


def reference_optimizer(torch, model, lr):
  """BERT's AdamW update over `model` with its weight-decay exclusions."""
  return reference_adamw(torch)(bert_param_groups(model), lr=lr)


def clipped_update(torch, model, optimizer, loss):
  """One update as BERT's: backward, clip the global norm to 1.0, step."""
  loss.backward()
  torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
  optimizer.step()
  optimizer.zero_grad()


def initial_head(model_dir, weights_name, bias_name, timeout=1800):
  """The (weights, bias) numpy arrays of bert_tf's head before training.

  Reads them from `model_dir/model.ckpt-0` (the estimator saves it when
  training starts), waiting up to `timeout` seconds for a bert_tf run
  started beside this one to write it. The reference's heads keep the
  weights as [num_outputs, hidden], the layout of a torch Linear's weight.
  """
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  prefix = os.path.join(model_dir, "model.ckpt-0")
  deadline = time.time() + timeout
  while not os.path.exists(prefix + ".index"):
    if time.time() > deadline:
      raise SystemExit("no %s.index after %d s: is the bert_tf run "
                       "writing to %s?" % (prefix, timeout, model_dir))
    time.sleep(5)
  time.sleep(5)  # the data file is written before the index; settle anyway
  reader = tf.train.load_checkpoint(prefix)
  return reader.get_tensor(weights_name), reader.get_tensor(bias_name)


def copy_head(torch, linear, weights, bias):
  """Sets a torch Linear to bert_tf's head ([out, hidden] weights, [out])."""
  with torch.no_grad():
    linear.weight.copy_(torch.from_numpy(weights))
    linear.bias.copy_(torch.from_numpy(bias))


def bert_learning_rate(lr, step, num_warmup, num_train):
  """BERT's schedule at `step`: linear warm-up, then linear decay to 0."""
  if step < num_warmup:
    return lr * step / num_warmup
  return lr * (1.0 - step / num_train)


def add_hf_arguments(parser):
  """The training options of the HF benchmarks (squad_hf, glue_hf)."""
  parser.add_argument("--threads", type=int, default=0,
                      help="torch threads (0: one per core)")
  parser.add_argument(
      "--init_head_from", default=None,
      help="a bert_tf model_dir: start from its head at step 0 "
           "(model.ckpt-0; waits for a run started beside this one), so "
           "that both sides start from the same weights")
  parser.add_argument(
      "--perturb", type=float, default=0.0,
      help="multiply every weight by (1 + perturb * N(0, 1)) before "
           "training: 1e-7 is float32 rounding (a control run: how far two "
           "runs of one framework part from rounding alone)")
  parser.add_argument(
      "--attn_implementation", default="sdpa", choices=("sdpa", "eager"),
      help="HF's attention kernel: the same arithmetic in another order "
           "(a control run for how far rounding alone parts two runs)")
  parser.add_argument(
      "--train_pad_embedding", action="store_true",
      help="let the [PAD] row of the word embeddings learn, as in the "
           "reference (HF's nn.Embedding(padding_idx=0) gives it no "
           "gradient; it gets one wherever padded positions reach the loss, "
           "as SQuAD's span logits do)")
  parser.add_argument(
      "--stop_after_steps", type=int, default=0,
      help="train only the first N steps of the full schedule (0: all)")
  parser.add_argument(
      "--optimizer", choices=("torch_adamw", "reference_adamw"),
      default="torch_adamw",
      help="torch.optim.AdamW (bias-corrected moments), or the BERT "
           "reference's AdamW update (no bias correction), written here in "
           "torch")


def optimizer_and_schedule(torch, transformers, model, name, lr, num_warmup,
                           num_steps):
  """(optimizer, scheduler) over `model` with BERT's weight-decay exclusions.

  name: "torch_adamw" (torch.optim.AdamW, eps 1e-6, and HF's linear
  schedule) or "reference_adamw" (BERT's update and schedule).
  """
  groups = bert_param_groups(model)
  if name == "torch_adamw":
    optimizer = torch.optim.AdamW(groups, lr=lr, eps=1e-6)
    return optimizer, transformers.get_linear_schedule_with_warmup(
        optimizer, num_warmup, num_steps)
  optimizer = reference_adamw(torch)(groups, lr=lr)
  # The reference's schedule too: the linear decay runs from step 0
  # (1 - t / T), and warm-up (t / W) replaces it for t < W.
  return optimizer, torch.optim.lr_scheduler.LambdaLR(
      optimizer, lambda t: t / num_warmup if t < num_warmup else
      max(0.0, 1.0 - t / num_steps))


def prepare_start(torch, model, args):
  """The options of add_hf_arguments that change the model before training."""
  if args.train_pad_embedding:
    model.bert.embeddings.word_embeddings.padding_idx = None
  if args.perturb:
    perturb_weights(torch, model, args.perturb, args.random_seed)


def perturb_weights(torch, model, scale, seed):
  """Multiplies every parameter by 1 + scale * N(0, 1), from its own seed."""
  generator = torch.Generator().manual_seed(seed + 1)
  with torch.no_grad():
    for p in model.parameters():
      p.mul_(1.0 + scale * torch.randn(p.shape, generator=generator))


def fine_tune(torch, model, optimizer, scheduler, tensors, stream, num_steps,
              batch_size, log_every=20, stop_after=0):
  """Trains `model` for `num_steps` clipped updates (global norm 1.0).

  With `stop_after` > 0 only the first `stop_after` steps of that schedule
  run.

  Each batch holds the next `batch_size` record indices of `stream`, taken
  from `tensors` (dict name -> tensor indexed by record); the model's loss
  is the step's loss, printed every `log_every` steps. Returns (the losses
  of every step, wall seconds).
  """
  model.train()
  start = time.time()
  losses = []
  for step in range(min(stop_after or num_steps, num_steps)):
    idx = torch.tensor([next(stream) for _ in range(batch_size)])
    batch = {k: v[idx] for k, v in tensors.items()}
    loss = model(**batch).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    losses.append(loss.item())
    if (step + 1) % log_every == 0 or step + 1 == num_steps:
      elapsed = time.time() - start
      rate = (step + 1) * batch_size / elapsed
      print("step %d/%d loss %.3f (mean of last 20 %.3f) %.2f ex/s ETA %.0f s"
            % (step + 1, num_steps, losses[-1], np.mean(losses[-20:]), rate,
               (num_steps - step - 1) * batch_size / rate), flush=True)
  return losses, time.time() - start


def training_record(args, losses, train_wall):
  """The training entries of an HF benchmark's JSON record."""
  return {
      "first_20_loss": float(np.mean(losses[:20])),
      "last_20_loss": float(np.mean(losses[-20:])),
      "losses": losses,
      "init_head_from": args.init_head_from,
      "perturb": args.perturb,
      "attn_implementation": args.attn_implementation,
      "train_pad_embedding": args.train_pad_embedding,
      "stop_after_steps": args.stop_after_steps,
      "train_examples_per_sec": round(len(losses) * args.train_batch_size /
                                      train_wall, 3),
      "train_wall_sec": round(train_wall, 1),
  }


def main():
  parser = recipe_parser(__doc__)
  parser.add_argument("--predict_batch_size", type=int, default=32)
  parser.add_argument("--warmup_proportion", type=float, default=0.1)
  add_hf_arguments(parser)
  parser.add_argument("--work_name", default=None,
                      help="subdirectory of --results_dir for this run")
  parser.add_argument(
      "--shuffle_buffer", type=int, default=0,
      help="0: a full permutation of the windows every epoch; N > 0: "
           "tf.data's buffered shuffle with N records, as bert_tf reads its "
           "TFRecord (bench/squad.py's default 100 is the reference's)")
  args = parser.parse_args()

  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(args.threads or os.cpu_count())
  torch.manual_seed(args.random_seed)
  rng = random.Random(args.random_seed)

  work = os.path.join(args.results_dir, args.work_name or (
      "squad-hf-quick" if args.quick else "squad-hf"))
  os.makedirs(work, exist_ok=True)
  paths, train_titles, dev_titles, n_train, n_dev = split_by_article(
      os.path.join(SHARED, "data", "squad", "dev-v1.1-part-a.json"), work,
      2 if args.quick else args.num_train_articles,
      max_articles=4 if args.quick else None)
  hf_dir = os.path.join(SHARED, "models", "minilm-l6-h384-uncased")
  tokenizer = tokenization.FullTokenizer(
      os.path.join(hf_dir, "vocab.txt"), do_lower_case=True)

  train_examples = squad_lib.read_squad_examples(paths["train"], True)
  rng.shuffle(train_examples)
  train_features = make_features(train_examples, tokenizer, args, True)
  eval_examples = squad_lib.read_squad_examples(paths["dev"], False)
  eval_features = make_features(eval_examples, tokenizer, args, False)
  num_epochs = 0.05 if args.quick else args.num_train_epochs
  # As bert_tf (and the reference): steps from the number of questions.
  num_steps = max(1, int(len(train_examples) / args.train_batch_size *
                         num_epochs))
  num_warmup = int(num_steps * args.warmup_proportion)
  print("train: %d questions, %d windows; dev: %d questions, %d windows; "
        "%d steps (%d warm-up)" % (len(train_examples), len(train_features),
                                   len(eval_examples), len(eval_features),
                                   num_steps, num_warmup))

  dropout = {}
  if args.no_dropout:
    dropout = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
  model = transformers.BertForQuestionAnswering.from_pretrained(
      hf_dir, attn_implementation=args.attn_implementation, **dropout)
  if args.init_head_from:
    copy_head(torch, model.qa_outputs, *initial_head(
        args.init_head_from, "cls/squad/output_weights",
        "cls/squad/output_bias"))
  prepare_start(torch, model, args)
  optimizer, scheduler = optimizer_and_schedule(
      torch, transformers, model, args.optimizer, args.learning_rate,
      num_warmup, num_steps)
  losses, train_wall = fine_tune(
      torch, model, optimizer, scheduler,
      as_tensors(torch, train_features, True),
      example_stream(len(train_features), args.shuffle_buffer, rng),
      num_steps, args.train_batch_size, stop_after=args.stop_after_steps)

  model.eval()
  feats = as_tensors(torch, eval_features, False)
  results = []
  start = time.time()
  with torch.inference_mode():
    for i in range(0, len(eval_features), args.predict_batch_size):
      out = model(**{k: v[i:i + args.predict_batch_size]
                     for k, v in feats.items()})
      for j, f in enumerate(eval_features[i:i + args.predict_batch_size]):
        results.append(squad_lib.RawResult(
            unique_id=f.unique_id,
            start_logits=out.start_logits[j].tolist(),
            end_logits=out.end_logits[j].tolist()))
  predict_wall = time.time() - start
  predictions, _, _ = squad_lib.write_predictions(
      eval_examples, eval_features, results, 20, 30, True,
      os.path.join(work, "predictions.json"),
      os.path.join(work, "nbest_predictions.json"))
  with open(paths["dev"], encoding="utf-8") as f:
    metrics = squad_eval.evaluate_v1(json.load(f), predictions)

  record = {
      "benchmark": "squad_v1.1_hf",
      "date": time.strftime("%Y-%m-%d"),
      "framework": "transformers %s + torch %s" % (transformers.__version__,
                                                   torch.__version__),
      "model": "minilm-l6-h384-uncased (Hugging Face files)",
      "split": {"train_articles": train_titles, "dev_articles": dev_titles,
                "train_questions": n_train, "dev_questions": n_dev},
      "recipe": {k: getattr(args, k) for k in (
          "max_seq_length", "doc_stride", "max_query_length",
          "train_batch_size", "learning_rate", "warmup_proportion",
          "random_seed", "optimizer", "shuffle_buffer", "no_dropout")},
      "num_train_epochs": num_epochs,
      "num_train_steps": num_steps,
      "exact_match": metrics["exact_match"],
      "f1": metrics["f1"],
      **training_record(args, losses, train_wall),
      "predict_features_per_sec": round(len(eval_features) / predict_wall, 2),
  }
  path = args.json or os.path.join(
      args.results_dir, "squad-hf%s.json" % ("-quick" if args.quick else ""))
  save_and_print(path, record, [
      ("framework", "HF PyTorch"), ("optimizer", args.optimizer),
      ("train q", n_train), ("dev q", n_dev), ("epochs", "%g" % num_epochs),
      ("steps", num_steps), ("lr", "%g" % args.learning_rate),
      ("shuffle", args.shuffle_buffer or "full"),
      ("dropout", "off" if args.no_dropout else "on"),
      ("seed", args.random_seed),
      ("EM", "%.2f" % record["exact_match"]), ("F1", "%.2f" % record["f1"]),
      ("loss first/last 20", "%.2f / %.2f" % (record["first_20_loss"],
                                              record["last_20_loss"])),
      ("train ex/s", "%.2f" % record["train_examples_per_sec"]),
      ("predict feat/s", "%.1f" % record["predict_features_per_sec"])])

if __name__ == "__main__":
  main()
