"""A real browser (Debian's chromium, driven by Playwright) logs in, uploads a real PDF, answers two sections with
the keyboard shortcuts, and the two picks are in the database.

CI needs the apt package `chromium` (at /usr/bin/chromium) and the Python package `playwright`; never
`playwright install`: the browser is the system one."""
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from rlhf_summ.registry import Registry
from rlhf_summ.store import ComparisonRow, Store
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
    from rlhf_summ.policy import build_tiny_policy
    runs = tmp_path/'serve'
    registry = Registry(runs/'registry')
    registry.register('policy', build_tiny_policy('bart', texts=TEXTS, vocab_size=400, d_model=32, layers=1,
                                                  max_source_length=256, max_target_length=32))
    registry.register('reward', StandIn())
    port, log = free_port(), tmp_path/'server.log'
    with browser_page(runs, port, log, 'update_every=0, max_new_tokens=12, generation_batch=6') as (page, base):
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
def test_browser_default_extractive_summaries_of_an_uploaded_pdf(tmp_path, shared_data, monkeypatch):
    "From a fresh cache: train the small default with the CLI, `serve` without naming a policy, upload a PDF: two readable summaries made of the section's sentences."
    from rlhf_summ.cli import run_command
    from rlhf_summ.extractive import default_extractive_dir
    from rlhf_summ.text import split_sentences
    from rlhf_summ.pdf import read_paper, sections_to_summarize
    monkeypatch.setenv('RLHF_SUMM_CACHE', str(tmp_path/'cache'))            # the server subprocess inherits it
    trained = run_command(['train-extractive', '--data', str(shared_data/'scitldr'), '--data_limit', '24', '--epochs', '2',
                           '--batch_size', '8', '--d_model', '32', '--layers', '1', '--heads', '2', '--eval_limit', '4',
                           '--progress', 'false'])
    assert trained == default_extractive_dir()
    pdf = shared_data/'pdfs'/'1703.00317.pdf'
    first_section = ' '.join(split_sentences(sections_to_summarize(read_paper(pdf))[0].text))
    runs, port, log = tmp_path/'serve', free_port(), tmp_path/'server.log'
    with browser_page(runs, port, log, "update_every=0, reward='tiny'") as (page, base):    # policy: the default
        page.goto(f'{base}/login')
        log_in_and_upload(page, base, pdf)
        assert 'Section 1 of' in page.inner_text('#progress')
        summaries = [' '.join(page.inner_text(f'#summary-{s}').split()) for s in 'ab']
    for summary in summaries:
        assert len(summary.split()) >= 5                                    # a readable sentence, not a fragment
        assert summary in first_section, f'{summary!r} is not made of the section\'s own sentences'
