"""A real browser (Debian's chromium, driven by Playwright) logs in, uploads a real PDF, answers two sections with
the keyboard shortcuts, and the two picks are in the database; the default extractive policy's summaries of an
uploaded PDF; and the picking page's undo, guidelines, held-out label, one-version note, per-annotator agreement and
the progress page (one served app for all of those).

CI needs the apt package `chromium` (at /usr/bin/chromium) and the Python package `playwright`; never
`playwright install`: the browser is the system one."""
import os, time
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from rlhf_summ.feedback.registry import Registry
from rlhf_summ.feedback.store import ComparisonRow, Store
from test_serve import TEXTS, StandIn, free_port, start_server

CHROMIUM = Path('/usr/bin/chromium')
ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--no-first-run']


@contextmanager
def browser_page(runs: Path, port: int, log: Path, config: str):
    "`serve` in a subprocess (annotator alice) and a headless chromium page: yields `(page, base_url)`, stops both after."
    from playwright.sync_api import sync_playwright
    proc = start_server(runs, port, {'alice': 'tok-alice'}, log, config=config)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
            try: yield browser.new_page(), f'http://127.0.0.1:{port}'
            finally: browser.close()
    finally:
        proc.terminate(); proc.wait(30)


def log_in_and_upload(page, base: str, pdf: Path) -> None:
    "On the login page: log in as alice, upload `pdf`, wait for the first pair (the progress page reloads once one is ready)."
    page.fill('input[name=token]', 'tok-alice')
    page.click('button[type=submit]')
    page.wait_for_url(f'{base}/')
    page.set_input_files('input[name=file]', str(pdf))
    page.click('#upload button[type=submit]')
    page.wait_for_url('**/pairs/*', timeout=120_000)


@pytest.mark.skipif(not CHROMIUM.exists(), reason='/usr/bin/chromium is absent: `apt-get install -y chromium` to run the browser test')
def test_browser_upload_and_two_picks(tmp_path, shared_data):
    from rlhf_summ.policies.seq2seq import build_tiny_policy
    runs = tmp_path/'serve'
    registry = Registry(runs/'registry')
    registry.register('policy', build_tiny_policy('bart', texts=TEXTS, vocab_size=400, d_model=32, layers=1,
                                                  max_source_length=256, max_target_length=32))
    registry.register('reward', StandIn())
    port, log = free_port(), tmp_path/'server.log'
    # random pairs: a stand-in reward model cannot choose uncertain ones
    with browser_page(runs, port, log, "update_every=0, max_new_tokens=12, generation_batch=6, pairs='random'") as (page, base):
        page.goto(f'{base}/')
        assert page.url.endswith('/login')
        log_in_and_upload(page, base, shared_data/'pdfs'/'1703.00317.pdf')
        first = page.url
        assert 'Section 1 of 6' in page.inner_text('#progress')
        assert page.inner_text('#summary-a').strip() and page.inner_text('#summary-b').strip()
        assert 'policy/' not in page.content()               # blind: no version names on the page
        page.keyboard.press('1')                              # A is better
        page.wait_for_url(lambda url: url != first and '/pairs/' in url, timeout=60_000)
        assert 'Section 2 of 6' in page.inner_text('#progress')
        page.keyboard.press('b')                              # B is better
        page.wait_for_function("() => !document.querySelector('#progress') || "
                               "document.querySelector('#progress').innerText.includes('answered 2')", timeout=60_000)
        page.goto(f'{base}/stats')
        assert 'policy/v1' in page.inner_text('#counts') and page.inner_text('#current-policy') == 'policy/v1'
    store = Store.sqlite(runs/'feedback.sqlite')
    with store.reading() as s:
        rows = s.execute(select(ComparisonRow.annotator, ComparisonRow.pick, ComparisonRow.pair_id).order_by(ComparisonRow.id)).all()
    assert [(a, pick) for a, pick, _ in rows] == [('alice', 'a'), ('alice', 'b')]
    assert [store.pair(pid).position for *_, pid in rows] == [0, 1]
    store.close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason='/usr/bin/chromium is absent: `apt-get install -y chromium` to run the browser test')
def test_browser_default_extractive_summaries_of_an_uploaded_pdf(tmp_path, shared_data, trained_default, monkeypatch):
    "With the small default trained by the CLI (the session's `trained_default`), `serve` without naming a policy, upload a PDF: two readable summaries made of the section's sentences."
    from rlhf_summ.policies.extractive import default_extractive_dir
    from rlhf_summ.text import split_sentences
    from rlhf_summ.text.pdf import read_paper, sections_to_summarize
    monkeypatch.setenv('RLHF_SUMM_CACHE', str(trained_default.parent))       # the server subprocess inherits it
    assert default_extractive_dir() == trained_default
    pdf = shared_data/'pdfs'/'1703.00317.pdf'
    first_section = ' '.join(split_sentences(sections_to_summarize(read_paper(pdf))[0].text))
    runs, port, log = tmp_path/'serve', free_port(), tmp_path/'server.log'
    with browser_page(runs, port, log, "update_every=0, reward_model='tiny'") as (page, base):    # policy: the default
        page.goto(f'{base}/login')
        log_in_and_upload(page, base, pdf)
        assert 'Section 1 of' in page.inner_text('#progress')
        summaries = [' '.join(page.inner_text(f'#summary-{s}').split()) for s in 'ab']
    for summary in summaries:
        assert len(summary.split()) >= 5                                    # a readable sentence, not a fragment
        assert summary.removesuffix('\u2026') in first_section, f'{summary!r} is not made of the section\'s own sentences'


def pasted(i: int, split: str, sections: int) -> str:
    "A pasted text of `sections` headed sections whose hash puts it in `split` (at valid_fraction 0.5)."
    from rlhf_summ.feedback.store import document_key, split_for
    for n in range(1000):
        text = '\n'.join(f'# Part {s + 1}\n{TEXTS[(7 * i + s + n) % 60]} Variant {i}-{n}.' for s in range(sections))
        if split_for(document_key(text), 0.5) == split: return text
    raise AssertionError('no text found in the split')


@pytest.mark.skipif(not CHROMIUM.exists(), reason='/usr/bin/chromium is absent: `apt-get install -y chromium` to run the browser test')
def test_browser_picking_page_undo_guidelines_agreement_progress(tmp_path, monkeypatch):
    """One served app, one version: guidelines from the deployment's file, the 'two decodings' note, undo with `U`
    and a changed pick, the held-out label, per-annotator agreement with a second annotator, and the progress page
    with the reward model's accuracy plot after a real online update and a gate promotion."""
    import httpx
    from playwright.sync_api import sync_playwright
    from rlhf_summ.feedback.online import promote_if_better
    from rlhf_summ.policies.seq2seq import build_tiny_policy
    from rlhf_summ.reward import tiny_reward_model
    runs = tmp_path/'serve'
    registry = Registry(runs/'registry')
    tiny = dict(texts=TEXTS, vocab_size=400, d_model=32, layers=1, max_source_length=256, max_target_length=32)
    registry.register('policy', build_tiny_policy('bart', **tiny))
    registry.register('reward', tiny_reward_model(max_length=64))
    guide = tmp_path/'guidelines.txt'
    guide.write_text('Prefer the summary that names the dataset.\n\nSkip sections that are only a table.')
    monkeypatch.setenv('RLHF_SUMM_GUIDELINES_FILE', str(guide))
    tokens, port, log = {'alice': 'tok-alice', 'bob': 'tok-bob'}, free_port(), tmp_path/'server.log'
    shots = Path(os.environ.get('RLHF_SUMM_SCREENSHOTS', tmp_path))
    proc = start_server(runs, port, tokens, log, config='update_every=4, update_tolerance=1.0, valid_fraction=0.5, '
                                                         'max_new_tokens=12, generation_batch=6')
    base = f'http://127.0.0.1:{port}'
    api = httpx.Client(base_url=base, headers={'Authorization': 'Bearer tok-bob'}, timeout=30)
    try:
        train_doc = api.post('/api/documents', data={'text': pasted(0, 'train', 3), 'title': 'Training paper'}).json()['id']
        held_doc = api.post('/api/documents', data={'text': pasted(1, 'valid', 2), 'title': 'Held-out paper'}).json()['id']
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
            page = browser.new_page(viewport={'width': 1100, 'height': 900})
            page.goto(f'{base}/login'); page.fill('input[name=token]', 'tok-alice'); page.click('button[type=submit]')
            page.wait_for_url(f'{base}/')
            page.goto(f'{base}/documents/{held_doc}')
            page.wait_for_url('**/pairs/*', timeout=120_000)
            assert 'Held-out document' in page.inner_text('#held-out')
            assert page.locator('#guidelines').get_attribute('open') is not None          # open before the first pick
            assert 'names the dataset' in page.inner_text('#guidelines')
            assert 'greedy' in page.inner_text('#same-version')                            # one version: two decodings
            for key in '12':
                first = page.url
                page.keyboard.press(key)
                page.wait_for_url(lambda url: url != first, timeout=60_000)
            page.goto(f'{base}/documents/{train_doc}')
            page.wait_for_url('**/pairs/*', timeout=120_000)
            assert page.locator('#held-out').count() == 0 and page.locator('#guidelines').get_attribute('open') is None
            answered = page.url
            page.keyboard.press('1')                                                      # A is better ...
            page.wait_for_url(lambda url: url != answered and '/pairs/' in url, timeout=60_000)
            page.keyboard.press('u')                                                      # ... undo: back to it
            page.wait_for_url(answered)
            assert 'A is better' in page.inner_text('#your-pick')
            assert page.locator('#pick button.chosen').get_attribute('value') == 'a'
            page.screenshot(path=str(shots/'picking_page.png'), full_page=True)
            page.keyboard.press('2')                                                      # changed to B
            page.wait_for_url(lambda url: url != answered and '/pairs/' in url, timeout=60_000)
            for key in '11':
                first = page.url
                page.keyboard.press(key)
                page.wait_for_url(lambda url: url != first, timeout=60_000)
            # bob answers both documents through the API: the same on the held-out one, partly not on the other
            for doc, picks in ((held_doc, 'ab'), (train_doc, 'bab')):
                for pick in picks:
                    pair = api.get(f'/api/documents/{doc}/next').json()
                    assert api.post(f"/api/pairs/{pair['id']}/pick", json={'pick': pick}).status_code == 201
            deadline = time.time() + 120
            while time.time() < deadline:                                                # 6 training picks: one update
                stats = api.get('/api/stats').json()
                if stats['updates'] and not stats['update_running'] and stats['updates'][0]['status'] != 'running': break
                time.sleep(0.5)
            assert stats['updates'][0]['status'] in ('accepted', 'rejected'), stats['updates']
            page.goto(f'{base}/stats')
            assert 'held-out documents' in page.inner_text('#new-picks')
            rows = {r.get_attribute('data-annotator'): r.inner_text() for r in page.locator('#annotators tr[data-annotator]').all()}
            assert set(rows) == {'alice', 'bob'} and '80%' in rows['alice'], rows             # 4 of 5 shared answers equal
            page.goto(f'{base}/progress')                                                 # before any promotion
            assert '10 A/B picks since the current policy policy/v1' in ' '.join(page.inner_text('#since').split())
            assert {r.get_attribute('data-annotator'): r.inner_text().split()[-1]
                    for r in page.locator('#picks-by tr[data-annotator]').all()} == {'alice': '5', 'bob': '5'}
            # a gate promotes a second version (threshold 0: always), with its win rate and interval
            registry.register('policy', build_tiny_policy('bart', seed=1, **tiny), parents={'policy': 'v1'})
            promote_if_better(registry, 'v2', TEXTS[:4], registry.load('reward'), threshold=0.0, max_new_tokens=12)
            page.goto(f'{base}/progress')
            assert page.locator('#accuracy-plot svg').count() == 1
            assert 'policy/v2' in page.inner_text('#versions tr[data-version="policy/v2"]')
            assert 'on 4 sections over policy/v1' in page.inner_text('#versions tr[data-version="policy/v2"] .win')
            assert '0 A/B picks since the current policy policy/v2' in ' '.join(page.inner_text('#since').split())
            # a third version goes on trial (people's picks decide it), then its trial rejects it
            registry.register('policy', build_tiny_policy('bart', seed=2, **tiny), parents={'policy': 'v1'})
            registry.start_trial('policy', 'v3', min_picks=40)
            page.goto(f'{base}/progress')
            assert 'policy/v3 is on trial against policy/v2' in ' '.join(page.inner_text('#trial').split())
            assert 'on trial' in page.inner_text('#versions tr[data-version="policy/v3"]')
            registry.end_trial('policy', False, 'people preferred policy/v2',
                               dict(win_rate=0.3, win_low=0.18, win_high=0.45, n=40, against='policy/v2', judge="people's picks"))
            page.goto(f'{base}/progress')
            row = ' '.join(page.inner_text('#versions tr[data-version="policy/v3"]').split())
            assert 'rejected' in row and "on 40 picks over policy/v2, judged by people's picks" in row, row
            assert page.locator('#trial').count() == 0 and 'current' in page.inner_text('#versions tr[data-version="policy/v2"]')
            page.screenshot(path=str(shots/'progress_page.png'), full_page=True)
            browser.close()
    finally:
        api.close(); proc.terminate(); proc.wait(30)
    store = Store.sqlite(runs/'feedback.sqlite')
    with store.reading() as s:
        alice = s.execute(select(ComparisonRow.pick, ComparisonRow.revision, ComparisonRow.replaced_by)
                          .where(ComparisonRow.annotator == 'alice').order_by(ComparisonRow.id)).all()
    assert [(pick, rev) for pick, rev, _ in alice] == [('a', 0), ('b', 0), ('a', 0), ('b', 1), ('a', 0), ('a', 0)]
    assert alice[2][2] is not None and alice[3][2] is None                                  # the changed pick is kept, superseded
    store.close()
