"""GLUE (MRPC) with Hugging Face transformers + PyTorch on bert_tf's features.

  .venv/bin/python bench/glue_hf.py --optimizer=reference_adamw   # matched
  .venv/bin/python bench/glue_hf.py --task=sst-2 --max_train_examples=8000

The framework check for `bench/glue_finetune.py`: the same shared MiniLM
(loaded from its Hugging Face files, not converted) fine-tuned by
`BertForSequenceClassification` on the same features (bert_tf's GLUE
processor and `convert_single_example`: the ids, mask and segments bert_tf
writes to its training TFRecord, in the same order), with the same recipe
(seq 128, batch 32, 3 epochs, lr 5e-5, linear warm-up over 10% then linear
decay, steps int(examples / batch x epochs) as bert_tf counts them,
global-norm clipping at 1.0, weight decay 0.01 off biases and LayerNorm).
The update is `torch.optim.AdamW` (bias-corrected) with HF's linear schedule
or, with `--optimizer=reference_adamw`, BERT's AdamW update and schedule
written in torch (bench/squad_hf.py's). Scored on the whole dev set with
bert_tf's classifier definitions: accuracy, the task's metrics (MRPC: F1 of
class "1") and the mean per-example cross-entropy.

The example stream is bench/squad_hf.py's: tf.data's buffered shuffle of the
file order with `--shuffle_buffer` records (100, the reference's, by
default; 1 is the file order every epoch, 0 a full permutation every epoch).
`--random_seed` seeds torch (head initialisation, dropout) and the example
order; `--no_dropout` turns dropout off (the classifier head's too);
`--init_head_from=<bert_tf model_dir>` starts from bert_tf's head
(`output_weights`, `output_bias` of its model.ckpt-0), as
bench/whole_run_parity.py runs it.

Prints a table and writes JSON (bench/results/<task>-hf.json) with the
per-step "losses" and glue_finetune's score keys (dev_accuracy, dev_f1,
dev_loss).
"""

import os
import random
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from glue_finetune import SHARED, TASK_DIRS, recipe_parser  # pylint: disable=g-import-not-at-top,wrong-import-position
from squad import save_and_print  # pylint: disable=g-import-not-at-top,wrong-import-position
import squad_hf  # pylint: disable=g-import-not-at-top,wrong-import-position

from bert_tf import driver  # pylint: disable=g-import-not-at-top
from bert_tf import tokenization
from bert_tf.tasks import classifier
from bert_tf.tasks import glue

HF_MODEL = os.path.join(SHARED, "models", "minilm-l6-h384-uncased")


def features_of(examples, label_list, max_seq_length, tokenizer):
  """The classifier features bert_tf writes for `examples`, in order."""
  return [classifier.convert_single_example(i, example, label_list,
                                            max_seq_length, tokenizer)
          for i, example in enumerate(examples)]


def as_tensors(torch, features):
  return {
      "input_ids": torch.tensor([f.input_ids for f in features]),
      "attention_mask": torch.tensor([f.input_mask for f in features]),
      "token_type_ids": torch.tensor([f.segment_ids for f in features]),
      "labels": torch.tensor([f.label_id for f in features]),
  }


def evaluate(torch, model, processor, features, batch_size):
  """Dev metrics as bert_tf's classifier evaluation defines them.

  Returns (dict with eval_accuracy, eval_loss (mean per-example
  cross-entropy) and the task's other metrics, e.g. f1; the probabilities
  [n, num_labels]).
  """
  model.eval()
  tensors = as_tensors(torch, features)
  labels = tensors.pop("labels")
  logits = []
  with torch.inference_mode():
    for i in range(0, len(features), batch_size):
      logits.append(model(**{k: v[i:i + batch_size]
                             for k, v in tensors.items()}).logits)
  logits = torch.cat(logits)
  log_probs = torch.log_softmax(logits, dim=-1)
  per_example_loss = -log_probs.gather(1, labels[:, None])[:, 0]
  scores = glue.compute_metrics(processor, logits.argmax(-1).numpy(),
                                labels.numpy())
  metrics = {"eval_accuracy": scores.pop("accuracy"),
             "eval_loss": float(per_example_loss.mean())}
  metrics.update(scores)
  return metrics, log_probs.exp().numpy()


def main():
  parser = recipe_parser(__doc__)
  squad_hf.add_hf_arguments(parser)
  parser.add_argument("--eval_batch_size", type=int, default=32)
  args = parser.parse_args()

  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(args.threads or os.cpu_count())
  torch.manual_seed(args.random_seed)
  rng = random.Random(args.random_seed)

  work = os.path.join(args.results_dir, args.work_name or args.task + "-hf")
  os.makedirs(work, exist_ok=True)
  data_dir = os.path.join(SHARED, "data", "glue", TASK_DIRS[args.task])
  processor = glue.get_processor(args.task)
  label_list = processor.get_labels()
  tokenizer = tokenization.FullTokenizer(
      os.path.join(HF_MODEL, "vocab.txt"), do_lower_case=True)
  train_examples = processor.get_train_examples(data_dir)
  if args.max_train_examples:
    # glue_finetune's subset: the first N rows of train.tsv.
    train_examples = train_examples[:args.max_train_examples]
  dev_examples = processor.get_dev_examples(data_dir)
  train_features = features_of(train_examples, label_list,
                               args.max_seq_length, tokenizer)
  dev_features = features_of(dev_examples, label_list, args.max_seq_length,
                             tokenizer)
  num_steps = driver.train_steps(len(train_examples), args.num_train_epochs,
                                 args.train_batch_size)
  num_warmup = int(num_steps * args.warmup_proportion)
  print("train: %d examples; dev: %d; %d steps (%d warm-up)" % (
      len(train_examples), len(dev_examples), num_steps, num_warmup))

  dropout = {}
  if args.no_dropout:
    dropout = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                   classifier_dropout=0.0)
  model = transformers.BertForSequenceClassification.from_pretrained(
      HF_MODEL, num_labels=len(label_list),
      attn_implementation=args.attn_implementation, **dropout)
  if args.init_head_from:
    # bert_tf's classifier head (heads.create_classification_output): the
    # reference's top-level output_weights [num_labels, hidden], output_bias.
    squad_hf.copy_head(torch, model.classifier, *squad_hf.initial_head(
        args.init_head_from, "output_weights", "output_bias"))
  squad_hf.prepare_start(torch, model, args)
  optimizer, scheduler = squad_hf.optimizer_and_schedule(
      torch, transformers, model, args.optimizer, args.learning_rate,
      num_warmup, num_steps)
  losses, train_wall = squad_hf.fine_tune(
      torch, model, optimizer, scheduler,
      as_tensors(torch, train_features),
      squad_hf.example_stream(len(train_features), args.shuffle_buffer, rng),
      num_steps, args.train_batch_size, args.log_every_n_steps,
      stop_after=args.stop_after_steps)

  start = time.time()
  metrics, probabilities = evaluate(torch, model, processor, dev_features,
                                    args.eval_batch_size)
  eval_wall = time.time() - start
  with open(os.path.join(work, "dev_probabilities.tsv"), "w") as f:
    f.writelines("\t".join("%.8f" % p for p in row) + "\n"
                 for row in probabilities)

  record = {
      "benchmark": "glue_hf",
      "task": args.task,
      "date": time.strftime("%Y-%m-%d"),
      "framework": "transformers %s + torch %s" % (transformers.__version__,
                                                   torch.__version__),
      "model": "minilm-l6-h384-uncased (Hugging Face files)",
      "train_examples": len(train_examples),
      "recipe": {k: getattr(args, k) for k in (
          "learning_rate", "num_train_epochs", "train_batch_size",
          "max_seq_length", "warmup_proportion", "random_seed", "optimizer",
          "shuffle_buffer", "no_dropout")},
      "num_train_steps": num_steps,
      "dev_accuracy": metrics["eval_accuracy"],
      "dev_f1": metrics.get("f1"),
      "dev_loss": metrics["eval_loss"],
      **squad_hf.training_record(args, losses, train_wall),
      "eval_wall_sec": round(eval_wall, 1),
  }
  path = args.json or os.path.join(args.results_dir, args.task + "-hf.json")
  save_and_print(path, record, [
      ("framework", "HF PyTorch"), ("task", args.task),
      ("optimizer", args.optimizer), ("train ex", len(train_examples)),
      ("epochs", "%g" % args.num_train_epochs), ("steps", num_steps),
      ("lr", "%g" % args.learning_rate),
      ("shuffle", args.shuffle_buffer or "full"),
      ("dropout", "off" if args.no_dropout else "on"),
      ("seed", args.random_seed),
      ("dev acc", "%.4f" % record["dev_accuracy"]),
      ("dev F1", "%.4f" % record["dev_f1"]
       if record["dev_f1"] is not None else "-"),
      ("dev loss", "%.4f" % record["dev_loss"]),
      ("loss first/last 20", "%.3f / %.3f" % (record["first_20_loss"],
                                              record["last_20_loss"])),
      ("train ex/s", "%.2f" % record["train_examples_per_sec"])])


if __name__ == "__main__":
  main()
