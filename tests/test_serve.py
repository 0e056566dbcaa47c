"""The feedback service end to end: upload -> summaries (tiny policies) -> picks -> export, security checks,
concurrent picks, a SIGKILLed uvicorn process that loses no committed pick, and the online reward update.
Tests taking `database_url` run on SQLite and on a throwaway PostgreSQL server (tests/conftest.py)."""
import json, os, signal, socket, subprocess, sys, threading, time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from rlhf_summ.data import Document, Section, load_comparisons
from rlhf_summ.registry import Registry
from rlhf_summ.serve import PolicySummarizer, ServeConfig, ServiceSettings, build_service, create_app
from rlhf_summ.store import Store

TOKENS = {'alice': 'tok-alice', 'bob': 'tok-bob'}
TEXTS = [f"We study problem {i} with method {i % 3}; the results improve accuracy by {i} points on benchmark {i % 5}."
         for i in range(60)]


class StandIn:
    "A model folder that is never loaded (for services that only record picks)."
    def save(self, d): Path(d).mkdir(parents=True); (Path(d)/'weights.txt').write_text('stand-in')


@pytest.fixture(scope='module')
def tiny_policies(tmp_path_factory):
    "A registry folder with two tiny BART policies (v2 current) and a tiny reward model."
    from rlhf_summ.policy import build_tiny_policy
    from rlhf_summ.reward import tiny_reward_model
    root = tmp_path_factory.mktemp('registry')
    registry = Registry(root)
    for seed in (0, 1):
        registry.register('policy', build_tiny_policy('bart', texts=TEXTS, vocab_size=400, d_model=32, layers=1, heads=2,
                                                      max_source_length=256, max_target_length=32, seed=seed))
    registry.promote('policy', 'v2')
    registry.register('reward', tiny_reward_model(max_length=64))
    return root


def settings(**kw):
    return ServiceSettings(annotator_tokens=TOKENS, secret_key='test-secret', **kw)


def make_service(tmp_path, registry_root, summarize=None, **config):
    registry = Registry(registry_root)
    config = ServeConfig(runs_dir=str(tmp_path), **{'update_every': 0, 'max_new_tokens': 12, **config})
    summarize = summarize or PolicySummarizer(registry, config.max_new_tokens, config.temperature, config.generation_batch)
    return build_service(config, settings(), registry, summarize)


def bearer(name): return {'Authorization': f'Bearer {TOKENS[name]}'}


def wait_ready(client, doc_id, who='alice', timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        d = client.get(f'/api/documents/{doc_id}', headers=bearer(who)).json()
        if d['status'] in ('ready', 'failed'): return d
        time.sleep(0.1)
    raise TimeoutError(f'document {doc_id} not ready after {timeout}s: {d}')


def test_upload_pick_export_with_tiny_policies(tmp_path, tiny_policies, shared_data):
    service = make_service(tmp_path, tiny_policies)
    with TestClient(create_app(service)) as client:
        pdf = (shared_data/'pdfs'/'1703.00317.pdf').read_bytes()
        r = client.post('/api/documents', files={'file': ('paper.pdf', pdf, 'application/pdf')}, headers=bearer('alice'))
        assert r.status_code == 201, r.text
        doc = r.json()
        assert doc['title'].startswith('Tracing Linguistic Relations') and doc['num_sections'] == 6
        r = client.post('/api/documents', data={'text': '# Intro\n' + TEXTS[0] + '\n# Method\n' + TEXTS[1], 'title': 'Pasted'},
                        headers=bearer('alice'))
        assert r.status_code == 201 and r.json()['num_sections'] == 2
        pasted = r.json()['id']
        assert wait_ready(client, doc['id'])['num_pairs'] == 6
        assert wait_ready(client, pasted)['num_pairs'] == 2

        picks = {}
        for doc_id, choice in ((doc['id'], 'a'), (doc['id'], 'b'), (pasted, 'a'), (doc['id'], 'tie'), (doc['id'], 'skip')):
            pair = client.get(f'/api/documents/{doc_id}/next', headers=bearer('alice')).json()
            assert set(pair) == {'id', 'document_id', 'position', 'section_heading', 'section_text', 'summary_a', 'summary_b'}
            assert pair['summary_a'] and pair['summary_b']
            r = client.post(f"/api/pairs/{pair['id']}/pick", json={'pick': choice, 'confidence': 6}, headers=bearer('alice'))
            assert r.status_code == 201, r.text
            picks[pair['id']] = (choice, pair)
        # the versions were hidden from the annotator but are stored with every summary and pick
        views = {pid: service.store.pair(pid) for pid in picks}
        assert all({v.policy_a, v.policy_b} == {'policy/v1', 'policy/v2'} for v in views.values())
        stats = client.get('/api/stats', headers=bearer('bob')).json()
        assert (stats['current_policy'], stats['partner_policy'], stats['num_comparisons']) == ('policy/v2', 'policy/v1', 5)
        count = stats['pairs'][0]
        assert count['policies'] == ['policy/v1', 'policy/v2'] and sum(count['wins']) == 3 and count['tie'] == count['skip'] == 1

        exported = client.get('/api/export', headers=bearer('alice')).text
        (tmp_path/'export.json').write_text(exported)
    back = load_comparisons(str(tmp_path/'export.json'))
    assert len(back) == 3   # tie and skip carry no preference
    for c in back:
        pid = next(p for p, (choice, pair) in picks.items() if pair['summary_a'] == c.summary_a and pair['summary_b'] == c.summary_b)
        choice, pair = picks[pid]
        assert c.choice == {'a': 0.0, 'b': 1.0}[choice] and c.annotator == 'alice' and c.confidence == 6
        assert (c.policy_a, c.policy_b) == (views[pid].policy_a, views[pid].policy_b)
        assert c.document.text == pair['section_text']
    service.store.close()


def test_security_and_errors(tmp_path):
    root = tmp_path/'registry'
    Registry(root).register('policy', StandIn())
    service = make_service(tmp_path, root, summarize=lambda v, texts, seed: ['s'] * len(texts), max_upload_mb=0.01)
    with TestClient(create_app(service)) as client:
        assert client.get('/api/stats').status_code == 401
        assert client.get('/api/stats', headers={'Authorization': 'Bearer wrong'}).status_code == 401
        assert client.get('/', follow_redirects=False).headers['location'] == '/login'
        assert client.post('/login', data={'token': 'wrong'}).status_code == 401
        r = client.post('/api/documents', files={'file': ('x.pdf', b'hello, not a pdf', 'application/pdf')}, headers=bearer('alice'))
        assert r.status_code == 422 and 'x.pdf' in r.json()['detail']
        r = client.post('/api/documents', files={'file': ('big.pdf', b'%PDF' + b'0' * 200_000, 'application/pdf')}, headers=bearer('alice'))
        assert r.status_code == 413 and 'larger than' in r.json()['detail']
        # chunked, without a Content-Length: refused from the bounded read
        body = (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
                + b'%PDF' + b'0' * 200_000 + b'\r\n--xyz--\r\n')
        r = client.post('/api/documents', content=iter([body]),
                        headers={**bearer('alice'), 'Content-Type': 'multipart/form-data; boundary=xyz'})
        assert 'content-length' not in r.request.headers and r.status_code == 413
        assert client.post('/api/documents', data={'text': '  '}, headers=bearer('alice')).status_code == 422
        # a browser session: the cookie alone does not let a form post through
        r = client.post('/login', data={'token': TOKENS['bob']}, follow_redirects=False)
        assert r.status_code == 303 and 'samesite=strict' in r.headers['set-cookie'].lower() and 'httponly' in r.headers['set-cookie'].lower()
        assert client.post('/documents', data={'text': 'Some text.'}).status_code == 403
        assert client.post('/documents', data={'text': 'Some text.', 'csrf_token': 'forged'}).status_code == 403
        csrf = service.csrf_token(TOKENS['bob'])
        r = client.post('/documents', data={'text': 'Some text to summarize.', 'csrf_token': csrf}, follow_redirects=False)
        assert r.status_code == 303 and r.headers['location'].startswith('/documents/')
        home = client.get('/').text
        assert csrf in home and TOKENS['bob'] not in home
        assert client.post('/api/pairs/999/pick', json={'pick': 'a'}, headers=bearer('alice')).status_code == 404
        assert client.post('/api/pairs/1/pick', json={'pick': 'left'}, headers=bearer('alice')).status_code == 422
    service.store.close()


def seed_pairs(store: Store, n: int, policies=('policy/v1', 'policy/v2')) -> list[int]:
    "One document with `n` sections and a ready pair for each (no model needed)."
    doc_id, _ = store.add_document(Document('d', ' '.join(TEXTS[i % 60] + f' ({i})' for i in range(n)),
                                            sections=[Section(f'{i}', TEXTS[i % 60] + f' ({i})') for i in range(n)]))
    pairs = [store.add_pair(sid, (f'new {sid}', policies[1]), (f'old {sid}', policies[0])) for sid, _ in store.sections(doc_id)]
    store.set_status(doc_id, 'ready')
    return pairs


def test_concurrent_picks_none_lost(tmp_path, database_url):
    root = tmp_path/'registry'
    Registry(root).register('policy', StandIn())
    tokens = {f'w{i}': f'token-{i}' for i in range(8)}
    registry = Registry(root)
    service = build_service(ServeConfig(runs_dir=str(tmp_path), update_every=0),
                            ServiceSettings(annotator_tokens=tokens, secret_key='k', database_url=database_url), registry, lambda *a: [])
    assert service.store.url == database_url
    pairs = seed_pairs(service.store, 50)
    app, errors = create_app(service), []
    with TestClient(app):
        def annotate(name):
            client = TestClient(app)   # no lifespan: the app's workers run once, in the outer client
            for p in pairs:
                r = client.post(f'/api/pairs/{p}/pick', json={'pick': 'ab'[p % 2]}, headers={'Authorization': f'Bearer {tokens[name]}'})
                if r.status_code != 201: errors.append((name, p, r.status_code, r.text))
        threads = [threading.Thread(target=annotate, args=(name,)) for name in tokens]
        for t in threads: t.start()
        for t in threads: t.join()
    assert errors == []
    assert service.store.num_comparisons() == 400
    assert len(service.store.export_rows()) == 400
    assert sorted(c.total for c in service.store.counts()) == [400]
    service.store.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def start_server(runs_dir: Path, port: int, tokens: dict, log: Path, config: str = 'update_every=0',
                 database_url: str | None = None) -> subprocess.Popen:
    "`serve()` in a real uvicorn subprocess (on `database_url`, else SQLite under `runs_dir`); returns once /api/health answers."
    env = {**os.environ, 'RLHF_SUMM_ANNOTATOR_TOKENS': json.dumps(tokens), 'RLHF_SUMM_SECRET_KEY': 'test-secret',
           'HF_HUB_OFFLINE': '1', 'OMP_NUM_THREADS': '1'}
    env.pop('RLHF_SUMM_DATABASE_URL', None)
    if database_url: env['RLHF_SUMM_DATABASE_URL'] = database_url
    code = f"from rlhf_summ.serve import ServeConfig, serve; serve(ServeConfig(port={port}, runs_dir={str(runs_dir)!r}, {config}))"
    proc = subprocess.Popen([sys.executable, '-c', code], env=env, stdout=open(log, 'ab'), stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None: raise RuntimeError(f'server exited with {proc.returncode}:\n{log.read_text()[-3000:]}')
        try:
            if httpx.get(f'http://127.0.0.1:{port}/api/health', timeout=1).status_code == 200: return proc
        except httpx.HTTPError: time.sleep(0.2)
    proc.kill(); raise TimeoutError(f'server did not start:\n{log.read_text()[-3000:]}')


def test_sigkill_loses_no_committed_pick(tmp_path, database_url):
    runs = tmp_path/'serve'
    registry = Registry(runs/'registry')
    registry.register('policy', StandIn()); registry.register('reward', StandIn())
    store = Store(database_url)
    pairs = seed_pairs(store, 400)
    store.close()
    port, log = free_port(), tmp_path/'server.log'
    proc = start_server(runs, port, TOKENS, log, database_url=database_url)
    acknowledged, stop = {name: [] for name in TOKENS}, threading.Event()

    def stream(name):
        with httpx.Client(base_url=f'http://127.0.0.1:{port}', headers=bearer(name), timeout=5) as client:
            for p in pairs:
                if stop.is_set(): return
                try: r = client.post(f'/api/pairs/{p}/pick', json={'pick': 'a'})
                except httpx.HTTPError: return   # the server died under us
                if r.status_code == 201: acknowledged[name].append(p)
    threads = [threading.Thread(target=stream, args=(name,)) for name in TOKENS]
    for t in threads: t.start()
    while sum(map(len, acknowledged.values())) < 60 and proc.poll() is None: time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)   # mid-stream: both clients are still posting
    proc.wait()
    stop.set()
    for t in threads: t.join()
    total = sum(map(len, acknowledged.values()))
    assert 60 <= total < 2 * len(pairs), total

    proc = start_server(runs, port, TOKENS, log, database_url=database_url)
    try:
        for name, done in acknowledged.items():
            for p in done[-3:]:  # a committed pick is there: posting it again is a conflict
                assert httpx.post(f'http://127.0.0.1:{port}/api/pairs/{p}/pick', json={'pick': 'b'}, headers=bearer(name)).status_code == 409
        nxt = httpx.get(f'http://127.0.0.1:{port}/api/documents/1/next', headers=bearer('alice')).json()
        assert nxt['id'] not in acknowledged['alice']
    finally:
        proc.terminate(); proc.wait(30)
    assert not (runs/'feedback.sqlite').exists()   # the server used database_url, not its default SQLite file
    store = Store(database_url)
    from sqlalchemy import select
    from rlhf_summ.store import ComparisonRow
    with store.reading() as s:
        stored = {(a, p) for a, p in s.execute(select(ComparisonRow.annotator, ComparisonRow.pair_id))}
    expected = {(name, p) for name, done in acknowledged.items() for p in done}
    assert expected <= stored                      # every acknowledged pick survived the kill
    assert len(stored - expected) <= len(TOKENS)   # at most the one in flight per client (committed, reply lost)
    store.close()


class GatedReward:
    "The real tiny reward model, whose update waits until the test lets it go (so it is surely running during a request)."
    def __init__(self, model, started: threading.Event, release: threading.Event):
        self.model, self.started, self.release = model, started, release

    def update(self, *args, **kw):
        self.started.set()
        assert self.release.wait(60), 'the test never released the update'
        return self.model.update(*args, **kw)

    def save(self, d): return self.model.save(d)


def test_online_update_registers_reward_version_without_blocking(tmp_path, tiny_policies):
    root = tmp_path/'registry'
    registry = Registry(root)
    registry.register('policy', StandIn())
    registry.register('reward', Registry(tiny_policies).load('reward'))
    started, release = threading.Event(), threading.Event()
    load = lambda info: GatedReward(registry.load('reward', info.version), started, release)
    service = build_service(ServeConfig(runs_dir=str(tmp_path), update_every=6, update_steps=2, update_tolerance=1.0),
                            settings(), registry, lambda *a: [], load_reward=load)
    pairs = []
    for i in range(4):   # four documents in the training split, two sections each
        doc_id, _ = service.store.add_document(Document(f'd{i}', f'doc {i}', sections=[Section('1', TEXTS[2 * i]), Section('2', TEXTS[2 * i + 1])]),
                                               valid_fraction=0.0)
        pairs += [service.store.add_pair(sid, (f'good summary {sid}', 'policy/v1'), (f'bad {sid}', 'policy/v1'))
                  for sid, _ in service.store.sections(doc_id)]
    with TestClient(create_app(service)) as client:
        for p in pairs[:6]:
            assert client.post(f'/api/pairs/{p}/pick', json={'pick': 'a'}, headers=bearer('alice')).status_code == 201
        assert started.wait(30), 'six picks did not start an update'
        t0 = time.time()   # the update is running (and held): requests are still served
        stats = client.get('/api/stats', headers=bearer('bob')).json()
        r = client.post(f'/api/pairs/{pairs[6]}/pick', json={'pick': 'b'}, headers=bearer('alice'))
        elapsed = time.time() - t0
        assert r.status_code == 201 and stats['update_running'] and stats['current_reward'] == 'reward/v1'
        assert elapsed < 5, elapsed
        release.set()
        deadline = time.time() + 60
        while registry.current('reward').version == 'v1' and time.time() < deadline: time.sleep(0.1)
        new = registry.current('reward')
        assert new.name == 'reward/v2' and new.parent == 'v1' and new.data['num_new'] == 6
        assert 'eval/rm/accuracy' in new.metrics
        assert client.get('/api/stats', headers=bearer('bob')).json()['updates'][0]['reward_after'] == 'reward/v2'
    # the registered version is a complete reward model folder
    from rlhf_summ.reward import RewardModel
    assert RewardModel.from_pretrained(new.model_dir).score(['a document'], ['a summary']).shape == (1,)
    service.store.close()
