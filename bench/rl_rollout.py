"""Time an RLOO rollout (`rlhf_summ.rl.collect_rollout`) before and after "each distinct source is worked on once".

What: one RLOO rollout of 8 distinct SciTLDR sources x k=4 samples (32 summaries of up to 48 tokens, 1 torch
thread, chunks of 16 rows as `RLConfig.rollout_batch_size`) on a tiny BART (d_model 128, 2+2 layers, a
4000-token BPE trained on SciTLDR; random weights, so nearly every sample runs the full 48 tokens and the
work per round is the same), with a scripted reward. Two versions of the rollout:

- old: the rollout as it was before (commit b1a6bc2), kept here as the baseline: `generate` on the 32 repeated
  sources with generation log-probs (`output_scores`/`output_logits`, `compute_transition_scores`), the
  sources tokenized again, and teacher-forced actor and reference passes that run the encoder on all 32 rows;
- new: the package's `collect_rollout`: `num_return_sequences=k` on the 8 distinct sources, `logprobs=False`,
  sources tokenized once, teacher-forced passes that encode the 8 distinct rows (`response_logprobs`).

Rounds alternate old/new (old first in even rounds, new first in odd ones), each seeded the same, so both sides
sample the same tokens (up to float rounding); the rollout log-probs of the two are compared where they did.
Usage: python bench/rl_rollout.py [--rounds 6] [--threads 1] [--docs 8] [--k 4] [--max-new-tokens 48]
The last line reads: old_s=A new_s=B speedup=C same_samples=D max_logprob_diff=E (seconds: medians per rollout)
"""
import argparse, copy, logging, os, statistics, sys, time, warnings
from pathlib import Path

import torch
import torch.nn.functional as F

warnings.filterwarnings('ignore')
logging.getLogger('rlhf_summ.policies.seq2seq').setLevel(logging.ERROR)
os.environ.setdefault('HF_HUB_OFFLINE', '1')

from transformers.utils import logging as hf_logging
hf_logging.set_verbosity_error(); hf_logging.disable_progress_bar()

from rlhf_summ.data import load_summary_pairs
from rlhf_summ.policies.seq2seq import build_tiny_policy, unwrap
from rlhf_summ.rl import collect_rollout, repeat_for_samples

def shared_data() -> Path:
    here = Path(__file__).resolve().parents[1]
    return Path(os.environ.get('RLHF_SUMM_SHARED_DATA', here.parent / 'shared' / 'data'))

def words_reward(documents, summaries) -> torch.Tensor:
    "A scripted reward: words per summary / 10."
    return torch.tensor([len(s.split()) / 10 for s in summaries])

def old_response_logprobs(model, encoder_inputs, response_ids, response_mask, temperature=1.0):
    "The teacher-forced scorer before the change: the encoder runs on every row of `encoder_inputs`."
    config = unwrap(model).config
    mask = response_mask.bool()
    ids = response_ids.masked_fill(~mask, config.pad_token_id)
    start = torch.full_like(ids[:, :1], config.decoder_start_token_id)
    decoder_input_ids = torch.cat([start, ids[:, :-1]], dim=1)
    logits = model(**encoder_inputs, decoder_input_ids=decoder_input_ids, use_cache=False).logits.float()
    if temperature != 1.0: logits = logits / temperature
    logp = -F.cross_entropy(logits.flatten(0, 1), ids.flatten(), reduction='none').view_as(ids)
    return logp.masked_fill(~mask, 0.0)

@torch.no_grad()
def old_collect_rollout(policy, actor, ref_model, reward_fn, documents, temperature, max_new_tokens, batch_size):
    "The RLOO rollout before the change (bare actor, as RLOO trains it): (response ids, mask, log-probs, reference log-probs, scores)."
    chunk = batch_size or len(documents)
    gen = policy.generate(documents, max_new_tokens=max_new_tokens, do_sample=True, temperature=temperature, top_k=0, top_p=1.0,
                          batch_size=chunk)
    enc = policy.encode_sources(documents)
    ids, mask = gen.sequences.to(policy.device), gen.mask.to(policy.device)
    parts = []
    for i in range(0, len(documents), chunk):
        enc_i, ids_i, mask_i = {k: v[i:i + chunk] for k, v in enc.items()}, ids[i:i + chunk], mask[i:i + chunk]
        parts.append((old_response_logprobs(actor, enc_i, ids_i, mask_i, temperature),
                      old_response_logprobs(ref_model, enc_i, ids_i, mask_i, temperature)))
    logprobs, ref_logprobs = (torch.cat(x) for x in zip(*parts))
    scores = torch.as_tensor(reward_fn(documents, gen.summaries), dtype=torch.float32)
    return ids, mask, logprobs, ref_logprobs, scores

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--rounds', type=int, default=6, help='timed rounds; each runs old and new once')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--docs', type=int, default=8, help='distinct documents per rollout')
    ap.add_argument('--k', type=int, default=4, help='RLOO samples per document')
    ap.add_argument('--max-new-tokens', type=int, default=48)
    ap.add_argument('--rollout-batch-size', type=int, default=16, help='rows generated and scored per pass')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = shared_data() / 'scitldr' / 'train.jsonl'
    if not data.is_file(): sys.exit(f"SciTLDR not found at {data} (set RLHF_SUMM_SHARED_DATA)")
    pairs = load_summary_pairs(data, limit=2000)
    t = time.perf_counter()
    policy = build_tiny_policy('bart', [t for p in pairs for t in (p.document.text, p.summary)], vocab_size=4000, d_model=128,
                               layers=2, heads=4, max_source_length=512, max_target_length=args.max_new_tokens, seed=0)
    policy.model.eval()
    ref = copy.deepcopy(policy.model).requires_grad_(False).eval()
    documents = repeat_for_samples([p.document.text for p in pairs[:args.docs]], args.k)
    source_tokens = policy.encode_sources(documents[::args.k])['attention_mask'].sum(1).float()
    print(f"tiny BART {sum(p.numel() for p in policy.model.parameters()) / 1e6:.2f}M params, built in {time.perf_counter() - t:.1f}s; "
          f"{args.docs} documents x k={args.k}, source tokens mean {source_tokens.mean():.0f} (max {source_tokens.max():.0f}), "
          f"max_new_tokens {args.max_new_tokens}, rows per pass {args.rollout_batch_size}, {args.threads} thread(s)")
    common = dict(temperature=0.7, max_new_tokens=args.max_new_tokens)
    runs = {
        'old': lambda: old_collect_rollout(policy, policy.model, ref, words_reward, documents, batch_size=args.rollout_batch_size, **common),
        'new': lambda: (lambda r: (r.response_ids, r.mask, r.logprobs, r.ref_logprobs, r.scores))(
            collect_rollout(policy, policy.model, ref, words_reward, documents, batch_size=args.rollout_batch_size, **common)),
    }
    seconds = {name: [] for name in runs}
    same, diffs = [], []
    for r in range(args.rounds + 1):                                  # round 0 warms up, untimed
        out = {}
        for name in (('old', 'new') if r % 2 == 0 else ('new', 'old')):
            torch.manual_seed(r)
            t = time.perf_counter()
            out[name] = runs[name]()
            if r: seconds[name].append(time.perf_counter() - t)
        (ids_o, mask_o, lp_o, ref_o, _), (ids_n, mask_n, lp_n, ref_n, _) = out['old'], out['new']
        rows = ((ids_o == ids_n) | ~mask_o).all(1) & (mask_o == mask_n).all(1) if ids_o.shape == ids_n.shape else torch.zeros(len(ids_o), dtype=torch.bool)
        same.append(rows.float().mean().item())
        if rows.any(): diffs.append(max((lp_o - lp_n)[rows].abs().max().item(), (ref_o - ref_n)[rows].abs().max().item()))
        if r: print(f"round {r}: old {seconds['old'][-1]:.2f}s, new {seconds['new'][-1]:.2f}s, same samples {same[-1]:.2f}, "
                    f"response length {mask_n.sum(1).float().mean():.1f}")
    old_s, new_s = statistics.median(seconds['old']), statistics.median(seconds['new'])
    print(f"old_s={old_s:.3f} new_s={new_s:.3f} speedup={old_s / new_s:.2f} same_samples={statistics.mean(same):.3f} "
          f"max_logprob_diff={max(diffs) if diffs else float('nan'):.2e}")

if __name__ == '__main__':
    main()
