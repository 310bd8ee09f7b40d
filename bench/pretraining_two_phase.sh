#!/usr/bin/env bash
# The reference's two-phase pretraining recipe with the reference's scripts.
#
# BERT was pretrained mostly with short sequences (phase 1: max_seq_length 128,
# max_predictions_per_seq 20), then for a few more steps with long ones to
# learn the remaining position embeddings (phase 2: max_seq_length 512,
# max_predictions_per_seq 80). Phase 2 is a new run that starts from the
# phase-1 weights: --init_checkpoint=<phase-1 output_dir> (its latest
# checkpoint). Only the trainable variables come from phase 1; the global
# step, the Adam moments and the learning-rate schedule start afresh.
#
#   bash bench/pretraining_two_phase.sh          # quick defaults (~1-3 min)
#
#   CORPUS='/data/wiki/*.txt' VOCAB=/models/vocab.txt \
#   BERT_CONFIG=configs/bert_base_L-12_H-768_A-12.json \
#   PHASE1_STEPS=900000 PHASE1_WARMUP=10000 PHASE2_STEPS=100000 \
#   PHASE2_WARMUP=10000 PHASE1_BATCH=256 PHASE2_BATCH=256 DUPE_FACTOR=10 \
#   OUTPUT_DIR=/runs/bert_base bash bench/pretraining_two_phase.sh
#
# Environment variables (defaults in brackets):
#   CORPUS         input text, comma-separated files/globs
#                  [../shared/data/corpus/sample_text.txt]
#   SENTENCE_SPLIT True for running prose (wrapped lines, blank lines between
#                  paragraphs); False for one sentence per line [False]
#   VOCAB          vocab.txt [../shared/models/minilm-l6-h384-uncased/vocab.txt]
#   DO_LOWER_CASE  [True]        DO_WHOLE_WORD_MASK [False]
#   BERT_CONFIG    model config; its vocab_size must match VOCAB and its
#                  max_position_embeddings must be >= PHASE2_SEQ
#                  [configs/bert_tiny_L-2_H-128_A-2.json]
#   OUTPUT_DIR     everything goes here [/tmp/bert_tf_two_phase]
#   FRESH          1: delete OUTPUT_DIR first; 0: keep it, so a rerun resumes
#                  each phase from its last checkpoint [1]
#   PHASE1_SEQ / PHASE1_PREDS / PHASE1_STEPS / PHASE1_WARMUP / PHASE1_BATCH
#                  [128 / 20 / 20 / 2 / 32]
#   PHASE2_SEQ / PHASE2_PREDS / PHASE2_STEPS / PHASE2_WARMUP / PHASE2_BATCH
#                  [512 / 80 / 10 / 1 / 8]
#   LEARNING_RATE  peak learning rate of both phases [1e-4]
#   DUPE_FACTOR [5]  MASKED_LM_PROB [0.15]  RANDOM_SEED [12345]
#   NUM_WORKERS    create_pretraining_data.py --num_workers [1]
#   SAVE_CHECKPOINTS_STEPS [1000]  MAX_EVAL_STEPS [10]  EVAL_BATCH [8]
#   PYTHON         [.venv/bin/python if present, else python3]
#
# Each phase evaluates (masked-LM / next-sentence accuracy and loss) on its
# own training data, as the reference's run_pretraining.py --do_eval does;
# results are in OUTPUT_DIR/phase{1,2}/eval_results.txt and the logs in
# OUTPUT_DIR/*.log. The script fails unless phase 2 initialised every
# trainable variable from phase 1 (the "Initialised N of M trainable
# variables" line of the log).

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${BERT_TF_SHARED:-${ROOT}/../shared}"
cd "${ROOT}"

if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "${ROOT}/.venv/bin/python" ]]; then
    PYTHON="${ROOT}/.venv/bin/python"
  else
    PYTHON=python3
  fi
fi

CORPUS="${CORPUS:-${SHARED}/data/corpus/sample_text.txt}"
SENTENCE_SPLIT="${SENTENCE_SPLIT:-False}"
VOCAB="${VOCAB:-${SHARED}/models/minilm-l6-h384-uncased/vocab.txt}"
DO_LOWER_CASE="${DO_LOWER_CASE:-True}"
DO_WHOLE_WORD_MASK="${DO_WHOLE_WORD_MASK:-False}"
BERT_CONFIG="${BERT_CONFIG:-${ROOT}/configs/bert_tiny_L-2_H-128_A-2.json}"
OUTPUT_DIR="${OUTPUT_DIR:-/tmp/bert_tf_two_phase}"
FRESH="${FRESH:-1}"
PHASE1_SEQ="${PHASE1_SEQ:-128}"
PHASE1_PREDS="${PHASE1_PREDS:-20}"
PHASE1_STEPS="${PHASE1_STEPS:-20}"
PHASE1_WARMUP="${PHASE1_WARMUP:-2}"
PHASE1_BATCH="${PHASE1_BATCH:-32}"
PHASE2_SEQ="${PHASE2_SEQ:-512}"
PHASE2_PREDS="${PHASE2_PREDS:-80}"
PHASE2_STEPS="${PHASE2_STEPS:-10}"
PHASE2_WARMUP="${PHASE2_WARMUP:-1}"
PHASE2_BATCH="${PHASE2_BATCH:-8}"
LEARNING_RATE="${LEARNING_RATE:-1e-4}"
DUPE_FACTOR="${DUPE_FACTOR:-5}"
MASKED_LM_PROB="${MASKED_LM_PROB:-0.15}"
RANDOM_SEED="${RANDOM_SEED:-12345}"
NUM_WORKERS="${NUM_WORKERS:-1}"
SAVE_CHECKPOINTS_STEPS="${SAVE_CHECKPOINTS_STEPS:-1000}"
MAX_EVAL_STEPS="${MAX_EVAL_STEPS:-10}"
EVAL_BATCH="${EVAL_BATCH:-8}"

for path in "${VOCAB}" "${BERT_CONFIG}"; do
  if [[ ! -f "${path}" ]]; then
    echo "error: ${path} not found (set VOCAB / BERT_CONFIG)" >&2
    exit 1
  fi
done

if [[ "${FRESH}" == "1" && -e "${OUTPUT_DIR}" ]]; then
  case "$(cd "${OUTPUT_DIR}" && pwd)" in
    / | "${HOME:-/nonexistent}" | "${ROOT}")
      echo "error: refusing to delete OUTPUT_DIR=${OUTPUT_DIR}" >&2
      exit 1
      ;;
  esac
  rm -rf -- "${OUTPUT_DIR}"
fi
mkdir -p "${OUTPUT_DIR}"

log() { echo "[two-phase $(date +%H:%M:%S)] $*" >&2; }

# run_phase NAME SEQ PREDS STEPS WARMUP BATCH INIT_CHECKPOINT
run_phase() {
  local name="$1" seq="$2" preds="$3" steps="$4" warmup="$5" batch="$6"
  local init="$7"
  local data="${OUTPUT_DIR}/${name}_tf_examples.tfrecord"
  local model_dir="${OUTPUT_DIR}/${name}"

  log "${name}: create_pretraining_data.py (seq ${seq}, ${preds} predictions)"
  "${PYTHON}" create_pretraining_data.py \
    --input_file="${CORPUS}" \
    --output_file="${data}" \
    --vocab_file="${VOCAB}" \
    --do_lower_case="${DO_LOWER_CASE}" \
    --do_whole_word_mask="${DO_WHOLE_WORD_MASK}" \
    --max_seq_length="${seq}" \
    --max_predictions_per_seq="${preds}" \
    --masked_lm_prob="${MASKED_LM_PROB}" \
    --random_seed="${RANDOM_SEED}" \
    --dupe_factor="${DUPE_FACTOR}" \
    --sentence_split="${SENTENCE_SPLIT}" \
    --num_workers="${NUM_WORKERS}" \
    > "${OUTPUT_DIR}/${name}_data.log" 2>&1 \
    || { tail -n 20 "${OUTPUT_DIR}/${name}_data.log" >&2; exit 1; }
  grep -h "Wrote [0-9]* instances" "${OUTPUT_DIR}/${name}_data.log" >&2 || true

  local init_flag=()
  local message="${name}: run_pretraining.py (${steps} steps, batch ${batch}"
  if [[ -n "${init}" ]]; then
    init_flag=(--init_checkpoint="${init}")
    message+=", --init_checkpoint=${init}"
  fi
  log "${message})"
  "${PYTHON}" run_pretraining.py \
    --input_file="${data}" \
    --output_dir="${model_dir}" \
    --do_train=True \
    --do_eval=True \
    --bert_config_file="${BERT_CONFIG}" \
    "${init_flag[@]}" \
    --train_batch_size="${batch}" \
    --eval_batch_size="${EVAL_BATCH}" \
    --max_seq_length="${seq}" \
    --max_predictions_per_seq="${preds}" \
    --num_train_steps="${steps}" \
    --num_warmup_steps="${warmup}" \
    --learning_rate="${LEARNING_RATE}" \
    --save_checkpoints_steps="${SAVE_CHECKPOINTS_STEPS}" \
    --max_eval_steps="${MAX_EVAL_STEPS}" \
    --random_seed="${RANDOM_SEED}" \
    > "${OUTPUT_DIR}/${name}.log" 2>&1 \
    || { tail -n 30 "${OUTPUT_DIR}/${name}.log" >&2; exit 1; }
  grep -h "train done" "${OUTPUT_DIR}/${name}.log" | tail -n 1 >&2 || true
  log "${name}: ${model_dir}/eval_results.txt"
  cat "${model_dir}/eval_results.txt"
}

run_phase phase1 "${PHASE1_SEQ}" "${PHASE1_PREDS}" "${PHASE1_STEPS}" \
  "${PHASE1_WARMUP}" "${PHASE1_BATCH}" ""
run_phase phase2 "${PHASE2_SEQ}" "${PHASE2_PREDS}" "${PHASE2_STEPS}" \
  "${PHASE2_WARMUP}" "${PHASE2_BATCH}" "${OUTPUT_DIR}/phase1"

# Phase 2 must have started from the phase-1 weights.
init_pattern="Initialised [0-9]* of [0-9]* trainable variables from [^;]*"
init_line="$(grep -h -o "${init_pattern}" "${OUTPUT_DIR}/phase2.log" \
  | head -n 1 || true)"
if [[ -z "${init_line}" ]]; then
  echo "error: phase 2 did not initialise from phase 1 (no 'Initialised N" \
       "of M trainable variables' line in ${OUTPUT_DIR}/phase2.log)" >&2
  exit 1
fi
read -r loaded total < <(echo "${init_line}" | awk '{print $2, $4}')
log "phase2: ${init_line}"
if [[ "${loaded}" != "${total}" || "${loaded}" == "0" ]]; then
  echo "error: phase 2 initialised only ${loaded} of ${total} trainable" \
       "variables from phase 1" >&2
  exit 1
fi
log "done: phase 1 ${OUTPUT_DIR}/phase1, phase 2 ${OUTPUT_DIR}/phase2"
