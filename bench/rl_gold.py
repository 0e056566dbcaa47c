"""Controlled RLHF experiment with a known gold reward, on CPU in a few minutes.

1. SFT: a tiny BART (byte-level BPE trained on the texts) fine-tuned briefly on real SciTLDR pairs
   (abstract opening -> author TL;DR).
2. Gold reward, known and scripted: the share of a summary's words that belong to a fixed keyword set
   (`KEYWORDS`), a stand-in for "what people prefer" that we can compute exactly.
3. Proxy reward model: the default reward model on a tiny random BERT (`rlhf_summ.reward`) trained with `train_reward` on
   comparisons between SFT samples, labeled by the gold reward (as human labelers would label them).
4. PPO and RLOO (`rlhf_summ.rl.train_rl`) against the *proxy*, from the same SFT policy.
5. On held-out documents: the gold reward of sampled summaries before and after, and the KL to the SFT
   policy (mean summed per-token log-ratio of the samples, nats per summary).

Usage: python bench/rl_gold.py [--steps 40] [--threads 1] [--out DIR]
The last line reads: ppo_gold_before=A ppo_gold_after=B ppo_kl=C rloo_gold_before=D rloo_gold_after=E rloo_kl=F
"""
import argparse, json, logging, os, re, sys, tempfile, time, warnings
from pathlib import Path

import torch

warnings.filterwarnings('ignore')
logging.getLogger('rlhf_summ.policies.seq2seq').setLevel(logging.ERROR)
os.environ.setdefault('HF_HUB_OFFLINE', '1')

from transformers.utils import logging as hf_logging
hf_logging.set_verbosity_error(); hf_logging.disable_progress_bar()

from rlhf_summ.config import set_seed
from rlhf_summ.data import Comparison, Document, SummaryPair, load_summary_pairs, split_by_document
from rlhf_summ.policies.seq2seq import Policy, SFTConfig, train_sft
from rlhf_summ.reward import RewardConfig, tiny_reward_model, train_reward
from rlhf_summ.rl import RLConfig, reward_model_fn, sample_stats, train_rl

KEYWORDS = frozenset('we propose novel new method methods model models learning neural network networks deep training '
                     'data approach framework algorithm efficient robust improve improves performance'.split())
"The gold reward's keyword set."

def gold_reward(documents, summaries) -> torch.Tensor:
    "Share of each summary's words that are in `KEYWORDS` (0 for an empty summary)."
    out = []
    for s in summaries:
        words = re.findall(r'[a-z]+', s.lower())
        out.append(sum(w in KEYWORDS for w in words) / len(words) if words else 0.0)
    return torch.tensor(out)

def shared_data() -> Path:
    here = Path(__file__).resolve().parents[1]
    return Path(os.environ.get('RLHF_SUMM_SHARED_DATA', here.parent / 'shared' / 'data'))

def opening(text: str, words: int) -> str:
    "The first `words` words of `text`."
    return ' '.join(text.split()[:words])

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--steps', type=int, default=40, help='PPO/RLOO iterations')
    ap.add_argument('--sft-steps', type=int, default=400)
    ap.add_argument('--rm-steps', type=int, default=300)
    ap.add_argument('--rm-docs', type=int, default=1000, help='documents whose two SFT samples are compared')
    ap.add_argument('--eval-docs', type=int, default=96)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--out', default='', help='folder for the runs (default: a temporary folder)')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t_start = time.time()
    out = Path(args.out or tempfile.mkdtemp(prefix='rl_gold_'))
    out.mkdir(parents=True, exist_ok=True)
    set_seed(args.seed)

    # 1. data and SFT
    data = shared_data() / 'scitldr'
    if not data.is_dir(): sys.exit(f"SciTLDR not found at {data} (set RLHF_SUMM_SHARED_DATA)")
    pairs = [SummaryPair(Document(p.document.id, opening(p.document.text, 60), source='scitldr'), opening(p.summary, 30), 'scitldr')
             for p in load_summary_pairs(data / 'train.jsonl')]
    train_pairs, heldout = split_by_document(pairs, 0.1, args.seed)
    sft_cfg = SFTConfig(model='tiny-bart', steps=args.sft_steps, batch_size=16, lr=1e-3, warmup_steps=20, max_source_length=96,
                        max_target_length=40, tiny_vocab_size=2000, tiny_d_model=64, tiny_layers=2, eval_every=0, save_every=0,
                        rouge_samples=0, log_every=50, output_dir=str(out / 'sft'), seed=args.seed, progress=False)
    t = time.time()
    sft_dir = train_sft(sft_cfg, train_pairs, heldout[:32])
    print(f"sft: {len(train_pairs)} pairs, {args.sft_steps} steps, {time.time() - t:.0f}s")

    # 2-3. comparisons between SFT samples, labeled by the gold reward; the proxy reward model
    sft = Policy.from_pretrained(sft_dir); sft.model.eval()
    rm_docs = [p.document for p in train_pairs[:args.rm_docs]]
    texts = [d.text for d in rm_docs]
    gens = [sft.generate(texts, max_new_tokens=32, do_sample=True, temperature=1.0, seed=args.seed + i, batch_size=64) for i in range(2)]
    golds = [gold_reward(texts, g.summaries) for g in gens]
    comparisons = [Comparison(doc, gens[0].summaries[i], gens[1].summaries[i], choice=float(golds[1][i] > golds[0][i]), source='gold')
                   for i, doc in enumerate(rm_docs) if golds[0][i] != golds[1][i]]
    rm_train, rm_val = split_by_document(comparisons, 0.2, args.seed)
    tiny_rm = tiny_reward_model(max_length=128, seed=args.seed).save(out / 'rm_init')
    t = time.time()
    rm_run = train_reward(RewardConfig(model=str(tiny_rm), max_length=128, batch_size=16, lr=0.05, steps=args.rm_steps,
                                       eval_every=args.rm_steps, save_every=args.rm_steps, eval_at_start=False, seed=args.seed,
                                       runs_root=str(out), device='cpu', progress=False, warmup_ratio=0.05),
                          rm_train, rm_val)
    rm_acc = json.loads((rm_run / 'eval.json').read_text())['accuracy']
    print(f"proxy rm: {len(rm_train)} train / {len(rm_val)} held-out gold-labeled comparisons, held-out accuracy {rm_acc:.3f}, "
          f"{time.time() - t:.0f}s")
    proxy = reward_model_fn(rm_run / 'model', 'cpu')

    # 4-5. PPO and RLOO against the proxy; gold and KL on held-out documents before and after
    eval_docs = [p.document.text for p in heldout[:args.eval_docs]]
    rewards = {'gold': gold_reward, 'proxy': proxy}
    common = dict(sft_model=str(sft_dir), steps=args.steps, max_new_tokens=32, temperature=0.7, kl_coef=0.05,
                  missing_eos_penalty=-1.0, lr=3e-4, seed=args.seed, cpu=True)
    configs = {'ppo': RLConfig(algo='ppo', batch_size=16, minibatch_size=8, num_epochs=4, **common),
               'rloo': RLConfig(algo='rloo', batch_size=4, rloo_k=4, minibatch_size=8, num_epochs=4, **common)}
    before = sample_stats(sft, sft.model, eval_docs, rewards, temperature=0.7, max_new_tokens=32, seed=args.seed + 1)
    print(f"sft samples: gold {before['gold']:.4f}, proxy {before['proxy']:.3f}, length {before['response_length']:.1f}, "
          f"no-EOS {before['no_eos_frac']:.2f}")
    results = {}
    for algo, cfg in configs.items():
        t = time.time()
        cfg.output_dir = str(out / algo)
        run = train_rl(cfg, [p.document for p in train_pairs], reward_fn=proxy)
        policy = Policy.from_pretrained(run); policy.model.eval()
        after = sample_stats(policy, sft.model, eval_docs, rewards, temperature=0.7, max_new_tokens=32, seed=args.seed + 1)
        results[algo] = (before['gold'], after['gold'], after['kl'])
        print(f"{algo}: {cfg.steps} steps, {time.time() - t:.0f}s; gold {before['gold']:.4f} -> {after['gold']:.4f}, "
              f"proxy {before['proxy']:.3f} -> {after['proxy']:.3f}, KL {after['kl']:.3f} nats/summary, "
              f"length {after['response_length']:.1f}, no-EOS {after['no_eos_frac']:.2f}")
        gen = policy.generate(eval_docs[:2], max_new_tokens=32, do_sample=True, temperature=0.7, seed=0)
        for s in gen.summaries: print(f"   sample: {s}")
    print(f"total {time.time() - t_start:.0f}s with {args.threads} thread(s); runs in {out}")
    print(' '.join(f"{algo}_{k}={v:.4f}" for algo, vals in results.items()
                   for k, v in zip(('gold_before', 'gold_after', 'kl'), vals)))

if __name__ == '__main__':
    main()
