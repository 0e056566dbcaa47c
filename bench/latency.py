"""Latency a person feels: seconds from uploading a 12-page shared PDF to all of its section pairs being ready.

The service is built the way `rlhf_summ.serve.serve` builds it (a fresh registry bootstrapped with the default policy
and reward model `serve` would register, `PolicySummarizer`, `build_service`, `create_app`), only driven in-process by
fastapi's `TestClient` instead of uvicorn. A short pasted text goes first, so the policy is loaded (what a running
server has done before anyone uploads); then the clock starts at the PDF upload (`POST /api/documents`: PDF parsing,
sectioning, storing) and stops when `GET /api/documents/{id}` says `ready` (the generation worker has written both
summaries of every section, `GenerationWorker.process`). The time of the upload request alone is printed too.
The extractive default's sentence vectors are cached per process: each upload starts with an empty cache (as for a
paper nobody uploaded before), so every sentence of the PDF is embedded inside the timed span.

    python bench/latency.py [--pdf ../shared/data/pdfs/2020.acl-main.207.pdf] [--policy DIR] [--threads N] [--repeats 3]

`--policy DIR` registers that policy folder (or Hub id) instead of `serve`'s default (`ServeConfig.policy`);
`--threads N` sets `ServeConfig.num_threads` (torch threads, set when the app starts; default: the service's).
Last line: `pdf_to_pairs_s=X upload_s=U sections=S pages=P pairs=N threads=T policy=NAME` (medians over `--repeats` uploads, each
into a fresh service so nothing is deduplicated or cached between them).
"""
import argparse, statistics, tempfile, time, warnings
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / 'shared' / 'data'
TOKEN = 'bench-token'


def one_upload(pdf: bytes, args, root: Path) -> dict:
    from fastapi.testclient import TestClient
    from pydantic import SecretStr
    from rlhf_summ.registry import Registry
    from rlhf_summ.serve import (PolicySummarizer, ServeConfig, ServiceSettings, bootstrap_registry, build_service,
                                 create_app)
    from rlhf_summ.extractive import sentence_encoder
    sentence_encoder.cache_clear()       # a fresh process-wide sentence encoder: no vectors cached by an earlier upload
    config = ServeConfig(runs_dir=str(root), registry_dir=str(root / 'registry'), policy=args.policy or '',
                         **({} if args.threads is None else {'num_threads': args.threads}))
    settings = ServiceSettings(annotator_tokens={'bench': SecretStr(TOKEN)}, secret_key=SecretStr('bench'))
    registry = Registry(config.registry_dir)
    bootstrap_registry(registry, config)
    summarize = PolicySummarizer(registry, config.max_new_tokens, config.temperature, config.generation_batch)
    service = build_service(config, settings, registry, summarize)
    headers = {'Authorization': f'Bearer {TOKEN}'}
    with TestClient(create_app(service)) as client:
        def wait(doc_id):
            while (d := client.get(f'/api/documents/{doc_id}', headers=headers).json())['status'] not in ('ready', 'failed'):
                time.sleep(0.01)
            if d['status'] == 'failed': raise RuntimeError(f"generation failed: {d}")
            return d
        r = client.post('/api/documents', data={'text': '# Intro\nWe warm the service up.\n# Method\nA short text.',
                                                'title': 'warm-up'}, headers=headers)
        wait(r.json()['id'])
        start = time.perf_counter()
        r = client.post('/api/documents', files={'file': (args.pdf.name, pdf, 'application/pdf')}, headers=headers)
        uploaded = time.perf_counter()
        if r.status_code != 201: raise RuntimeError(f"upload of {args.pdf} refused: {r.status_code} {r.text}")
        doc = wait(r.json()['id'])
        done = time.perf_counter()
    return {'total': done - start, 'upload': uploaded - start, 'sections': doc['num_sections'], 'pairs': doc['num_pairs'],
            'policy': registry.current('policy').name, 'threads': config.num_threads}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--pdf', type=Path, default=DATA / 'pdfs' / '2020.acl-main.207.pdf')
    parser.add_argument('--policy', default=None, help="policy folder or Hub id (default: what `serve` registers)")
    parser.add_argument('--threads', type=int, default=None, help="ServeConfig.num_threads (default: the service's)")
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings('ignore')
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error(); hf_logging.disable_progress_bar()
    if not args.pdf.is_file(): raise SystemExit(f"no PDF at {args.pdf}")
    from rlhf_summ.pdf import read_paper
    pdf = args.pdf.read_bytes()
    pages = read_paper(pdf).pages_read
    runs = []
    for i in range(args.repeats):
        with tempfile.TemporaryDirectory() as d: runs.append(one_upload(pdf, args, Path(d)))
        r = runs[-1]
        print(f"upload {i}: {r['total']:.2f} s to {r['pairs']} pairs ({r['upload']:.2f} s in the upload request); "
              f"{r['sections']} sections; policy {r['policy']}", flush=True)
    total, upload = statistics.median(r['total'] for r in runs), statistics.median(r['upload'] for r in runs)
    print(f"pdf_to_pairs_s={total:.2f} upload_s={upload:.2f} sections={runs[0]['sections']} pages={pages} "
          f"pairs={runs[0]['pairs']} threads={runs[0]['threads']} policy={runs[0]['policy']}")


if __name__ == '__main__':
    main()
