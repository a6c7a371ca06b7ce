from __future__ import annotations

import time
from pathlib import Path

import pytest

from attest.conformance.corpus import Corpus, load_corpus
from attest.conformance.generate import Built, build_corpus, write_corpus


@pytest.fixture(scope="session")
def built() -> Built:
    """The default corpus (production profile) for the current time: replay caches compare expiry with
    the wall clock, so a corpus whose ``now`` is far from it would let replays through."""
    return build_corpus(now=int(time.time()))


@pytest.fixture(scope="session")
def corpus_dir(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(built, tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def corpus(corpus_dir: Path) -> Corpus:
    return load_corpus(corpus_dir)
