"""The feedback service end to end: upload -> summaries (tiny policies) -> picks -> export, security checks,
concurrent picks, a SIGKILLed uvicorn process that loses no committed pick, and the online reward update.
Tests taking `database_url` run on SQLite and on a throwaway PostgreSQL server (tests/conftest.py)."""
import json, os, signal, socket, subprocess, sys, threading, time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from rlhf_summ.data import Document, Section, load_comparisons
from rlhf_summ.feedback.registry import Registry
from rlhf_summ.feedback.serve import COOKIE, PolicySummarizer, ServeConfig, ServiceSettings, build_service, create_app
from rlhf_summ.feedback.store import Store

TOKENS = {'alice': 'tok-alice', 'bob': 'tok-bob'}
ADMINS = ['alice', 'bob']
TEXTS = [f"We study problem {i} with method {i % 3}; the results improve accuracy by {i} points on benchmark {i % 5}."
         for i in range(60)]


class StandIn:
    "A model folder that is never loaded (for services that only record picks)."
    def save(self, d): Path(d).mkdir(parents=True); (Path(d)/'weights.txt').write_text('stand-in')


@pytest.fixture(scope='module')
def tiny_policies(tmp_path_factory):
    "A registry folder with two tiny BART policies (v2 current) and a tiny reward model."
    from rlhf_summ.policies.seq2seq import build_tiny_policy
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
    return ServiceSettings(**{'annotator_tokens': TOKENS, 'secret_key': 'test-secret', 'admins': ADMINS, **kw})


def make_service(tmp_path, registry_root, summarize=None, service_settings=None, **config):
    registry = Registry(registry_root)
    config = ServeConfig(service_dir=str(tmp_path), **{'update_every': 0, 'max_new_tokens': 12, **config})
    summarize = summarize or PolicySummarizer(registry, config.max_new_tokens, config.pair_temperature, config.generation_batch)
    return build_service(config, service_settings or settings(), registry, summarize)


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
    service = make_service(tmp_path, root, summarize=lambda v, texts, seed, greedy=False: ['s'] * len(texts), max_upload_mb=0.01)
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
        assert client.cookies[COOKIE] != TOKENS['bob']   # a session id, not the token
        csrf = service.csrf_token(client.cookies[COOKIE])
        r = client.post('/documents', data={'text': 'Some text to summarize.', 'csrf_token': csrf}, follow_redirects=False)
        assert r.status_code == 303 and r.headers['location'].startswith('/documents/')
        home = client.get('/').text
        assert csrf in home and TOKENS['bob'] not in home
        assert client.post('/api/pairs/999/pick', json={'pick': 'a'}, headers=bearer('alice')).status_code == 404
        assert client.post('/api/pairs/1/pick', json={'pick': 'left'}, headers=bearer('alice')).status_code == 422
    service.store.close()


def test_app_start_sets_the_torch_threads_generation_runs_with(tmp_path):
    import torch
    before, seen = torch.get_num_threads(), []
    def summarize(version, texts, seed, greedy=False):
        seen.append(torch.get_num_threads()); return ['s'] * len(texts)
    root = tmp_path/'registry'
    Registry(root).register('policy', StandIn())
    try:
        torch.set_num_threads(2)
        service = make_service(tmp_path, root, summarize=summarize, num_threads=1)
        with TestClient(create_app(service)) as client:
            doc = client.post('/api/documents', data={'text': '# Intro\n' + TEXTS[0]}, headers=bearer('alice')).json()
            assert wait_ready(client, doc['id'])['num_pairs'] == 1
        assert seen and set(seen) == {1}                    # the worker thread generated with one torch thread
        service.store.close()
    finally: torch.set_num_threads(before)


def stand_in_service(tmp_path, **config):
    "A service with a never-loaded policy and a stand-in summarizer (for the HTTP layer alone)."
    root = tmp_path/'registry'
    Registry(root).register('policy', StandIn())
    return make_service(tmp_path, root, summarize=lambda v, texts, seed, greedy=False: ['s'] * len(texts),
                        service_settings=settings(annotator_tokens={**TOKENS, 'carol': 'tok-carol'}), **config)


def asgi_post(app, path, headers, chunks):
    "POST `chunks` to the ASGI app by hand; returns (status, how many body chunks the app read)."
    import anyio
    read, status = 0, []
    async def receive():
        nonlocal read
        if read == len(chunks): return {'type': 'http.request', 'body': b'', 'more_body': False}
        read += 1
        return {'type': 'http.request', 'body': chunks[read - 1], 'more_body': True}
    async def send(message):
        if message['type'] == 'http.response.start': status.append(message['status'])
    scope = {'type': 'http', 'asgi': {'version': '3.0'}, 'http_version': '1.1', 'method': 'POST', 'scheme': 'http',
             'path': path, 'raw_path': path.encode(), 'query_string': b'', 'root_path': '', 'client': ('127.0.0.1', 1),
             'server': ('testserver', 80), 'headers': [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    anyio.run(app, scope, receive, send)
    return status[0], read


def test_uploads_refused_before_the_body_is_read(tmp_path):
    service = stand_in_service(tmp_path, max_upload_mb=0.01)
    app = create_app(service)
    head = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\nContent-Type: application/pdf\r\n\r\n%PDF'
    chunks = [head] + [b'0' * 65536] * 300   # ~20 MB
    multipart = {'Content-Type': 'multipart/form-data; boundary=xyz'}
    for path in ('/api/documents', '/documents'):
        assert asgi_post(app, path, multipart, chunks) == (401, 0)                                       # no token
        assert asgi_post(app, path, {**multipart, 'Authorization': 'Bearer wrong'}, chunks) == (401, 0)
        declared = {**multipart, **bearer('alice'), 'Content-Length': str(20 * 2**20)}
        assert asgi_post(app, path, declared, chunks) == (413, 0)                                        # declared too large
        status, read = asgi_post(app, path, {**multipart, **bearer('alice')}, chunks)                   # chunked: cut at the limit
        assert status == 413 and read <= 3, read
    small = [b'--xyz\r\nContent-Disposition: form-data; name="text"\r\n\r\nA short text to summarize.\r\n--xyz--\r\n']
    assert asgi_post(app, '/api/documents', {**multipart, **bearer('alice')}, small) == (201, 1)
    service.store.close()


def test_huge_ids_are_not_found(tmp_path):
    service = stand_in_service(tmp_path)
    huge = '99999999999999999999999'
    with TestClient(create_app(service), raise_server_exceptions=False) as client:
        for method, path, kw in (('GET', f'/api/documents/{huge}', {}), ('GET', f'/api/documents/{huge}/next', {}),
                                 ('GET', f'/documents/{huge}', {}), ('GET', f'/pairs/{huge}', {}),
                                 ('POST', f'/api/pairs/{huge}/pick', {'json': {'pick': 'a'}}),
                                 ('GET', f'/api/documents/{2**63}', {}), ('GET', '/api/documents/0', {})):
            r = client.request(method, path, headers=bearer('alice'), **kw)
            assert r.status_code == 404, (path, r.status_code, r.text)
    service.store.close()


def test_export_and_version_counts_are_for_admins_only(tmp_path):
    service = stand_in_service(tmp_path)
    pairs = seed_pairs(service.store, 2)
    carol = {'Authorization': 'Bearer tok-carol'}
    with TestClient(create_app(service)) as client:
        for p in pairs: assert client.post(f'/api/pairs/{p}/pick', json={'pick': 'a'}, headers=carol).status_code == 201
        r = client.get('/api/export', headers=carol)
        assert r.status_code == 403 and 'policy/' not in r.text
        stats = client.get('/api/stats', headers=carol)
        assert stats.status_code == 200 and stats.json()['pairs'] == [] and stats.json()['num_comparisons'] == 2
        assert client.post('/login', data={'token': 'tok-carol'}, follow_redirects=False).status_code == 303
        assert 'policy/v1' not in client.get('/stats').text.split('<table id="counts">')[1]
        exported = client.get('/api/export', headers=bearer('alice'))
        assert exported.status_code == 200 and len(exported.text.splitlines()) == 2 and 'policy/v2' in exported.text
        assert client.get('/api/stats', headers=bearer('alice')).json()['pairs'][0]['total'] == 2
    service.store.close()


def test_login_token_stays_out_of_urls_and_logout_ends_the_session(tmp_path):
    service = stand_in_service(tmp_path)
    with TestClient(create_app(service)) as client:
        r = client.get(f"/login?token={TOKENS['bob']}", follow_redirects=False)   # a token in a URL (and so in the access log) logs nobody in
        assert r.status_code == 200 and 'set-cookie' not in r.headers and COOKIE not in client.cookies
        assert "location.hash.startsWith('#token=')" in r.text                    # the link `serve` prints carries it after '#'
        r = client.post('/login', data={'token': TOKENS['bob']}, follow_redirects=False)
        session = client.cookies[COOKIE]
        assert r.status_code == 303 and TOKENS['bob'] not in r.headers['set-cookie'] and len(session) >= 32
        assert client.get('/api/stats').status_code == 200
        assert client.post('/logout', data={'csrf_token': service.csrf_token(session)}, follow_redirects=False).status_code == 303
        client.cookies.set(COOKIE, session)                                         # a copy of the cookie kept after logout
        assert client.get('/api/stats').status_code == 401
        assert client.get('/', follow_redirects=False).headers['location'] == '/login'
        from sqlalchemy import text
        with service.store.reading() as s: stored = s.execute(text('SELECT id_hash FROM sessions')).scalars().all()
        assert session not in stored
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
    service = build_service(ServeConfig(service_dir=str(tmp_path), update_every=0),
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


def start_server(service_dir: Path, port: int, tokens: dict, log: Path, config: str = 'update_every=0',
                 database_url: str | None = None) -> subprocess.Popen:
    "`serve()` in a real uvicorn subprocess (on `database_url`, else SQLite under `service_dir`); returns once /api/health answers."
    env = {**os.environ, 'RLHF_SUMM_ANNOTATOR_TOKENS': json.dumps(tokens), 'RLHF_SUMM_SECRET_KEY': 'test-secret',
           'RLHF_SUMM_ADMINS': json.dumps(list(tokens)), 'HF_HUB_OFFLINE': '1', 'OMP_NUM_THREADS': '1'}
    env.pop('RLHF_SUMM_DATABASE_URL', None)
    if database_url: env['RLHF_SUMM_DATABASE_URL'] = database_url
    code = f"from rlhf_summ.feedback.serve import ServeConfig, serve; serve(ServeConfig(port={port}, service_dir={str(service_dir)!r}, {config}))"
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
    from rlhf_summ.feedback.store import ComparisonRow
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
    service = build_service(ServeConfig(service_dir=str(tmp_path), update_every=6, reward_update="head", update_tolerance=1.0),
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
        while client.get('/api/stats', headers=bearer('bob')).json()['updates'][0]['status'] == 'running' and time.time() < deadline:
            time.sleep(0.1)                 # the round registers the version, then closes its row
        assert client.get('/api/stats', headers=bearer('bob')).json()['updates'][0]['reward_after'] == 'reward/v2'
    # the registered version is a complete reward model folder
    from rlhf_summ.reward import RewardModel
    assert RewardModel.from_pretrained(new.model_dir).score(['a document'], ['a summary']).shape == (1,)
    service.store.close()
