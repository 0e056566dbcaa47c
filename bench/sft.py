"""Throughput of our SFT step against transformers' Seq2SeqTrainer on the same model, data and batch, the agreement of
our bf16 loss curve with fp32, and generation speed.

Both trainers start from the same saved tiny BART (a byte-level BPE tokenizer trained on the data) and train on the
same SumPubMed pairs with the same batch size, sequence limits, optimizer (AdamW, weight decay 0.01), schedule (warmup
+ cosine) and clipping. Tokens are the real (non-pad) source plus summary tokens of each batch; the first `--warmup`
steps of each run are not timed. A run's speed is the median over its timed steps of tokens / step time (ours: the
step from collating the batch to the optimizer update, as `train_sft` logs it; the Trainer's: from the end of one
step to the end of the next, its batch loading included), so a burst of load from the machine's neighbours during a
few steps does not decide the round. Both tokenize the whole data set once, before training.

Each round of each side runs in a new Python process (`--worker`), so neither inherits the other's allocator state,
caches or accelerate state. Ours runs `train_sft` with its defaults: length-grouped batches (`group_by_length=True`),
dynamic padding, labels masked with -100, bf16 autocast where the hardware multiplies bf16
(`mixed_precision='auto'`: CUDA, or a CPU with AVX512-BF16/AMX), under bf16 on CPU eager attention
(`attn_implementation='auto'`; its bf16 matmuls beat the CPU SDPA kernel), and freed memory kept by the process
(`reuse_freed_memory`, which every trainer calls first: glibc's malloc otherwise hands a step's freed activations
back to the kernel, and the next step page-faults them in again, about 8,000 faults per step here). The
Seq2SeqTrainer runs with its own best settings for the same work: data tokenized up front,
`train_sampling_strategy='group_by_length'` (its LengthGroupedSampler), `DataCollatorForSeq2Seq` dynamic padding with
-100 labels, `bf16=True` when the hardware has bf16 (the same rule), fused AdamW (its default `adamw_torch_fused`), no
dataloader workers (tokenized data needs none), the model as `from_pretrained` loads it (SDPA attention, the
transformers default; `--peer-attention eager` loads it with eager attention instead), and the C library's default
allocator, which is what its users get (transformers has no setting for it). `ratio` is ours / that Trainer. A third
side, the same Trainer in a process that called `reuse_freed_memory()` first (what a Trainer user gets by setting
`MALLOC_MMAP_THRESHOLD_`/`MALLOC_TRIM_THRESHOLD_` or preloading jemalloc by hand), gives `ratio_same_allocator`. The
sides take turns going first over `--rounds` rounds and the means are reported.

Measured on the shared 2-core AVX512-BF16 machine (AMD EPYC), 1 thread, 2026-12-02, two runs: ratio 1.544 and 1.434
(ours 17,833 and 18,628 tokens/s, Trainer 11,547 and 12,988), ratio_same_allocator 1.175 and 1.282 (Trainer with the
kept memory 15,175 and 14,532). With `--peer-attention eager` (two runs, 4 and 6 rounds): ratio 1.294 and 1.303,
ratio_same_allocator 0.970 and 1.008. So most of the gain is memory the kernel no longer faults in and zeroes every
step (the same step of ours went from about 13,600 to 17,800 tokens/s), and the rest is bf16 with eager attention,
which `train_sft` picks by itself and a Trainer user can pick by hand: against a Trainer given both by hand, ours
runs the same kernels at the same speed.

Earlier on another machine, before `reuse_freed_memory` and with both sides in one process: 1.108 against the
Trainer's defaults, 1.034 against it with eager attention. Not kept (not less work): `torch.compile` of the loss
1.23x per step after a 45 s compile (the Trainer has the same switch), pure bf16 weights with fp32 master copies
1.06-1.12x (noisy), a fused linear + cross-entropy head that never builds the (tokens, vocabulary) log-softmax
0.92-1.05x at this 4,000-token vocabulary, no dropout 1.12x (changes the model). This workload has no pads and no
repeated documents (every SumPubMed source is longer than 256 tokens and every abstract longer than 64), so the
savings that packing or encoding a document once would bring do not show here.

Loss curves: our default run (bf16 on this hardware) and an fp32 run (`mixed_precision='no'`, default attention) with
the same seed (same batches) for `--loss-steps` steps, compared as means over windows of `--loss-window` steps;
`loss_gap` is the largest window difference, `loss_noise` the same between the fp32 run and an fp32 run with another
seed (another batch order and dropout): the gap is "within noise" when it is well below that.

    python bench/sft.py [--data ../shared/data/sumpubmed] [--steps 20] [--rounds 4] [--batch-size 4] [--threads 1]

Last line: `sft_tokens_per_s=X hf_tokens_per_s=Y ratio=Z loss_gap=G loss_noise=N gen_tokens_per_s=W precision=P
hf_reuse_tokens_per_s=R ratio_same_allocator=Q` (ratio = ours / Trainer's; Q = ours / the Trainer with kept memory).
"""
import argparse, json, statistics, subprocess, sys, tempfile, time, warnings
from pathlib import Path

import torch

from rlhf_summ.data import load_summary_pairs
from rlhf_summ.policies.seq2seq import Policy, SFTConfig, _resolve_mixed_precision, build_tiny_policy, train_sft


def run_ours(model_dir, pairs, args, out, steps, **kw):
    from accelerate.state import AcceleratorState
    AcceleratorState._reset_state()     # the Trainer's bf16 Accelerator fixed it for the process (transformers resets it too)
    config = SFTConfig(model=str(model_dir), steps=steps, batch_size=args.batch_size, lr=args.lr, warmup_steps=2,
                       max_source_length=args.max_source_length, max_target_length=args.max_target_length,
                       eval_every=0, save_every=0, log_every=1, progress=False, output_dir=str(out), **{'seed': 0, **kw})
    run = train_sft(config, pairs, [])
    return [r for r in map(json.loads, (run / 'metrics.jsonl').read_text().splitlines()) if 'train/sft/tokens' in r]


def ours(model_dir, pairs, args, out):
    return statistics.median(r['train/sft/tokens_per_s'] for r in run_ours(model_dir, pairs, args, out, args.steps)[args.warmup:])


def hf(model_dir, pairs, args, out):
    from transformers import (AutoModelForSeq2SeqLM, DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments,
                              TrainerCallback)
    policy = Policy.from_pretrained(model_dir, args.max_source_length, args.max_target_length)
    tok = policy.tokenizer
    rows = [{'input_ids': s, 'labels': t} for s, t in zip(
        tok([p.document.text for p in pairs], truncation=True, max_length=args.max_source_length)['input_ids'],
        tok(text_target=[p.summary for p in pairs], truncation=True, max_length=args.max_target_length)['input_ids'])]
    rows = [dict(r, attention_mask=[1] * len(r['input_ids'])) for r in rows]
    collate = DataCollatorForSeq2Seq(tok, label_pad_token_id=-100)
    batch_tokens = []

    def counting_collator(features):
        batch = collate(features)
        batch_tokens.append(int(batch['attention_mask'].sum() + (batch['labels'] != -100).sum()))
        return batch

    stamps = []
    class Clock(TrainerCallback):
        def on_step_end(self, *a, **k): stamps.append(time.perf_counter())
        def on_step_begin(self, *a, **k):
            if not stamps: stamps.append(time.perf_counter())

    targs = Seq2SeqTrainingArguments(output_dir=str(out), per_device_train_batch_size=args.batch_size, max_steps=args.steps,
                                     learning_rate=args.lr, warmup_steps=2, lr_scheduler_type='cosine', weight_decay=0.01,
                                     max_grad_norm=1.0, logging_steps=args.steps, save_strategy='no', report_to=[],
                                     use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0, seed=0,
                                     disable_tqdm=True, remove_unused_columns=False,
                                     train_sampling_strategy='group_by_length', bf16=args.precision == 'bf16')
    kw = {'attn_implementation': args.peer_attention} if args.peer_attention else {}
    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir, **kw)
    trainer = Seq2SeqTrainer(model=model, args=targs, train_dataset=rows, data_collator=counting_collator,
                             processing_class=tok, callbacks=[Clock()])
    trainer.train()
    # stamps[0] = start of step 1, stamps[k] = end of step k; batch k-1 feeds step k
    return statistics.median(batch_tokens[k - 1] / (stamps[k] - stamps[k - 1]) for k in range(args.warmup + 1, args.steps + 1))


def in_fresh_process(method, model_dir, args, out) -> float:
    "Tokens/s of one round of `method` ('ours', 'hf', or 'hf-reuse': the Trainer after `reuse_freed_memory()`) run by a new Python process."
    argv = [sys.executable, __file__, *sys.argv[1:], '--worker', method, '--model-dir', str(model_dir), '--out', str(out)]
    done = subprocess.run(argv, capture_output=True, text=True)      # the bench's own arguments, so the worker's equal these
    if done.returncode: raise RuntimeError(f"{method} round failed:\n{done.stderr[-3000:]}")
    return float(done.stdout.strip().splitlines()[-1].split('=')[1])


def worker(args):
    "One timed round in this process; prints `tokens_per_s=X` last."
    pairs = list(load_summary_pairs(args.data, limit=args.pairs))
    if args.worker == 'hf-reuse':
        from rlhf_summ.train import reuse_freed_memory
        reuse_freed_memory()
    run = ours if args.worker == 'ours' else hf
    print(f"tokens_per_s={run(Path(args.model_dir), pairs, args, Path(args.out)):.1f}")


def window_means(rows, window):
    losses = [r['train/sft/loss'] for r in rows]
    return [statistics.mean(losses[i:i + window]) for i in range(0, len(losses) - window + 1, window)]


def loss_curves(model_dir, pairs, args, d):
    "Largest window-mean loss gap of our default run against fp32 (same seed), and of fp32 against fp32 with seed 1."
    curves = {name: window_means(run_ours(model_dir, pairs, args, d / f'loss_{name}', args.loss_steps, **kw), args.loss_window)
              for name, kw in [('default', {}), ('fp32', {'mixed_precision': 'no'}),
                               ('fp32_seed1', {'mixed_precision': 'no', 'seed': 1})]}
    for name, curve in curves.items(): print(f"loss curve {name:10s} " + ' '.join(f"{x:.3f}" for x in curve))
    gap = lambda a, b: max(abs(x - y) for x, y in zip(curves[a], curves[b]))
    return gap('default', 'fp32'), gap('fp32', 'fp32_seed1')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', default=str(Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'sumpubmed'))
    parser.add_argument('--pairs', type=int, default=96)
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=4)
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--max-source-length', type=int, default=256)
    parser.add_argument('--max-target-length', type=int, default=64)
    parser.add_argument('--d-model', type=int, default=128)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--loss-steps', type=int, default=60)
    parser.add_argument('--loss-window', type=int, default=10)
    parser.add_argument('--peer-attention', default=None, help="attention the Trainer's model is loaded with (default: transformers')")
    parser.add_argument('--gen-docs', type=int, default=16)
    parser.add_argument('--gen-tokens', type=int, default=64)
    parser.add_argument('--worker', choices=['ours', 'hf', 'hf-reuse'], help=argparse.SUPPRESS)
    parser.add_argument('--model-dir', help=argparse.SUPPRESS)
    parser.add_argument('--out', help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.precision = _resolve_mixed_precision('auto')          # what both sides use: bf16 where the hardware has it
    warnings.filterwarnings('ignore')
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error(); hf_logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    if args.worker: return worker(args)

    pairs = list(load_summary_pairs(args.data, limit=args.pairs))
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        policy = build_tiny_policy('bart', [t for p in pairs for t in (p.document.text, p.summary)], vocab_size=4000,
                                   d_model=args.d_model, max_source_length=args.max_source_length,
                                   max_target_length=args.max_target_length)
        model_dir = policy.save(d / 'init')
        n_params = sum(p.numel() for p in policy.model.parameters())
        print(f"model: tiny BART d_model={args.d_model}, {n_params / 1e6:.2f}M params; {len(pairs)} SumPubMed pairs; "
              f"batch {args.batch_size}, source <= {args.max_source_length}, summary <= {args.max_target_length} tokens; "
              f"{args.steps} steps ({args.warmup} untimed); {args.threads} thread(s); device "
              f"{'cuda' if torch.cuda.is_available() else 'cpu'}; mixed precision {args.precision} on both sides")
        tps = {'ours': [], 'hf': [], 'hf-reuse': []}
        for r in range(args.rounds):   # rotate which goes first, so none always gets the warmer machine
            for method in list(tps)[r % 3:] + list(tps)[:r % 3]:
                tps[method].append(in_fresh_process(method, model_dir, args, d / f'{method}{r}'))
            print(f"round {r}: ours {tps['ours'][-1]:.0f} tokens/s, Seq2SeqTrainer {tps['hf'][-1]:.0f} tokens/s, "
                  f"Seq2SeqTrainer with reuse_freed_memory {tps['hf-reuse'][-1]:.0f} tokens/s")
        loss_gap, loss_noise = loss_curves(model_dir, pairs, args, d)

        trained = Policy.from_pretrained(d / 'ours0')
        docs = [p.document.text for p in pairs[:args.gen_docs]]
        trained.generate(docs[:2], max_new_tokens=4)                      # warm up
        start = time.perf_counter()
        gen = trained.generate(docs, max_new_tokens=args.gen_tokens, do_sample=True, seed=0, batch_size=8,
                               min_new_tokens=args.gen_tokens)
        gen_tps = gen.mask.sum().item() / (time.perf_counter() - start)
        print(f"generation: {gen.mask.sum().item()} tokens for {len(docs)} documents (sampling, batch 8)")

    sft, hft, hfr = (statistics.mean(tps[k]) for k in ('ours', 'hf', 'hf-reuse'))
    print(f"sft_tokens_per_s={sft:.0f} hf_tokens_per_s={hft:.0f} ratio={sft / hft:.3f} loss_gap={loss_gap:.4f} "
          f"loss_noise={loss_noise:.4f} gen_tokens_per_s={gen_tps:.0f} precision={args.precision} "
          f"hf_reuse_tokens_per_s={hfr:.0f} ratio_same_allocator={sft / hfr:.3f}")


if __name__ == '__main__':
    main()
