"""Shared pytest fixtures: where the real data lives, and a guard that no test touches the network."""
import os
from pathlib import Path

import pytest

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
os.environ.setdefault('HF_DATASETS_OFFLINE', '1')

SHARED_DATA = Path(os.environ.get('RLHF_SUMM_SHARED_DATA', Path(__file__).resolve().parents[1].parent / 'shared' / 'data'))


@pytest.fixture(scope='session')
def shared_data() -> Path:
    "The real data folder `../shared/data`; tests that need it skip with a clear message when it is absent."
    if not SHARED_DATA.is_dir():
        pytest.skip(f'real data folder {SHARED_DATA} is absent (set RLHF_SUMM_SHARED_DATA)')
    return SHARED_DATA


@pytest.fixture
def one_thread():
    "Run a test on one CPU thread (tiny models are faster so, and the machine is shared), restoring the count after."
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
