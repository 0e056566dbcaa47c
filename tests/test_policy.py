"""Policy: generation log-probs, teacher forcing, padding invariance of the SFT loss, exact resume, LED, truncation, loading errors."""
import dataclasses, json

import pytest
import torch
from safetensors.torch import load_file

from rlhf_summ.data import load_summary_pairs, split_by_document
from rlhf_summ.policies import seq2seq as policy_module
from rlhf_summ.policies.seq2seq import (Policy, SFTConfig, build_tiny_policy, collate_pairs, encode_pairs, response_logprobs,
                              sequence_nll, tokenize_pairs, train_sft)
from rlhf_summ.train import batch_at, epoch_batches, resolve_checkpoint

CORPUS = ["the cat sat on the mat and looked at the dog.", "the dog ran in the park after the ball.",
          "we propose a model for summarizing long scientific papers section by section.",
          "results show that the model improves rouge over strong baselines.",
          "a long document about transformers, attention and the summarization of papers."] * 4
PAIRS = [(c, c.split(' and ')[0].split(',')[0]) for c in CORPUS]


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(kind='bart', **kw):
    kw = {'vocab_size': 300, 'd_model': 32, 'max_source_length': 48, 'max_target_length': 16, 'attention_window': 8, **kw}
    return build_tiny_policy(kind, CORPUS, **kw)


def memorized(target='the cat sat', source=CORPUS[0], steps=80):
    "A tiny BART trained until greedy decoding of `source` reproduces `target` exactly."
    policy = tiny(dropout=0.0)
    opt = torch.optim.Adam(policy.model.parameters(), lr=1e-2)
    batch, _ = encode_pairs(policy, [source], [target])
    for _ in range(steps):
        nll, n = sequence_nll(policy.model, batch)
        (nll / n).backward(); opt.step(); opt.zero_grad()
    policy.model.eval()
    return policy


def test_greedy_logprobs_equal_teacher_forced_and_policy_logprobs():
    policy = memorized()
    gen = policy.generate([CORPUS[0]], max_new_tokens=10)
    assert gen.summaries == ['the cat sat']
    ids, mask = policy.encode_targets(gen.summaries)            # re-tokenized text gives the generated tokens back
    assert torch.equal(ids[mask], gen.sequences[gen.mask])
    lp, m = policy.logprobs([CORPUS[0]], gen.summaries)
    torch.testing.assert_close(lp[m], gen.logprobs[gen.mask], atol=1e-5, rtol=1e-4)
    tf = response_logprobs(policy.model, policy.encode_sources([CORPUS[0]]), gen.sequences, gen.mask)
    torch.testing.assert_close(tf, gen.logprobs, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('kind', ['bart', 'led'])
@pytest.mark.parametrize('do_sample', [False, True])
def test_generation_logprobs_equal_response_logprobs(kind, do_sample):
    policy = tiny(kind)
    policy.model.eval()
    texts = CORPUS[:3]
    gen = policy.generate(texts, max_new_tokens=12, do_sample=do_sample, temperature=1.0, seed=3)
    assert gen.sequences.shape == gen.logprobs.shape == gen.mask.shape and gen.sequences.shape[0] == 3
    assert gen.mask[:, 0].all() and (gen.logprobs[gen.mask] < 0).all() and (gen.logprobs[~gen.mask] == 0).all()
    assert (gen.sequences[~gen.mask] == policy.tokenizer.pad_token_id).all()
    with torch.no_grad():
        tf = response_logprobs(policy.model, policy.encode_sources(texts), gen.sequences, gen.mask)
    torch.testing.assert_close(tf, gen.logprobs, atol=1e-4, rtol=1e-4)


def test_sampling_temperature_and_seed():
    policy = tiny()
    policy.model.eval()
    texts = CORPUS[:2]
    a = policy.generate(texts, max_new_tokens=10, do_sample=True, temperature=0.7, seed=0)
    b = policy.generate(texts, max_new_tokens=10, do_sample=True, temperature=0.7, seed=0)
    assert torch.equal(a.sequences, b.sequences)
    c = policy.generate(texts, max_new_tokens=10, do_sample=True, temperature=0.7, seed=1)
    assert not torch.equal(a.sequences, c.sequences)
    with torch.no_grad():
        tf = response_logprobs(policy.model, policy.encode_sources(texts), a.sequences, a.mask, temperature=0.7)
        tf1 = response_logprobs(policy.model, policy.encode_sources(texts), a.sequences, a.mask, temperature=1.0)
    torch.testing.assert_close(tf, a.logprobs, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(tf1, a.logprobs, atol=1e-3)


def test_beam_search_and_multiple_returns():
    policy = tiny('led')
    gen = policy.generate(CORPUS[:2], max_new_tokens=8, num_beams=3, num_return_sequences=2)
    assert gen.sequences.shape[0] == 4 and len(gen.summaries) == 4
    assert torch.isfinite(gen.logprobs).all() and (gen.logprobs[gen.mask] <= 0).all()
    sampled = policy.generate(CORPUS[:2], max_new_tokens=8, do_sample=True, num_return_sequences=3, seed=0, batch_size=1)
    assert sampled.sequences.shape[0] == 6


@pytest.mark.parametrize('kind', ['bart', 'led'])
def test_padding_changes_neither_loss_nor_gradients(kind):
    policy = tiny(kind, dropout=0.0, max_source_length=128, max_target_length=64)
    policy.model.eval()
    batch, _ = encode_pairs(policy, [p[0] for p in PAIRS[:3]], [p[1] for p in PAIRS[:3]])
    pad = policy.tokenizer.pad_token_id
    extra = 9
    assert batch['input_ids'].shape[1] + extra <= 128 and batch['labels'].shape[1] + extra <= 64
    padded = {'input_ids': torch.nn.functional.pad(batch['input_ids'], (0, extra), value=pad),
              'attention_mask': torch.nn.functional.pad(batch['attention_mask'], (0, extra), value=0),
              'labels': torch.nn.functional.pad(batch['labels'], (0, extra), value=-100)}
    if 'global_attention_mask' in batch:
        padded['global_attention_mask'] = torch.nn.functional.pad(batch['global_attention_mask'], (0, extra), value=0)

    def loss_and_grads(b):
        policy.model.zero_grad()
        nll, n = sequence_nll(policy.model, b)
        (nll / n).backward()
        return (nll / n).item(), n.item(), {k: p.grad.clone() for k, p in policy.model.named_parameters() if p.grad is not None}

    loss_a, n_a, grads_a = loss_and_grads(batch)
    loss_b, n_b, grads_b = loss_and_grads(padded)
    assert n_a == n_b == (batch['labels'] != -100).sum().item()
    assert loss_a == pytest.approx(loss_b, abs=1e-6)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 10
    for k in grads_a: torch.testing.assert_close(grads_a[k], grads_b[k], atol=1e-6, rtol=1e-5)


def test_led_global_attention_on_first_token():
    policy = tiny('led', max_source_length=64)
    enc = policy.encode_sources(["the cat sat on the mat", "dog"])
    g = enc['global_attention_mask']
    assert g.shape == enc['input_ids'].shape
    assert g[:, 0].tolist() == [1, 1] and g[:, 1:].sum() == 0
    assert 'global_attention_mask' not in tiny('bart').encode_sources(["the cat"])


def test_truncation_is_counted_and_reported(caplog):
    policy = tiny(max_source_length=16)
    long_text = ' '.join(CORPUS[:4])
    enc, n = policy.encode_sources(['the cat', long_text, long_text], return_num_truncated=True)
    assert n == 2 and enc['input_ids'].shape[1] == 16
    assert enc['input_ids'][1, -1].item() == policy.tokenizer.eos_token_id     # special tokens kept after truncation
    assert 'truncated 2/3 sources to 16 tokens' in caplog.text
    assert enc['input_ids'][1].tolist() == policy.tokenizer(long_text, truncation=True, max_length=16)['input_ids']
    ids, mask = policy.encode_targets([long_text])
    assert ids[0].tolist() == policy.tokenizer(text_target=long_text, truncation=True, max_length=16)['input_ids'] and mask.all()
    gen = policy.generate(['the cat', long_text], max_new_tokens=3)
    assert gen.num_truncated == 1


def test_missing_checkpoint_dir_is_a_clear_error(tmp_path):
    missing = tmp_path / 'no' / 'such' / 'policy'
    with pytest.raises(FileNotFoundError, match=str(missing)):
        Policy.from_pretrained(missing)
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='config.json'):
        Policy.from_pretrained(tmp_path / 'empty')
    with pytest.raises(FileNotFoundError, match='resumable checkpoint'):
        resolve_checkpoint(tmp_path / 'empty')


def test_save_load_roundtrip(tmp_path):
    policy = tiny('led')
    path = policy.save(tmp_path / 'p', parents={'data': 'toy'})
    files = {f.name for f in path.iterdir()}
    assert {'config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'policy_config.json'} <= files
    info = json.loads((path / 'policy_config.json').read_text())
    assert info['model_type'] == 'led' and info['max_source_length'] == 48 and info['parents']['data'] == 'toy'
    again = Policy.from_pretrained(path)
    for (k, a), (_, b) in zip(policy.model.state_dict().items(), again.model.state_dict().items()): assert torch.equal(a, b), k
    assert again.encode_sources(['the cat'])['input_ids'].tolist() == policy.encode_sources(['the cat'])['input_ids'].tolist()


def test_epoch_batches_cover_data_once():
    batches = epoch_batches(10, 3, seed=0, epoch=0)
    flat = sum(batches, [])
    assert len(batches) == 3 and len(set(flat)) == 9
    assert epoch_batches(10, 3, 0, 0) == batches and epoch_batches(10, 3, 0, 1) != batches


def test_length_grouped_batches_cover_every_pair_once_and_pad_less():
    policy = tiny(max_source_length=48)
    texts = [' '.join(CORPUS[i % 5] for _ in range(1 + i % 4)) for i in range(40)]       # 4 very different lengths
    examples = tokenize_pairs(policy, texts, [t.split(' and ')[0] for t in texts])
    lengths = [len(e['input_ids']) for e in examples]
    for epoch in (0, 1):
        grouped, shuffled = (epoch_batches(40, 4, 7, epoch, l, group_size=5) for l in (lengths, None))
        assert sorted(sum(grouped, [])) == list(range(40))                                # every pair exactly once
        assert grouped != epoch_batches(40, 4, 7, 1 - epoch, lengths, group_size=5)      # a new order each epoch
        pads = lambda batches: sum((collate_pairs(policy, [examples[i] for i in b])['attention_mask'] == 0).sum().item() for b in batches)
        assert pads(grouped) < 0.8 * pads(shuffled)                                      # grouping removes padding
    assert [batch_at(40, 4, 7, i, lengths, 5) for i in (3, 12)] == [(0, epoch_batches(40, 4, 7, 0, lengths, 5)[3]),
                                                                     (1, epoch_batches(40, 4, 7, 1, lengths, 5)[2])]
    batch = collate_pairs(policy, [examples[i] for i in grouped[0]])
    real = torch.tensor([len(examples[i]['labels']) for i in grouped[0]])
    assert ((batch['labels'] != -100).sum(1) == real).all() and (batch['labels'][batch['labels'] < 0] == -100).all()


def test_mixed_precision_and_attention_resolution(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    for has_bf16, expected in ((True, 'bf16'), (False, 'no')):
        monkeypatch.setattr(policy_module, 'cpu_has_bf16', lambda: has_bf16)
        assert policy_module._resolve_mixed_precision('auto') == expected
    assert policy_module._resolve_mixed_precision('no') == 'no'
    with pytest.raises(ValueError, match="mixed_precision must be"): policy_module._resolve_mixed_precision('fp8')
    cpu, gpu = torch.device('cpu'), torch.device('cuda')
    attention = policy_module._resolve_attention
    assert attention('auto', 'bf16', cpu, 256) == 'eager' and attention('auto', 'bf16', cpu, 4096) is None
    assert attention('auto', 'no', cpu, 256) is None and attention('auto', 'bf16', gpu, 256) is None
    assert attention('sdpa', 'bf16', cpu, 256) == 'sdpa'
    with pytest.raises(ValueError, match="attn_implementation must be"): attention('flash', 'no', cpu, 256)


def test_bf16_sft_follows_the_fp32_loss_curve(tmp_path):
    "bf16 autocast (eager attention) and fp32 (SDPA) from the same init and seed: the same batches, losses within bf16 rounding."
    train = PAIRS * 2
    curves = {}
    for precision in ('bf16', 'no'):
        run = train_sft(_config(tmp_path, precision, mixed_precision=precision, steps=12, grad_accum=1, batch_size=4,
                                eval_every=0, save_every=0), train, [])
        rows = [json.loads(l) for l in (run / 'metrics.jsonl').read_text().splitlines()]
        curves[precision] = torch.tensor([r['train/sft/loss'] for r in rows if 'train/sft/loss' in r])
    assert len(curves['no']) == 12 and curves['no'][-1] < curves['no'][0] - 0.5               # it learns
    assert not torch.equal(curves['bf16'], curves['no'])                                      # bf16 really ran
    assert (curves['bf16'] - curves['no']).abs().max() < 0.05 * curves['no'].abs().max()


def _config(tmp_path, name, **kw):
    base = dict(model='tiny-bart', steps=20, batch_size=2, grad_accum=2, lr=3e-3, warmup_steps=3, max_source_length=32,
                max_target_length=8, tiny_vocab_size=300, tiny_d_model=32, eval_every=5, save_every=10, rouge_samples=2,
                eval_batch_size=4, log_every=1, seed=7, progress=False, output_dir=str(tmp_path / name))
    return SFTConfig(**{**base, **kw})


def test_resume_is_exact(tmp_path):
    train, val = PAIRS[:14], PAIRS[14:17]
    straight = train_sft(_config(tmp_path, 'straight'), train, val)
    first = train_sft(_config(tmp_path, 'resumed', stop_at_step=10), train, val)
    assert (first / 'checkpoints' / 'last').read_text() == 'step_000010'
    assert not (first / 'model.safetensors').exists()                # an interrupted run has no final policy yet
    resumed = train_sft(_config(tmp_path, 'resumed', resume_from=str(first)), train, val)
    assert resumed == first
    a, b = load_file(straight / 'model.safetensors'), load_file(resumed / 'model.safetensors')
    assert a.keys() == b.keys()
    for k in a: assert torch.equal(a[k], b[k]), k
    init = load_file(straight / 'checkpoints' / 'step_000010' / 'model.safetensors')
    assert any(not torch.equal(init[k], a[k]) for k in a)              # parameters changed after step 10
    def rows(run):   # metrics without the wall-clock ones
        return [{k: v for k, v in json.loads(l).items() if 'tokens_per_s' not in k} for l in (run / 'metrics.jsonl').read_text().splitlines()]
    assert rows(straight) == rows(resumed) and len(rows(straight)) == 20 + 5
    assert sorted(p.name for p in (straight / 'checkpoints').iterdir()) == ['last', 'step_000010', 'step_000020']
    assert (straight / 'sft_config.json').is_file() and Policy.from_pretrained(straight).max_target_length == 8


def test_sft_lowers_validation_loss_on_real_data(shared_data, tmp_path):
    pairs = load_summary_pairs(shared_data / 'scitldr' / 'train.jsonl', limit=120)
    train, val = split_by_document(pairs, val_fraction=0.2, seed=0)
    run = train_sft(_config(tmp_path, 'real', steps=40, batch_size=4, grad_accum=1, lr=3e-3, warmup_steps=4,
                            max_source_length=96, max_target_length=32, tiny_vocab_size=500, eval_every=20,
                            save_every=40, rouge_samples=4, eval_limit=16), train, val)
    rows = [json.loads(l) for l in (run / 'metrics.jsonl').read_text().splitlines()]
    evals = [r['eval/sft/loss'] for r in rows if 'eval/sft/loss' in r]
    assert len(evals) == 3 and evals[2] < evals[1] < evals[0]     # before training, at step 20, at step 40
    assert sum(r['train/sft/truncated_sources'] for r in rows if 'train/sft/truncated_sources' in r) > 0
    assert all(0 <= r['eval/sft/rouge1'] <= 1 for r in rows if 'eval/sft/rouge1' in r)


DDP_SCRIPT = '''
import sys, torch
torch.set_num_threads(1)
from rlhf_summ.policies.seq2seq import SFTConfig, train_sft
corpus = {corpus!r}
pairs = [(c, c.split(' and ')[0]) for c in corpus]
config = SFTConfig(model='tiny-bart', steps=4, batch_size=2, grad_accum=2, lr=3e-3, warmup_steps=1, max_source_length=32,
                   max_target_length=8, tiny_vocab_size=300, tiny_d_model=32, eval_every=2, save_every=2, rouge_samples=2,
                   log_every=1, progress=False, output_dir=sys.argv[1])
train_sft(config, pairs[:16], pairs[16:])
'''


@pytest.mark.slow
def test_two_process_ddp_run(tmp_path, torchrun):
    "The same `train_sft` under torchrun with 2 CPU processes (gloo): one run folder, metrics written once, a global batch of 2x2x2."
    out = torchrun(DDP_SCRIPT.format(corpus=CORPUS), tmp_path / 'run')
    assert 'effective batch 8 = 2 x 2 accum x 2 processes' in out.stdout
    rows = [json.loads(l) for l in (tmp_path / 'run' / 'metrics.jsonl').read_text().splitlines()]
    assert [r['step'] for r in rows if 'train/sft/loss' in r] == [1, 2, 3, 4]
    assert [r['step'] for r in rows if 'eval/sft/loss' in r] == [0, 2, 4]          # evaluated by one process only
    assert Policy.from_pretrained(tmp_path / 'run').model.config.d_model == 32


def test_sampling_never_forces_eos_at_the_length_limit():
    "BART checkpoints set `forced_eos_token_id`; RL needs to see summaries that did not end, so generate turns it off."
    policy = tiny()
    eos = policy.tokenizer.eos_token_id
    policy.model.config.forced_eos_token_id = policy.model.generation_config.forced_eos_token_id = eos
    gen = policy.generate(CORPUS[:8], max_new_tokens=4, do_sample=True, seed=0)
    ended = [eos in row[m].tolist() for row, m in zip(gen.sequences, gen.mask)]
    assert not all(ended)
    assert gen.mask.sum(1).tolist() == [gen.sequences.shape[1] if not e else int(m.sum()) for e, m in zip(ended, gen.mask)]


@pytest.mark.parametrize('kind', ['bart', 'led'])
def test_beam_and_greedy_summaries_of_an_untrained_model_are_never_empty(kind):
    for seed in range(3):                                    # several random models: an early EOS is likely without the guard
        policy = tiny(kind, seed=seed)
        beams = policy.generate(CORPUS[:5], max_new_tokens=10, num_beams=4)
        greedy = policy.generate(CORPUS[:5], max_new_tokens=10)
        assert all(s.strip() for s in beams.summaries + greedy.summaries)
        unguarded = policy.generate(CORPUS[:5], max_new_tokens=10, num_beams=4, non_empty=False,
                                    repetition_penalty=1.0, no_repeat_ngram_size=0)
        assert unguarded.sequences.shape[0] == 5             # the guards are options: switched off, decoding still works


def test_minilm_encoder_decoder_builds_and_generates_text():
    from rlhf_summ.policies.seq2seq import build_minilm_encoder_decoder
    policy = build_minilm_encoder_decoder(max_source_length=64, max_target_length=16)
    assert policy.model.config.model_type == 'encoder-decoder'
    assert policy.model.encoder.config.num_hidden_layers == policy.model.decoder.config.num_hidden_layers == 6
    gen = policy.generate(CORPUS[:2], max_new_tokens=6, num_beams=2)
    assert all(s.strip() for s in gen.summaries)
