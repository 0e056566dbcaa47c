"""Latency a person feels: seconds from uploading a 12-page shared PDF to all of its section pairs being ready.

The service is built the way `rlhf_summ.feedback.serve.serve` builds it (a fresh registry bootstrapped with the default policy
and reward model `serve` would register, `PolicySummarizer`, `build_service`, `create_app`), only driven in-process by
fastapi's `TestClient` instead of uvicorn. A short pasted text goes first, so the policy is loaded (what a running
server has done before anyone uploads); then the clock starts at the PDF upload (`POST /api/documents`: PDF parsing,
sectioning, storing) and stops when `GET /api/documents/{id}` says `ready` (the generation worker has written both
summaries of every section, `GenerationWorker.process`). The time of the upload request alone is printed too.
The extractive default's sentence vectors are cached per process: each upload starts with an empty cache (as for a
paper nobody uploaded before), so every sentence of the PDF is embedded inside the timed span.

    python bench/latency.py [--pdf ../shared/data/pdfs/2020.acl-main.207.pdf] [--policy DIR] [--threads N] [--repeats 3]

`--policy DIR` registers that policy folder (or Hub id) instead of `serve`'s default (`ServeConfig.policy`);
`--threads N` sets `ServeConfig.num_threads` (torch threads, set when the app starts; default: the service's);
`--pairs random|uncertainty` sets how pairs are chosen (`ServeConfig.pairs`; default: the service's).
Last line: `pdf_to_pairs_s=X upload_s=U sections=S pages=P pairs=N threads=T policy=NAME load=L` (medians over `--repeats` uploads, each
into a fresh service so nothing is deduplicated or cached between them; L the load average after them).

`--cli` measures instead what a user of `rlhf-summ summarize --input PDF` waits for, from a cold process. Each round
runs two fresh processes: the real command (`rlhf_summ.cli.main`, what the `rlhf-summ` script runs), timed from start to exit with its
peak resident memory (`total_s`, `peak_mb`), and a probe that does the same steps with a clock between them:
`import_s` (importing the CLI, the PDF reader and the policy code: what `summarize` imports), `load_s` (the policy
and its sentence encoder), `read_s` (reading the PDF into sections), `embed_s` (embedding every sentence of the
sections), and the selection after. The real command reads the PDF in a child process while it loads the policy
(`pdf.BoundedRead`), so its `total_s` is less than the probe's parts added up. Medians over `--repeats` rounds; `summaries_sha` is a digest of the summaries
(equal digests: identical summaries), and `--save FILE` writes them. The policy is the trained default of
`$RLHF_SUMM_CACHE` unless `--policy DIR`.

    python bench/latency.py --cli [--pdf ...] [--policy DIR] [--repeats 3] [--save summaries.json]

Last line: `import_s=.. load_s=.. read_s=.. embed_s=.. total_s=.. peak_mb=.. sections=S summaries_sha=H load=L`.
"""
import argparse, hashlib, json, os, statistics, subprocess, sys, tempfile, time, warnings
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / 'shared' / 'data'
TOKEN = 'bench-token'


def one_upload(pdf: bytes, args, root: Path) -> dict:
    from fastapi.testclient import TestClient
    from pydantic import SecretStr
    from rlhf_summ.feedback.registry import Registry
    from rlhf_summ.feedback.serve import (PolicySummarizer, ServeConfig, ServiceSettings, bootstrap_registry, build_service,
                                 create_app)
    from rlhf_summ.policies.extractive import sentence_encoder
    sentence_encoder.cache_clear()       # a fresh process-wide sentence encoder: no vectors cached by an earlier upload
    config = ServeConfig(service_dir=str(root), registry_dir=str(root / 'registry'), policy=args.policy or '',
                         **({} if args.threads is None else {'num_threads': args.threads}),
                         **({} if args.pairs is None else {'pairs': args.pairs}))
    settings = ServiceSettings(annotator_tokens={'bench': SecretStr(TOKEN)}, secret_key=SecretStr('bench'))
    registry = Registry(config.registry_dir)
    bootstrap_registry(registry, config)
    summarize = PolicySummarizer(registry, config.max_new_tokens, config.pair_temperature, config.generation_batch)
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


CLI = ("import atexit, resource, sys; atexit.register(lambda: print(f'peak_rss_kb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}', "
       "file=sys.stderr)); from rlhf_summ.cli import main; sys.exit(main())")
"The `rlhf-summ` console script, printing its peak resident memory on stderr at exit."

PROBE = """
import json, sys, time
start = time.perf_counter()
from rlhf_summ.cli import SummarizeConfig
from rlhf_summ.text.pdf import read_paper, sections_to_summarize
from rlhf_summ.policies import load_policy
t_import = time.perf_counter()
policy = load_policy(sys.argv[2])
encoder = policy.encoder
t_load = time.perf_counter()
config = SummarizeConfig(input=sys.argv[1])
sections = [(s.heading, s.text) for s in sections_to_summarize(read_paper(config.input, max_pages=config.max_pages))]
t_read = time.perf_counter()
sentences, titles, _ = policy.split([text for _, text in sections])
encoder.encode([s for doc in sentences for s in doc])
t_embed = time.perf_counter()
generation = policy.generate([text for _, text in sections], max_new_tokens=config.max_new_tokens, num_beams=config.num_beams)
t_end = time.perf_counter()
print(json.dumps({'import_s': t_import - start, 'load_s': t_load - t_import, 'read_s': t_read - t_load,
                  'embed_s': t_embed - t_read, 'select_s': t_end - t_embed, 'sentences': sum(map(len, sentences))}))
"""


def cold_cli(args) -> None:
    "The `--cli` bench: cold `summarize` processes (see the module docstring)."
    policy = args.policy or ''
    # fresh processes import the package of $PYTHONPATH (default: this checkout), from a neutral folder (not the cwd)
    env = {**os.environ, 'PYTHONPATH': os.environ.get('PYTHONPATH') or str(Path(__file__).resolve().parents[1])}
    neutral = tempfile.mkdtemp()
    rounds = []
    for i in range(args.repeats):
        before = load()
        real = [sys.executable, '-c', CLI, 'summarize', '--input', str(args.pdf.resolve())] + (['--policy', str(Path(policy).resolve())] if policy else [])
        start = time.perf_counter()
        proc = subprocess.run(real, capture_output=True, text=True, env=env, cwd=neutral)
        total = time.perf_counter() - start
        if proc.returncode != 0: raise SystemExit(f"summarize failed ({proc.returncode}): {proc.stderr[-2000:]}")
        out = proc.stdout
        peak_mb = int(proc.stderr.split('peak_rss_kb=')[-1].split()[0]) / 1024
        rows = [json.loads(line) for line in out.splitlines() if line.startswith('{')]
        probe = subprocess.run([sys.executable, '-c', PROBE, str(args.pdf.resolve()), str(Path(policy).resolve()) if policy else ''], capture_output=True, text=True, env=env, cwd=neutral)
        if probe.returncode != 0: raise SystemExit(f"probe failed: {probe.stderr[-2000:]}")
        r = json.loads(probe.stdout.strip().splitlines()[-1]) | {'total_s': total, 'peak_mb': peak_mb, 'rows': rows}
        rounds.append(r)
        print(f"round {i}: total {total:.2f} s, peak {peak_mb:.0f} MB, {len(rows)} sections; probe: import {r['import_s']:.2f} s, "
              f"load {r['load_s']:.2f} s, read {r['read_s']:.2f} s, embed {r['embed_s']:.2f} s ({r['sentences']} sentences), "
              f"select {r['select_s']:.2f} s; load {before} -> {load()}", flush=True)
    if any(r['rows'] != rounds[0]['rows'] for r in rounds): print("the summaries differ between rounds")
    if args.save: Path(args.save).write_text(json.dumps(rounds[0]['rows'], indent=1, ensure_ascii=False))
    sha = hashlib.sha1(json.dumps(rounds[0]['rows'], sort_keys=True).encode()).hexdigest()[:12]
    med = lambda k: statistics.median(r[k] for r in rounds)
    print(' '.join(f"{k}={med(k):.2f}" for k in ('import_s', 'load_s', 'read_s', 'embed_s', 'total_s'))
          + f" peak_mb={max(r['peak_mb'] for r in rounds):.0f} sections={len(rounds[0]['rows'])} summaries_sha={sha} load={load()}")


def load() -> str: return Path('/proc/loadavg').read_text().split()[0] if Path('/proc/loadavg').exists() else 'n/a'


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--pdf', type=Path, default=DATA / 'pdfs' / '2020.acl-main.207.pdf')
    parser.add_argument('--policy', default=None, help="policy folder or Hub id (default: what `serve` registers)")
    parser.add_argument('--threads', type=int, default=None, help="ServeConfig.num_threads (default: the service's)")
    parser.add_argument('--pairs', default=None, choices=('random', 'uncertainty'), help="ServeConfig.pairs (default: the service's)")
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--cli', action='store_true', help='time cold `rlhf-summ summarize` processes instead of the service')
    parser.add_argument('--save', default=None, help='--cli: write the summaries to this JSON file')
    args = parser.parse_args()
    warnings.filterwarnings('ignore')
    if args.cli: return cold_cli(args)
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error(); hf_logging.disable_progress_bar()
    if not args.pdf.is_file(): raise SystemExit(f"no PDF at {args.pdf}")
    from rlhf_summ.text.pdf import read_paper
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
          f"pairs={runs[0]['pairs']} threads={runs[0]['threads']} policy={runs[0]['policy']} load={load()}")


if __name__ == '__main__':
    main()
