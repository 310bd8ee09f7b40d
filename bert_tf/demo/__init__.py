"""The newcomer's demo: all of BERT, end to end, on text every Python ships.

  python -m bert_tf.demo [--output_dir=./demo_output] [--quick]
  python -m bert_tf.demo --from_minilm [--minilm_dir=DIR]

No download, no data set, no network: the corpus is the standard library's
`pydoc_data.topics`, the English reference prose that `help("if")`,
`help("yield")` ... print (79 topics, about 465,000 characters). The demo

  1. extracts the prose sentences of every topic (code samples and grammar
     rules are left out). Topics that share sentences (e.g. "if" is a part of
     "compound") are merged into one topic group, named after its largest
     topic, so that no sentence belongs to two groups. A fifth of all
     sentences, chosen by a hash of their text, are held out: the vocabulary,
     the pretraining and the fine-tuning never see them; they only serve for
     evaluation;
  2. builds a WordPiece vocabulary from the training sentences
     (`bert_tf.vocab_builder`);
  3. writes masked-LM / next-sentence pretraining TFRecords, one document per
     topic group, one sentence per line (`bert_tf.tasks.pretraining`);
  4. pretrains a small BERT (2 layers, hidden size 128) from scratch
     (`bert_tf.tasks.pretrainer`), evaluated on the held-out sentences;
  5. fine-tunes it on a task derived from the same corpus: "which part of
     the Python documentation is this sentence from?", a classification of
     single sentences into the 8 largest topic groups (special method names,
     compound statements, built-in types, the debugger, string methods,
     sequence types, format strings, mapping types), run through
     run_classifier's generic task. The labels come from the corpus's own
     structure, not from people: a sentence's label is the topic group its
     text was taken from. Training sentences train, held-out sentences are
     the dev set (chance: 1/8; always answering the largest group: about
     23%);
  6. evaluates on the dev set (accuracy, Matthews correlation) and exports a
     SavedModel;
  7. answers every dev sentence from the SavedModel (the accuracy must agree
     with step 6; macro-averaged F1 is computed from these answers) and
     prints a few with their inputs;
  8. draws the loss, learning-rate and evaluation plots (`bert_tf.plots`).

It takes about 5 minutes on 2 CPU cores (`--quick`, for tests, well under
one). With `--from_minilm`, steps 2-4 are replaced by the converted MiniLM
checkpoint (6 layers, hidden size 384, with its own uncased vocabulary) found
in `--minilm_dir` (default: models/minilm-l6-h384-uncased in the shared
data directory, $BERT_TF_SHARED or the `shared` directory beside the
repository checkout; see `config`), which is then fine-tuned on the same
task; the outputs get a "_minilm" suffix, so both runs can sit side by side.

Everything is written under --output_dir; a second run starts afresh (the
outputs of a previous demo run in that directory are replaced; any other
non-empty directory is refused).

The library functions never read absl FLAGS (flags are defined only when the
module runs as a script).

The package: `corpus` (sentences, topic groups, the task's TSVs), `console`
(logs, stage banners, the output directory), `config` (`DemoConfig`, the
MiniLM's place), `pipeline` (`run`, one function per stage), `summary` (the
closing lines) and `cli`.
"""

# pylint: disable=g-importing-member,unused-import
from bert_tf.demo.cli import main
from bert_tf.demo.config import DemoConfig
from bert_tf.demo.console import MARKER_FILE
from bert_tf.demo.console import prepare_output_dir as _prepare_output_dir
from bert_tf.demo.corpus import class_groups
from bert_tf.demo.corpus import group_topics
from bert_tf.demo.corpus import is_held_out
from bert_tf.demo.corpus import is_prose
from bert_tf.demo.corpus import load_topics
from bert_tf.demo.corpus import macro_f1
from bert_tf.demo.corpus import split_sentences
from bert_tf.demo.corpus import task_processor_kwargs
from bert_tf.demo.corpus import topic_sentences
from bert_tf.demo.corpus import TopicGroup
from bert_tf.demo.corpus import TSV_HEADER
from bert_tf.demo.corpus import write_corpus
from bert_tf.demo.corpus import write_task_tsv
from bert_tf.demo.pipeline import predict_from_saved_model
from bert_tf.demo.pipeline import run
from bert_tf.demo.pipeline import tiny_bert_config
