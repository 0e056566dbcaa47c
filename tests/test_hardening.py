"""The probe set of issue 24, kept as tests: a guard in front of every route (auth before the body, size limits, throttling,
security headers), sessions bound to their token, a database checked at start, and bad CLI values refused in one line.
Store-backed probes run on SQLite and PostgreSQL (`database_url`, tests/conftest.py)."""
import json, os
from pathlib import Path

import anyio
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from rlhf_summ.cli import main
from rlhf_summ.feedback.registry import Registry
from rlhf_summ.feedback.serve import (BODY_LIMIT, COOKIE, PUBLIC_PATHS, SECURITY_HEADERS, ServeConfig, ServiceSettings, build_service,
                             create_app)
from rlhf_summ.feedback.store import SessionRow, Store

TOKENS = {'alice': 'tok-alice', 'bob': 'tok-bob'}


class StandIn:
    "A model folder that is never loaded (services that only record picks)."
    def save(self, d): Path(d).mkdir(parents=True); (Path(d) / 'weights.txt').write_text('stand-in')


def service_for(tmp_path, tokens=TOKENS, store=None, **config):
    root = tmp_path / 'registry'
    if not (root / 'policy').is_dir() or not any((root / 'policy').iterdir()): Registry(root).register('policy', StandIn())
    settings = ServiceSettings(annotator_tokens=tokens, secret_key='test-secret', admins=['alice'])
    return build_service(ServeConfig(service_dir=str(tmp_path), update_every=0, **config), settings, Registry(root),
                         lambda v, texts, seed, **kw: ['s'] * len(texts), store=store)


def bearer(token): return {'Authorization': f'Bearer {token}'}


def vm_hwm_kb() -> int:
    "Peak resident memory of this process (kB), since the last `reset_peak()`."
    return int(next(l for l in Path('/proc/self/status').read_text().splitlines() if l.startswith('VmHWM')).split()[1])


def reset_peak(): Path('/proc/self/clear_refs').write_text('5')


def asgi_request(app, method, path, headers, chunks, client=('127.0.0.1', 1)):
    "Send `chunks` (any iterable, consumed lazily) as the body; returns (status, response headers, body chunks read by the app)."
    chunks, read, start = iter(chunks), 0, {}
    async def receive():
        nonlocal read
        chunk = next(chunks, None)
        if chunk is None: return {'type': 'http.request', 'body': b'', 'more_body': False}
        read += 1
        return {'type': 'http.request', 'body': chunk, 'more_body': True}
    async def send(message):
        if message['type'] == 'http.response.start': start.update(status=message['status'], headers=dict(message['headers']))
    scope = {'type': 'http', 'asgi': {'version': '3.0'}, 'http_version': '1.1', 'method': method, 'scheme': 'http',
             'path': path, 'raw_path': path.encode(), 'query_string': b'', 'root_path': '', 'client': client,
             'server': ('testserver', 80), 'headers': [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    anyio.run(app, scope, receive, send)
    return start['status'], start['headers'], read


def every_route(app):
    "(method, concrete path, public?) for every route of the app's route table, path parameters filled with 1."
    import re
    for route in app.routes:   # FastAPI >= 0.165 keeps an included router as one entry holding its routes
        candidates = getattr(route, 'effective_candidates', None)
        for r in (candidates() if callable(candidates) else candidates) or [route]:
            path = re.sub(r'\{[^}]+\}', '1', r.path)
            for method in sorted(getattr(r, 'methods', None) or {'GET'}):
                if method != 'HEAD': yield method, path, r.path in PUBLIC_PATHS


CHUNK = b'x' * 65536


def huge_body(mb=300):
    "A `mb` MB body, 64 KiB at a time, never held whole."
    for _ in range(mb * 16): yield CHUNK


def test_guard_covers_every_route(tmp_path):
    service = service_for(tmp_path, max_upload_mb=1)
    app = create_app(service)
    routes = list(every_route(app))
    assert {(m, p) for m, p, _ in routes} >= {('POST', '/api/pairs/1/pick'), ('POST', '/pairs/1/pick'), ('POST', '/login'),
                                              ('POST', '/api/documents'), ('GET', '/api/export')}
    assert sum(not public for *_, public in routes) >= 10
    reset_peak(); before = vm_hwm_kb()
    for method, path, public in routes:
        body = {'Content-Type': 'application/json'}
        status, headers, read = asgi_request(app, method, path, body, huge_body())                    # 300 MB, no token
        if public:
            assert read <= BODY_LIMIT // len(CHUNK) + 1 and (status == 413 or read == 0), (method, path, status, read)
        else:
            assert read == 0 and status in ((303,) if method == 'GET' and not path.startswith('/api/') else (401,)), (method, path, status)
        status, _, read = asgi_request(app, method, path, {**body, **bearer('wrong')}, huge_body())      # a wrong token
        assert public or (status in (401, 303) and read == 0), (method, path, status)
        declared = {**body, **bearer(TOKENS['alice']), 'Content-Length': str(300 * 2**20)}
        status, _, read = asgi_request(app, method, path, declared, huge_body())                        # declared too large
        assert (status, read) == (413, 0), (method, path, status, read)
        status, _, read = asgi_request(app, method, path, {**body, **bearer(TOKENS['alice'])}, huge_body())  # chunked, no length
        assert read <= (2**20 + 65536) // len(CHUNK) + 2, (method, path, read)                           # cut at the limit (or never read)
        assert status == 413 or read == 0, (method, path, status)
        service.failed_logins = type(service.failed_logins)(10**6, 600)                                 # the throttle has its own test
    grown_mb = (vm_hwm_kb() - before) / 1024
    print(f'routes={len(routes)} peak_rss_growth_mb={grown_mb:.1f} (300 MB bodies x 4 per route)')
    assert grown_mb < 10, grown_mb
    service.store.close()


def test_a_route_added_later_is_guarded(tmp_path):
    service = service_for(tmp_path)
    app = create_app(service)
    seen = []
    @app.post('/api/new-thing')
    async def new_thing(request: __import__('fastapi').Request):
        seen.append(len(await request.body())); return {'ok': True}
    assert asgi_request(app, 'POST', '/api/new-thing', {}, huge_body(5))[::2] == (401, 0)
    assert asgi_request(app, 'POST', '/api/new-thing', bearer(TOKENS['bob']), huge_body(5))[0] == 413
    assert asgi_request(app, 'POST', '/api/new-thing', bearer(TOKENS['bob']), [b'{}'])[0] == 200 and seen == [2]
    service.store.close()


def test_security_headers_on_every_response(tmp_path):
    service = service_for(tmp_path)
    with TestClient(create_app(service)) as client:
        client.post('/login', data={'token': TOKENS['bob']})
        for r in (client.get('/login'), client.get('/'), client.get('/api/stats'), client.get('/api/stats', headers=bearer('x')),
                  client.get('/nowhere')):
            for name, value in SECURITY_HEADERS.items(): assert r.headers.get(name) == value, (r.url, name)
        csp = SECURITY_HEADERS['Content-Security-Policy']
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp and 'http' not in csp
    service.store.close()


def test_sessions_end_when_their_token_is_rotated_or_removed(tmp_path, database_url):
    first = service_for(tmp_path, store=Store(database_url))
    with TestClient(create_app(first)) as client:
        assert client.post('/login', data={'token': TOKENS['bob']}, follow_redirects=False).status_code == 303
        bob_session = client.cookies[COOKIE]
        assert client.get('/api/stats').status_code == 200
        client.cookies.clear()
        client.post('/login', data={'token': TOKENS['alice']}, follow_redirects=False)
        alice_session = client.cookies[COOKIE]
    first.store.close()
    # the operator replaces bob's leaked token and restarts: bob's old session ends, alice's lives on
    rotated = service_for(tmp_path, tokens={'alice': TOKENS['alice'], 'bob': 'tok-bob-new'}, store=Store(database_url))
    with TestClient(create_app(rotated)) as client:
        client.cookies.set(COOKIE, bob_session)
        assert client.get('/api/stats').status_code == 401
        assert client.get('/', follow_redirects=False).headers['location'] == '/login'
        client.cookies.set(COOKIE, alice_session)
        assert client.get('/api/stats').status_code == 200
        assert client.get('/api/stats', headers=bearer('tok-bob-new')).status_code == 200
    with rotated.store.reading() as s: assert s.query(SessionRow).filter_by(annotator='bob').count() == 0   # deleted, not just refused
    rotated.store.close()
    removed = service_for(tmp_path, tokens={'bob': 'tok-bob-new'}, store=Store(database_url))           # alice removed
    with TestClient(create_app(removed)) as client:
        client.cookies.set(COOKIE, alice_session)
        assert client.get('/api/stats').status_code == 401
    removed.store.close()


def test_login_throttled_per_client_and_per_annotator(tmp_path):
    service = service_for(tmp_path, max_failed_logins=20, max_logins=3)
    app = create_app(service)
    with TestClient(app) as client:
        statuses = [client.post('/login', data={'token': f'guess-{i}'}).status_code for i in range(300)]
        assert statuses[:20] == [401] * 20 and set(statuses[20:]) == {429}
        r = client.post('/login', data={'token': TOKENS['bob']})                     # even the right token waits
        assert r.status_code == 429 and 'Too many wrong tokens from this client' in r.text and int(r.headers['retry-after']) > 0
        r = client.get('/api/stats', headers=bearer(TOKENS['bob']))
        assert r.status_code == 429 and 'too many wrong tokens' in r.json()['detail']
    other = ('10.0.0.2', 1)                                                          # another client is not held back
    assert asgi_request(app, 'GET', '/api/stats', bearer(TOKENS['bob']), [], client=other)[0] == 200
    for i in range(25): asgi_request(app, 'GET', '/api/stats', bearer(f'wrong-{i}'), [], client=('10.0.0.3', 1))
    assert asgi_request(app, 'GET', '/api/stats', bearer(TOKENS['bob']), [], client=('10.0.0.3', 1))[0] == 429  # bearer guesses count
    login = {'Content-Type': 'application/x-www-form-urlencoded'}
    codes = [asgi_request(app, 'POST', '/login', login, [f'token={TOKENS["alice"]}'.encode()], client=('10.0.0.4', i))[0] for i in range(5)]
    assert codes == [303, 303, 303, 429, 429]                                        # per annotator: 3 new sessions an hour
    service.store.close()


def test_serve_refuses_a_read_only_database(tmp_path, database_url):
    Store(database_url).close()                                                      # the tables exist
    if database_url.startswith('sqlite'):
        read_only = Store(f"sqlite:///file:{database_url.removeprefix('sqlite:///')}?mode=ro&uri=true")
    else:
        import psycopg
        base, name = database_url.rsplit('/', 1)
        port = base.rsplit(':', 1)[1]
        with psycopg.connect(f'host=127.0.0.1 port={port} user=rlhf dbname=postgres', autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE {name} SET default_transaction_read_only = on')
        read_only = Store(database_url)
    with pytest.raises(PermissionError, match='is not writable'): service_for(tmp_path, store=read_only)
    read_only.close()


def run_cli(capsys, *argv):
    "Run `rlhf-summ argv` in this process; return (exit status, stderr lines)."
    code = main(list(argv))
    err = capsys.readouterr().err
    return code, err.strip().splitlines()


@pytest.fixture
def bad_files(tmp_path):
    (tmp_path / 'empty.txt').write_text('  \n\t\n')
    (tmp_path / 'two_objects.json').write_text('{"steps": 1}\n{"steps": 2}\n')
    return tmp_path


BAD_VALUES = [  # (argv, words the one line must contain)
    (['sft', '--steps', '-5'], 'steps must be >= 1, got -5'),
    (['sft', '--batch_size', '0'], 'batch_size must be >= 1, got 0'),
    (['rl-train', '--steps', '-3'], 'steps must be >= 1, got -3'),
    (['rl-train', '--batch_size', '0'], 'batch_size must be >= 1'),
    (['dpo', '--steps', '-1'], 'steps must be >= 1, got -1'),
    (['reward', '--steps', '-1'], 'steps must be >= 0, got -1'),
    (['reward', '--epochs', '-1'], 'epochs must be > 0, got -1.0'),
    (['reward', '--val_fraction', '1.5'], 'val_fraction must be in [0, 1)'),
    (['summarize', '--input', 'x.pdf', '--policy', '{dir}', '--num_beams', '0'], 'num_beams must be >= 1, got 0'),   # a seq2seq flag
    (['summarize', '--input', 'x.pdf', '--max_pages', '-1'], 'max_pages must be >= 1, got -1'),
    (['serve', '--port', '70000'], 'port must be in [1, 65535], got 70000'),
    (['serve', '--port', '-1'], 'port must be in [1, 65535], got -1'),
    (['serve', '--num_threads', '-1'], 'num_threads must be >= 0, got -1'),
    (['serve', '--generation_batch', '0'], 'generation_batch must be >= 1, got 0'),
    (['serve', '--max_sections', '0'], 'max_sections must be >= 1, got 0'),
    (['serve', '--max_upload_mb', '-1'], 'max_upload_mb must be > 0, got -1.0'),
    (['serve', '--valid_fraction', '5'], 'valid_fraction must be in [0, 1], got 5.0'),
    (['serve', '--partner', 'nobody'], "partner must be one of"),
    (['train-extractive', '--epochs', '0'], 'epochs must be >= 1, got 0'),
    (['rl', '--min_win_rate', '2'], 'min_win_rate must be in [0, 1]'),
    (['promote', '--kind', 'nothing'], 'kind must be one of'),
    (['simulate', '--picks', '-1'], 'picks must be >= 1, got -1'),
    (['summarize', '--input', '{dir}/empty.txt'], 'empty.txt has no text to summarize'),
    (['summarize', '--input', '{dir}/missing.pdf'], 'No input file at'),
    (['rl', '--service_dir', '{dir}/serve', '--rl_config', '{dir}/two_objects.json'], 'two_objects.json: not a JSON config'),
    (['run', '../../x'], "Unknown job '../../x'"),
    (['run', 'evaluate', '--name', '../../x'], 'must be a plain folder name'),
]


@pytest.mark.parametrize('argv,words', BAD_VALUES, ids=[' '.join(a) for a, _ in BAD_VALUES])
def test_bad_cli_values_exit_2_with_one_line(argv, words, bad_files, capsys, monkeypatch):
    monkeypatch.setenv('RLHF_SUMM_RUNS', str(bad_files / 'runs'))
    code, lines = run_cli(capsys, *[a.replace('{dir}', str(bad_files)) for a in argv])
    assert code == 2 and len(lines) == 1, (code, lines)
    assert lines[0].startswith('rlhf-summ: error: ') and words in lines[0], lines[0]
    assert not (bad_files / 'x').exists() and not (bad_files.parent / 'x').exists()


@pytest.mark.parametrize('url,words', [('not a url', 'database URL is malformed'),
                                       ('postgresql+psycopg://u:secret@127.0.0.1:1/db', 'is not reachable')])
def test_serve_with_a_bad_database_url_exits_2_with_one_line(url, words, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('RLHF_SUMM_DATABASE_URL', url)
    code, lines = run_cli(capsys, 'serve', '--service_dir', str(tmp_path))
    assert code == 2 and len(lines) == 1 and words in lines[0] and 'secret' not in lines[0], lines


def test_missing_model_path_says_so(tmp_path, capsys):
    from rlhf_summ.reward import RewardModel
    with pytest.raises(FileNotFoundError, match=f'No reward model folder at {tmp_path}/nope, and .* not a Hub model id'):
        RewardModel.from_pretrained(tmp_path / 'nope')                                # was "Repo id must be in the form..."
    (tmp_path / 'paper.txt').write_text('We study a problem. We solve it well.')
    code, lines = run_cli(capsys, 'summarize', '--input', str(tmp_path / 'paper.txt'), '--policy', 'runs/no such model')
    assert code == 2 and len(lines) == 1 and 'No policy folder at runs/no such model' in lines[0], lines


def test_opening_the_registry_removes_a_killed_rounds_scratch_folder(tmp_path):
    import subprocess, sys, time
    root = tmp_path / 'registry'
    Registry(root)
    script = ("import os, sys; from rlhf_summ.feedback.registry import Registry\n"
              "with Registry(sys.argv[1]).workspace() as d:\n"
              "    (d / 'run').mkdir(); (d / 'run' / 'model.safetensors').write_bytes(b'0' * 1000)\n"
              "    os.kill(os.getpid(), 9)\n")
    assert subprocess.run([sys.executable, '-c', script, str(root)], timeout=120).returncode == -9
    left = [d for d in root.iterdir() if d.name.startswith('.work-')]
    assert len(left) == 1 and (left[0] / 'run' / 'model.safetensors').exists()      # what `rlhf-summ rl` left when killed
    old, fresh = root / 'tmpold123', root / 'tmpfresh45'                             # `tempfile` folders of earlier versions
    for d in (old, fresh): (d / 'run').mkdir(parents=True)
    hour_ago = time.time() - 2 * 3600
    for p in (old / 'run', old): os.utime(p, (hour_ago, hour_ago))
    registry = Registry(root)
    assert set(registry.cleaned) == {left[0], old} and fresh.is_dir()
    with registry.workspace() as live:                                                # a live process's folder is kept
        assert Registry(root).cleaned == [] and live.is_dir()
    assert not live.exists()


@pytest.mark.parametrize('argv,words', [(['run', 'evaluate'], '`policy` is required'),
                                        (['run', 'train_reward', '-p', 'steps', '-1'], 'steps must be >= 0, got -1')])
def test_bad_job_parameters_exit_2_with_one_line(argv, words, tmp_path, capsys):
    code, lines = run_cli(capsys, *argv, '--runs_root', str(tmp_path))
    # stderr also carries papermill's progress bar and the notebook's own lines; the error is the one last line
    assert code == 2 and lines[-1].startswith('rlhf-summ: error: ') and words in lines[-1], lines
    assert not any('Traceback' in l for l in lines) and any('report (failed run)' in l for l in lines), lines


def test_pdf_messages_say_what_happened(tmp_path, capsys):
    import io
    pypdf = pytest.importorskip('pypdf')
    from rlhf_summ.text.pdf import CorruptPDFError, read_paper, render_test_pdf
    writer, buf = pypdf.PdfWriter(), io.BytesIO()
    writer.write(buf)
    with pytest.raises(CorruptPDFError, match='has no pages'): read_paper(buf.getvalue())   # was "PDFium: Success"
    with pytest.raises(ValueError, match='max_pages must be >= 1, got -1'):                   # was "0 characters on -1 pages... run OCR"
        read_paper(render_test_pdf([[(72, 72, 'Some words on a page that is not scanned.', 11, False)]]), max_pages=-1)


def test_a_pdf_bomb_is_refused_without_taking_the_servers_memory(tmp_path, capsys):
    from rlhf_summ.text.pdf import bomb_pdf, read_paper_bounded, render_test_pdf
    bomb = bomb_pdf(1100)                                                            # 1.1 MB that inflates to 1.1 GiB
    assert len(bomb) < 1.2 * 2**20
    read_paper_bounded(render_test_pdf([[(72, 72, 'Warm up the reader process.', 11, False)]]))
    service = service_for(tmp_path, max_upload_mb=5)
    with TestClient(create_app(service)) as client:
        reset_peak(); before = vm_hwm_kb()
        r = client.post('/api/documents', files={'file': ('bomb.pdf', bomb, 'application/pdf')}, headers=bearer(TOKENS['alice']))
        grown_mb = (vm_hwm_kb() - before) / 1024
        print(f'bomb: status={r.status_code} upload_mb={len(bomb) / 2**20:.2f} server_peak_rss_growth_mb={grown_mb:.1f}')
        assert r.status_code == 413 and len(r.json()['detail'].splitlines()) == 1
        assert 'bomb.pdf' in r.json()['detail'] and 'needs more than' in r.json()['detail']
        assert grown_mb < 200, grown_mb
        assert service.store.documents() == []
    service.store.close()
    (tmp_path / 'bomb.pdf').write_bytes(bomb)                                       # the same limits for `summarize`
    code, lines = run_cli(capsys, 'summarize', '--input', str(tmp_path / 'bomb.pdf'))
    assert code == 2 and len(lines) == 1 and 'needs more than' in lines[0], lines
