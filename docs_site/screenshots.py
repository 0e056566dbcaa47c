#!/usr/bin/env python
"""Screenshots of the feedback web app for the docs site (nbs/images/*.png, shown on the `serve` page).

Runs the real app in-process on a free localhost port with a trained extractive policy (default: the one
`rlhf-summ train-extractive` writes), uploads real PDFs through the API, and drives Debian's Chromium with
Playwright: the picking page on a first visit (guidelines open), then two scripted annotators answer every pair
through the API (one prefers the summary that states a result, the other agrees with her 80% of the time),
online reward-model updates run on their picks, and the stats and progress pages are captured.

Usage: python docs_site/screenshots.py PDF [PDF ...] [--policy DIR] [--out nbs/images]
"""
from __future__ import annotations
import argparse, random, re, socket, tempfile, threading, time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
RESULT = re.compile(r'\d|\b(outperform|improve|achieve|reduce|show|find)\w*', re.I)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def main(pdfs: list[Path], policy: str, out: Path, chromium: str = '/usr/bin/chromium') -> list[Path]:
    import uvicorn
    from playwright.sync_api import sync_playwright
    from rlhf_summ.policies.extractive import default_extractive_dir
    from rlhf_summ.feedback.registry import Registry
    from rlhf_summ.reward import RewardModel
    from rlhf_summ.feedback.serve import PolicySummarizer, ServeConfig, ServiceSettings, build_service, create_app
    out.mkdir(parents=True, exist_ok=True)
    runs = Path(tempfile.mkdtemp(prefix='rlhf-summ-screens-'))
    registry = Registry(runs/'registry')
    registry.register('policy', src_dir=policy or default_extractive_dir(), data={'source': 'default extractive policy'}, promote=True)
    registry.register('reward', RewardModel.from_pretrained('minilm'), data={'source': 'minilm'}, promote=True)
    config = ServeConfig(service_dir=str(runs), update_every=8, valid_fraction=0.3, port=free_port())
    settings = ServiceSettings(annotator_tokens={'alice': 'tok-alice', 'bob': 'tok-bob'}, admins=['alice'], secret_key='screens')
    service = build_service(config, settings, registry, PolicySummarizer(registry, config.max_new_tokens, config.pair_temperature))
    server = uvicorn.Server(uvicorn.Config(create_app(service), host='127.0.0.1', port=config.port, log_level='warning'))
    threading.Thread(target=server.run, daemon=True).start()
    base = f'http://127.0.0.1:{config.port}'
    while not server.started: time.sleep(0.1)
    clients = {name: httpx.Client(base_url=base, headers={'Authorization': f'Bearer tok-{name}'}, timeout=120) for name in ('alice', 'bob')}
    docs = [clients['bob'].post('/api/documents', files={'file': (p.name, p.read_bytes(), 'application/pdf')}).json()['id'] for p in pdfs]
    for d in docs:
        while clients['bob'].get(f'/api/documents/{d}').json()['status'] not in ('ready', 'failed'): time.sleep(0.5)
    shots = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=['--no-sandbox', '--disable-gpu'])
        page = browser.new_page(viewport={'width': 1100, 'height': 900})
        page.goto(f'{base}/login'); page.fill('input[name=token]', 'tok-alice'); page.click('button[type=submit]')
        page.wait_for_url(f'{base}/')
        page.goto(f'{base}/documents/{docs[0]}'); page.wait_for_url('**/pairs/*')
        page.screenshot(path=str(out/'picking_page.png'), full_page=True); shots.append(out/'picking_page.png')
        rng = random.Random(0)
        for d in docs:   # scripted annotators: alice prefers a summary that states a result; bob agrees 80% of the time
            while (pair := clients['alice'].get(f'/api/documents/{d}/next').json()) is not None:
                a, b = (len(RESULT.findall(pair[f'summary_{s}'])) for s in 'ab')
                pick = 'a' if a > b else 'b' if b > a else rng.choice('ab')
                clients['alice'].post(f"/api/pairs/{pair['id']}/pick", json={'pick': pick})
                other = pick if rng.random() < 0.8 else {'a': 'b', 'b': 'a'}[pick]
                clients['bob'].post(f"/api/pairs/{pair['id']}/pick", json={'pick': other})
        while service.store.num_new() >= config.update_every or (service.online and service.online.running): time.sleep(1)
        for name in ('stats', 'progress'):
            page.goto(f'{base}/{name}')
            page.screenshot(path=str(out/f'{name}_page.png'), full_page=True); shots.append(out/f'{name}_page.png')
        browser.close()
    server.should_exit = True
    return shots


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('pdfs', nargs='+', type=Path, help='PDFs to upload (the first one is shown on the picking page)')
    ap.add_argument('--policy', default='', help='extractive policy folder (default: the trained default)')
    ap.add_argument('--out', type=Path, default=REPO/'nbs'/'images', help='where the PNGs go')
    args = ap.parse_args()
    for shot in main(args.pdfs, args.policy, args.out): print(shot)
