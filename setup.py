"""bert_tf: a faithful TensorFlow port of Google's BERT, with modern extras.

Install (CPU):            pip install .      (or -e . for development)
Install (NVIDIA GPU):     BERT_TF_GPU=1 pip install -e ".[gpu]"
Tests:                    pip install -e ".[test]"   (or simply `make test`)
Horovod (multi-GPU/node): see the Makefile's `horovod` target; it must be built
                          against the installed TensorFlow in a second pip call.

`tensorflow-cpu` and `tensorflow[and-cuda]` install the same `tensorflow`
module; with BERT_TF_GPU=1 the CPU package is left out so the two never mix.
"""

import os

from setuptools import find_packages, setup

TF_VERSION = "2.15.1"

# The scripts, as bert_tf/scripts.py lists them.
SCRIPTS = ("run_classifier", "run_squad", "run_pretraining", "run_ner",
           "create_pretraining_data", "prepare_corpus",
           "run_classifier_with_tfhub", "extract_features", "run_sweep")

install_requires = [
    "tensorflow-estimator==2.15.0",
    "tensorflow-hub==0.15.0",
    "absl-py>=1.0",
    "sentencepiece>=0.1.99",
    "safetensors>=0.4",
    "numpy>=1.23,<2",
    "matplotlib>=3.7",
    # tensorflow-hub 0.15 imports pkg_resources, which newer setuptools drop.
    "setuptools<80",
    # Pretraining data: TFRecord CRCs without TensorFlow; corpus preparation
    # (MediaWiki dumps, wikitext, sentence splitting).
    "google-crc32c==1.9.0",
    "mwxml==0.3.8",
    "mwparserfromhell==0.7.2",
    "blingfire==0.1.8",
]
if os.environ.get("BERT_TF_GPU") != "1":
  install_requires.insert(0, "tensorflow-cpu==" + TF_VERSION)

setup(
    name="bert_tf",
    version="0.1.0",
    description="A faithful TensorFlow port of Google's BERT reference "
                "implementation, with multi-GPU, mixed precision and export.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10,<3.12",
    packages=find_packages(include=["bert_tf", "bert_tf.*"]),
    # bert_config.json shapes, read by bert_tf.benchmark and the demo.
    package_data={"bert_tf": ["configs/*.json"]},
    # The reference's scripts stay top-level modules (`import run_classifier`
    # works as with Google's repository) and are console commands of the same
    # name; `python -m bert_tf.<name>` (bert_tf/<name>.py) runs them too.
    py_modules=list(SCRIPTS),
    entry_points={"console_scripts": [
        "%s = bert_tf.scripts:%s" % (name, name) for name in SCRIPTS]},
    install_requires=install_requires,
    extras_require={
        "gpu": ["tensorflow[and-cuda]==" + TF_VERSION],
        # Built from source against the installed TF; see the Makefile.
        "horovod": ["horovod==0.28.1"],
        # Other sentence splitters for prepare_corpus.py --splitter.
        "corpus": ["syntok==1.4.4", "pysbd==0.3.4"],
        "test": [
            "pytest>=7",
            # `make test` runs the suite in two processes.
            "pytest-xdist>=3,<4",
            "torch==2.13.0",
            "transformers>=5,<6",
            # Independent implementations of the metrics (golden values).
            "scipy<1.16",
            "scikit-learn<1.8",
            # conlleval-compatible entity scoring (NER golden values).
            "seqeval==1.2.2",
            "numpy<2",
        ],
    },
)
