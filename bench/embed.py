"""Sentence embedding speed: our `SentenceEncoder` against sentence-transformers' `SentenceTransformer.encode`, the peer a
user would pick (the same all-MiniLM-L6-v2, batches sorted by length), on the same sentences in the same process.

The sentences are the first `--sentences` (default 10,000) of the distinct sentences of SciTLDR (train and dev
abstracts) and ScisummNet (abstracts and section sentences) in a fixed shuffled order. Both sides embed all of them
from text (tokenization included) with `--threads` torch threads, truncating at 128 tokens (`SentenceEncoder`'s
`max_length`; sentence-transformers' `max_seq_length` is set to the same). Each round times both, in alternating
order; the figures are medians over `--rounds` rounds, the ratio the median of the rounds' ratios. Ours runs in
its default number format (bf16 on a CPU with AVX512-BF16 or AMX); its vectors are compared with
sentence-transformers' fp32 ones (which equal the `transformers` fp32 vectors the encoder made before, to 1e-6)
by cosine. `--fp32` also times ours in fp32. The machine's load average is printed beside each round.

    python bench/embed.py [--sentences 10000] [--rounds 3] [--threads N] [--fp32]

It also runs on a checkout from before `rlhf_summ.policies.encoder` (`PYTHONPATH=that/checkout`): "ours" is then the old
`transformers`-based encoder (fp32), which gives the before figure on the same sentences.

Last line: `sentences=N ours_per_s=X st_per_s=Y ratio=R cos_min=C cos_mean=M dtype=D threads=T load=L`.
"""
import argparse, json, os, random, statistics, time, warnings
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / 'shared' / 'data'


def load() -> str: return Path('/proc/loadavg').read_text().split()[0] if Path('/proc/loadavg').exists() else 'n/a'


def bench_sentences(n: int, data: Path = DATA) -> list[str]:
    "The first `n` distinct SciTLDR and ScisummNet sentences in a fixed shuffled order."
    out = []
    for name in ('train.jsonl', 'dev.jsonl'):
        for line in open(data / 'scitldr' / name, encoding='utf-8'): out += json.loads(line)['source']
    for line in open(data / 'scisummnet' / 'scisummnet.jsonl', encoding='utf-8'):
        row = json.loads(line)
        out += row.get('abstract') or []
        for section in row.get('sections') or []: out += section.get('sentences') or []
    seen = set()
    distinct = [s for s in out if s.strip() and not (s in seen or seen.add(s))]
    random.Random(0).shuffle(distinct)
    if len(distinct) < n: raise SystemExit(f"only {len(distinct)} distinct sentences in {data}")
    return distinct[:n]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sentences', type=int, default=10_000)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--threads', type=int, default=None, help='torch threads for both (default: the cores available)')
    parser.add_argument('--fp32', action='store_true', help='also time our encoder in fp32')
    parser.add_argument('--data', type=Path, default=DATA)
    args = parser.parse_args()
    warnings.filterwarnings('ignore')
    import torch
    from rlhf_summ.config import minilm_path
    try: from rlhf_summ.policies.encoder import SentenceEncoder, available_cores
    except ImportError:                       # a checkout from before rlhf_summ.policies.encoder (the "before" figure)
        from rlhf_summ.policies.extractive import SentenceEncoder
        available_cores = lambda: len(os.sched_getaffinity(0))
    threads = args.threads or available_cores()
    torch.set_num_threads(threads)
    sentences = bench_sentences(args.sentences, args.data)
    def make(**kw):
        try: return SentenceEncoder(threads=threads, **kw)
        except TypeError: return SentenceEncoder()    # before rlhf_summ.policies.encoder: no threads or dtype (fp32, torch's threads)
    t0 = time.perf_counter(); ours = make(); ours_load = time.perf_counter() - t0
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error(); hf_logging.disable_progress_bar()
    t0 = time.perf_counter(); st = SentenceTransformer(str(minilm_path()), device='cpu'); st_load = time.perf_counter() - t0
    st.max_seq_length = ours.max_length
    fp32 = make(dtype='float32') if args.fp32 else None
    dtype = str(getattr(ours, 'dtype', torch.float32)).replace('torch.', '')
    print(f"{len(sentences)} sentences, {threads} threads, ours in {dtype}; load: ours {ours_load:.2f} s, "
          f"sentence-transformers {st_load:.2f} s (transformers imported before: not a cold-start figure)", flush=True)

    def run_ours(encoder):
        torch.set_num_threads(threads)
        t0 = time.perf_counter()
        if hasattr(encoder, 'embed'): v = encoder.embed(sentences)
        else: encoder.cache.clear(); v = encoder.encode(sentences)       # before rlhf_summ.policies.encoder: encode, cache emptied
        return v, len(sentences) / (time.perf_counter() - t0)

    def run_st():
        torch.set_num_threads(threads)
        t0 = time.perf_counter()
        v = st.encode(sentences, batch_size=32, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=False)
        return v.float().cpu(), len(sentences) / (time.perf_counter() - t0)

    rows = []
    for r in range(args.rounds):
        before = load()
        if r % 2 == 0: (v_ours, ours_s), (v_st, st_s) = run_ours(ours), run_st()
        else: (v_st, st_s), (v_ours, ours_s) = run_st(), run_ours(ours)
        row = {'ours': ours_s, 'st': st_s, 'ratio': ours_s / st_s}
        if fp32 is not None:
            v32, row['fp32'] = run_ours(fp32)
            row['fp32_cos_min'] = (v32 * v_st).sum(-1).min().item()
        rows.append(row)
        print(f"round {r}: ours {ours_s:.1f}/s, sentence-transformers {st_s:.1f}/s, ratio {row['ratio']:.2f}"
              + (f", ours fp32 {row['fp32']:.1f}/s (cos_min {row['fp32_cos_min']:.6f})" if fp32 is not None else '')
              + f"; load {before} -> {load()}", flush=True)
    cos = (v_ours * v_st).sum(-1)
    med = lambda k: statistics.median(r[k] for r in rows)
    extra = f" fp32_per_s={med('fp32'):.1f} fp32_ratio={med('fp32') / med('st'):.2f}" if fp32 is not None else ''
    print(f"sentences={len(sentences)} ours_per_s={med('ours'):.1f} st_per_s={med('st'):.1f} ratio={med('ratio'):.2f} "
          f"cos_min={cos.min().item():.6f} cos_mean={cos.mean().item():.6f}{extra} dtype={dtype} "
          f"threads={threads} load={load()}")


if __name__ == '__main__':
    main()
