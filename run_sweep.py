"""Hyperparameter search over run_classifier.py / run_squad.py.

Random or grid search with median or bandit early stopping; see
`bert_tf/sweep/` for the search space syntax and the stopping rules. The
base command's flags come after `--` (or from --base_flags=FILE):

  python run_sweep.py --sweep_dir=/tmp/mrpc_sweep --num_trials=8 --seed=1 \
    --space=learning_rate=loguniform:1e-6:1e-4 \
    --space=train_batch_size=choice:16,32 --metric=eval_accuracy \
    --early_stopping=median --eval_every_steps=50 -- \
    --task_name=MRPC --data_dir=$GLUE_DIR/MRPC \
    --vocab_file=$BERT_BASE_DIR/vocab.txt \
    --bert_config_file=$BERT_BASE_DIR/bert_config.json \
    --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --max_seq_length=128

Started again with the same command, it resumes: finished trials are not run
again and a half-run trial continues from its last evaluation.
"""

if __name__ == "__main__":
  # A command-line run: its process settings before TensorFlow loads.
  from bert_tf import script_env
  script_env.configure()

from bert_tf import flags as bert_flags
from bert_tf import sweep

sweep.define_flags()

if __name__ == "__main__":
  bert_flags.run_main(sweep.main)
