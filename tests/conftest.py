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


# PostgreSQL -------------------------------------------------------------------------------------------------
import glob, secrets, shutil, socket, subprocess, tempfile, time


def _postgres_bin() -> Path | None:
    "The folder of the Debian `postgresql` server binaries (newest version), if installed."
    found = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


@pytest.fixture(scope='session')
def postgres_server():
    """A throwaway PostgreSQL server for the session: initdb in a temporary folder, a free port on 127.0.0.1,
    trust authentication. initdb and postgres refuse to run as root, so as root they run as the `postgres` user
    the Debian package creates (`runuser`), in a folder owned by it. Yields the server's base URL (no database)."""
    bindir = _postgres_bin()
    if bindir is None: pytest.skip('PostgreSQL server binaries are absent (Debian package `postgresql`; .ci/run installs it)')
    pytest.importorskip('psycopg', reason='the psycopg driver is a dev requirement')
    base = Path(tempfile.mkdtemp(prefix='rlhf-summ-pg-'))
    run_as = []
    if os.geteuid() == 0:
        import pwd
        user = pwd.getpwnam('postgres')
        os.chown(base, user.pw_uid, user.pw_gid)
        run_as = ['runuser', '-u', 'postgres', '--']
    data, port = base / 'data', _free_port()
    subprocess.run(run_as + [str(bindir / 'initdb'), '-D', str(data), '-U', 'rlhf', '--auth=trust', '-E', 'UTF8',
                             '--locale=C', '--no-sync'], check=True, capture_output=True, timeout=120)
    log = open(base / 'server.log', 'ab')
    server = subprocess.Popen(run_as + [str(bindir / 'postgres'), '-D', str(data), '-p', str(port), '-k', str(base),
                                        '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'max_connections=200'],
                              stdout=log, stderr=subprocess.STDOUT)
    url = f'postgresql+psycopg://rlhf@127.0.0.1:{port}'
    import psycopg
    deadline = time.time() + 60
    while True:
        try:
            with psycopg.connect(f'host=127.0.0.1 port={port} user=rlhf dbname=postgres', connect_timeout=2): break
        except psycopg.OperationalError:
            if server.poll() is not None or time.time() > deadline:
                server.kill()
                raise RuntimeError(f'PostgreSQL did not start:\n{(base / "server.log").read_text()[-2000:]}')
            time.sleep(0.2)
    yield url
    server.terminate()
    try: server.wait(30)
    except subprocess.TimeoutExpired: server.kill(); server.wait()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=['sqlite', 'postgresql'])
def database_url(request, tmp_path):
    "A SQLAlchemy URL of an empty feedback database: a SQLite file, or a fresh database on the test PostgreSQL server."
    if request.param == 'sqlite':
        yield f"sqlite:///{tmp_path / 'feedback.sqlite'}"
        return
    import psycopg
    base = request.getfixturevalue('postgres_server')
    name, port = f'test_{secrets.token_hex(6)}', base.rsplit(':', 1)[1]
    admin = f'host=127.0.0.1 port={port} user=rlhf dbname=postgres'
    with psycopg.connect(admin, autocommit=True) as conn: conn.execute(f'CREATE DATABASE {name}')
    yield f'{base}/{name}'
    with psycopg.connect(admin, autocommit=True) as conn: conn.execute(f'DROP DATABASE IF EXISTS {name} WITH (FORCE)')


@pytest.fixture
def one_thread():
    "Run a test on one CPU thread (tiny models are faster so, and the machine is shared), restoring the count after."
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='session')
def tiny_pdf(tmp_path_factory) -> Path:
    "A one-page PDF with a title, two numbered sections of prose and real (TrueType) text: a paper for tests that need no ../shared."
    import textwrap
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure
    paras = [('A Tiny Paper on Summaries', 16), ('1 Introduction', 12),
             ('Researchers read many papers and want short summaries of each section. Summaries written by a model are often too '
              'long or miss the point. We ask people which of two summaries is better and learn from their answers.', 10),
             ('2 Method', 12),
             ('The policy selects one sentence from each section. A reward model scores each summary from the picks people made. '
              'Reinforcement learning moves the policy towards summaries with higher scores while staying close to the first policy.', 10)]
    path = tmp_path_factory.mktemp('pdf') / 'paper.pdf'
    with matplotlib.rc_context({'pdf.fonttype': 42}), PdfPages(path) as pdf:
        fig, y = Figure(figsize=(8.5, 11)), 0.92
        for text, size in paras:
            for line in textwrap.wrap(text, 90):
                fig.text(0.1, y, line, fontsize=size); y -= 0.025 if size == 10 else 0.035
            y -= 0.02
        pdf.savefig(fig)
    return path


@pytest.fixture(scope='session')
def trained_default(tmp_path_factory, shared_data) -> Path:
    "A small default extractive policy trained once per session by the CLI (`train-extractive` into a temporary cache); its folder."
    from rlhf_summ.cli import run_command
    cache = tmp_path_factory.mktemp('extractive-cache')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('RLHF_SUMM_CACHE', str(cache))
        return run_command(['train-extractive', '--data', str(shared_data / 'scitldr'), '--data_limit', '24', '--epochs', '2',
                            '--batch_size', '8', '--d_model', '32', '--layers', '1', '--heads', '2', '--eval_limit', '4',
                            '--progress', 'false'])
