"""The demo's closing summary: metrics, where every output is, what next."""

import os

from bert_tf import runtime
from bert_tf.demo import console


def _display(path):
  """`path` relative to the working directory when that is shorter."""
  relative = os.path.relpath(path)
  return relative if len(relative) < len(path) else path


def print_summary(cfg, summary):
  """The closing lines: metrics, where things are, what to try next."""
  say = console.say
  paths = summary["paths"]
  say()
  say("=" * 78)
  say("Demo finished in %s (%s)." % (
      runtime.format_seconds(summary["wall_seconds"]),
      ", ".join("%s %ss" % kv for kv in summary["stage_seconds"].items())))
  if "pretrain" in summary:
    say("  Pretraining, held-out sentences: masked-LM accuracy %.3f, "
        "next-sentence accuracy %.3f" % (
             summary["pretrain"]["masked_lm_accuracy"],
             summary["pretrain"]["next_sentence_accuracy"]))
  data = summary["finetune_data"]
  say("  Which-topic task (%d groups), %d held-out sentences: accuracy "
      "%.3f, macro F1 %.3f, MCC %.3f" % (
           len(data["labels"]), data["dev_sentences"],
           summary["finetune"]["eval_accuracy"],
           summary["served"]["macro_f1"], summary["finetune"]["mcc"]))
  say("  (chance %.3f; always answering the largest group %.3f)" % (
      1.0 / len(data["labels"]), data["dev_majority_baseline"]))
  if "finetune_scratch" in summary:
    say("  The same fine-tuning from random weights: accuracy %.3f, MCC %.3f"
        % (summary["finetune_scratch"]["eval_accuracy"],
           summary["finetune_scratch"]["mcc"]))
  if cfg.quick:
    say("  --quick: a few steps per stage; the numbers mean nothing.")
  say("Outputs:")
  for key, label in (("corpus_dir", "corpus (sentences, topic groups)"),
                     ("vocab_file", "vocabulary"),
                     ("pretraining_data_dir", "pretraining TFRecords"),
                     ("pretrain_dir", "pretrained BERT (checkpoints)"),
                     ("minilm_checkpoint_dir", "converted MiniLM"),
                     ("finetune_data_dir", "task TSVs (train, dev)"),
                     ("finetune_dir", "fine-tuned model, eval_results.txt"),
                     ("finetune_scratch_dir", "the same from random weights"),
                     ("saved_model", "SavedModel"),
                     ("predictions_file", "answers from the SavedModel"),
                     ("plots_dir", "plots (PNG)"),
                     ("summary_file", "this summary (JSON)")):
    if key in paths:
      say("  %-36s %s" % (label, _display(paths[key])))
  say("Next:")
  say("  tensorboard --logdir %s" % _display(os.path.abspath(
      cfg.output_dir)))
  say("  python -m bert_tf.plots --model_dir=%s" % _display(
      paths["finetune_dir"]))
  say("  python -m bert_tf.predictor --export_dir=%s --input_file=FILE.txt" %
      _display(paths["export_dir"]))
  if "pretrain_dir" in paths:
    say("  # your own labelled TSV (columns: label, sentence) on the "
        "demo's BERT:")
    say("  python run_classifier.py --task_name=generic --do_train "
        "--do_eval --data_dir=DIR --text_a_column=sentence "
        "--label_column=label --vocab_file=%s --bert_config_file=%s "
        "--init_checkpoint=%s --max_seq_length=%d --output_dir=/tmp/my_task"
        % (_display(paths["vocab_file"]),
           _display(os.path.join(paths["pretrain_dir"], "bert_config.json")),
           _display(paths["pretrain_dir"]), cfg.max_seq_length))
  if (not cfg.from_minilm and cfg.minilm_dir and
      os.path.isdir(cfg.minilm_dir)):
    say("  python -m bert_tf.demo --from_minilm   # the same task from the "
        "pretrained MiniLM in %s" % cfg.minilm_dir)
  say("=" * 78)
