"""General-domain encoders, pretrained once per machine: ``run.py train --encoder peoples-daily`` pretrains a language
model with the run's tokenizer settings and encoder shape on the named corpus the first time, and every later run (any
dataset, any seed) with the same settings finds it here.

An entry is a complete ``run.py pretrain`` run directory named by a key of the corpus (its texts, the tokenizer, the
stopwords) and every setting that shapes the weights. It is trained under a temporary name and renamed into place, so
a killed build leaves no entry; an entry that does not load is rebuilt. The directory is, in order: ``--encoder-cache``,
``$ENCODER_CACHE_DIR``, ``data/cache/encoders``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path

from data_processor.base.errors import DataError, UserError
from data_processor.base.messages import Log, log_stderr
from data_processor.stopwords import load_stopwords
from data_processor.token_cache import scan_texts
from data_processor.tokenizers import tokenizer_identity
from train.classify.pretrain import CorpusTexts, load_pretrained, pretrain
from train.classify.pretrain_settings import PretrainConfig
from train.classify.settings import ClassifierConfig
from train.common.rundir import COMPLETE
from train.common.text_settings import SHAPE_FIELDS, TEXT_FIELDS

CACHE_ENV = "ENCODER_CACHE_DIR"
DEFAULT_DIR = Path(__file__).resolve().parent.parent.parent / "data" / "cache" / "encoders"
FORMAT = "rnn-toolkit-encoder/1"
CARRIED = (*TEXT_FIELDS, *SHAPE_FIELDS, "dropout", "word_dropout", "token_cache", "workers", "threads", "device", "progress")
NOT_IN_KEY = ("runs_dir", "run_name", "progress", "threads", "workers", "token_cache", "device")  # how, not what, it trains


def cache_dir(explicit: str | None = None) -> Path:
    """The encoder cache directory: ``explicit``, else ``$ENCODER_CACHE_DIR``, else ``data/cache/encoders``."""
    return Path(explicit or os.environ.get(CACHE_ENV) or DEFAULT_DIR)


def general_config(config: ClassifierConfig, corpus: str) -> PretrainConfig:
    """The pretraining settings of the general-domain encoder for classifier ``config``: its text settings, shape and
    cell, and pretraining's own defaults (its default seed too, so that every seed of a classifier shares one encoder)."""
    values = {name: getattr(config, name) for name in CARRIED}
    return PretrainConfig(corpus=[corpus], cell=config.cell, **{**values, "embed_dim": config.embed_dim})


def entry_key(lm_config: PretrainConfig) -> str:
    """The cache key of an encoder: the tokenized corpus's key and every setting that changes the weights."""
    stopwords = load_stopwords(lm_config.stopwords)
    corpus = scan_texts(CorpusTexts(lm_config.corpora(), lm_config)).key(
        tokenizer_identity(lm_config.tokenizer, lm_config.user_dict, lm_config.hmm), stopwords)
    recipe = {k: v for k, v in lm_config.to_dict().items() if k not in NOT_IN_KEY}
    return hashlib.sha256(json.dumps({"format": FORMAT, "corpus": corpus, "recipe": recipe}, sort_keys=True).encode()).hexdigest()[:32]


def general_encoder(config: ClassifierConfig, corpus: str, log: Log = log_stderr) -> Path:
    """The run directory of the general-domain encoder pretrained on ``corpus`` for ``config``: from the cache, or
    pretrained now (and cached) on a miss or a damaged entry."""
    lm_config = general_config(config, corpus)
    root = cache_dir(config.encoder_cache)
    if root.exists() and not root.is_dir():
        raise DataError(f"{root}: is a file, not a directory; --encoder-cache must name a directory")
    key = entry_key(lm_config)
    entry = root / key
    if entry.is_dir():
        try:
            if not (entry / COMPLETE).is_file():
                raise DataError("it did not finish")
            load_pretrained(entry)
            log(f"encoder: the {corpus} language model from the cache ({entry})")
            return entry
        except UserError as exc:
            log(f"warning: {entry}: a damaged encoder cache entry, not used ({exc}); pretraining again")
            shutil.rmtree(entry, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    building = f".{key}.building-{os.getpid()}"
    shutil.rmtree(root / building, ignore_errors=True)
    log(f"encoder: pretraining a {lm_config.cell} language model on {corpus} (once; cached in {root})")
    summary = pretrain(dataclasses.replace(lm_config, runs_dir=str(root), run_name=building), log)
    log(f"encoder: pretrained in {summary['seconds']:.0f}s, held-out perplexity forward {summary['dev_forward_perplexity']:.1f}"
        + (f" backward {summary['dev_backward_perplexity']:.1f}" if "dev_backward_perplexity" in summary else ""))
    try:
        os.rename(root / building, entry)
    except OSError:  # another process cached the same encoder meanwhile: theirs is as good
        shutil.rmtree(root / building, ignore_errors=True)
    return entry
