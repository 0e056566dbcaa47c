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
def torchrun(tmp_path):
    "Run a Python `script` (text) under `torchrun --standalone --nproc_per_node 2` on CPU (gloo); return the finished process."
    import subprocess, sys

    def run(script: str, *args, timeout: int = 300):
        path = tmp_path / 'torchrun_script.py'
        path.write_text(script)
        env = {**os.environ, 'ACCELERATE_USE_CPU': 'true', 'OMP_NUM_THREADS': '1'}
        command = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', str(path), *map(str, args)]
        out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
        assert out.returncode == 0, out.stderr[-3000:]
        return out
    return run
