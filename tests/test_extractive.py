"""The extractive policy through the RL code: rollouts whose log-probs the update reproduces, PPO and RLOO runs that
move the policy towards the rewarded sentence, and a registry round trip."""
import copy

import pytest
import torch

from rlhf_summ.data import Comparison, Document
from rlhf_summ.policies.extractive import ExtractivePolicy, ExtractiveScorer
from rlhf_summ.policies import load_policy
from rlhf_summ.rl import DPOConfig, RLConfig, collect_rollout, train_dpo, train_rl

DOCS = ["We study the summarization of papers. The cat sat on the mat all day. Results improve on three datasets.",
        "Transformers read long inputs slowly. A cat chased the mouse around the house. We release our code.",
        "The method is simple. Experiments use two benchmarks. The cat slept on the warm sofa."]


pytestmark = pytest.mark.usefixtures('one_thread')


def tiny_extractive(seed=0, **kw):
    torch.manual_seed(seed)
    return ExtractivePolicy(ExtractiveScorer(d_model=32, layers=1, heads=2, dropout=0.0), **{'k': 1, **kw})


def cat_reward(documents, summaries):
    "1 for a summary that mentions the cat, else 0."
    return torch.tensor([float('cat' in s) for s in summaries])


def cat_probability(policy):
    "Mean probability that the greedy-scored first pick is the cat sentence, over DOCS."
    sentences, _, _ = policy.split(DOCS)
    cat = torch.tensor([[next(i for i, s in enumerate(doc) if 'cat' in s)] for doc in sentences])
    with torch.no_grad():
        logprobs, _ = policy.action_logprobs(policy.encode_sources(DOCS), cat, cat >= 0)
    return logprobs[:, 0].exp().mean().item()


def test_rollout_logprobs_are_reproduced_by_the_update_forward():
    policy = tiny_extractive(k=2)
    ref = copy.deepcopy(policy.model)
    rollout = collect_rollout(policy, policy.model, ref, cat_reward, DOCS * 2, temperature=0.7)
    assert rollout.response_ids.shape == rollout.mask.shape == rollout.logprobs.shape == (6, 2)
    assert rollout.has_eos.all() and (rollout.logprobs[rollout.mask] < 0).all() and (rollout.logprobs[~rollout.mask] == 0).all()
    assert torch.allclose(rollout.kl, torch.zeros_like(rollout.kl))            # policy == reference: KL exactly 0
    logprobs, values = policy.action_logprobs(rollout.encoder_inputs, rollout.response_ids, rollout.mask, 0.7)
    torch.testing.assert_close(logprobs, rollout.logprobs)                     # PPO's first ratio is exactly 1
    torch.testing.assert_close(values, rollout.values)
    mb = rollout.select(torch.tensor([4, 1]))
    torch.testing.assert_close(policy.action_logprobs(mb.encoder_inputs, mb.response_ids, mb.mask, 0.7)[0], mb.logprobs)
    assert rollout.summaries == [' '.join(s for s in policy.split([d])[0][0] if s in summary) for d, summary in
                                 zip(DOCS * 2, rollout.summaries)]            # summaries are the selected sentences


@pytest.mark.parametrize('algo', ['ppo', 'rloo'])
def test_rl_moves_the_extractive_policy_towards_the_rewarded_sentence(tmp_path, algo):
    policy = tiny_extractive()
    policy.save(tmp_path / 'sft')
    before = cat_probability(policy)
    config = RLConfig(algo=algo, sft_model=str(tmp_path / 'sft'), output_dir=str(tmp_path / algo), steps=15,
                      batch_size=6, minibatch_size=6, num_epochs=4, rloo_k=2, lr=1e-2, kl_coef=0.01,
                      temperature=1.0, cpu=True)
    run = train_rl(config, [Document(str(i), d) for i, d in enumerate(DOCS * 2)], reward_fn=cat_reward)
    trained = load_policy(run)
    assert isinstance(trained, ExtractivePolicy)
    assert (run / 'metrics.jsonl').is_file() and not (run / 'value_head.safetensors').exists()   # value head inside the model
    after = cat_probability(trained)
    assert after > before + 0.1, (before, after)


def test_dpo_prefers_the_chosen_selection(tmp_path):
    policy = tiny_extractive()
    policy.save(tmp_path / 'sft')
    before = cat_probability(policy)
    comparisons = []
    for i, doc in enumerate(DOCS):
        sentences = policy.split([doc])[0][0]
        cat = next(s for s in sentences if 'cat' in s)
        for j, other in enumerate(s for s in sentences if 'cat' not in s):
            comparisons.append(Comparison(Document(f'{i}', doc), other, cat, choice=1.0))   # people picked the cat sentence
    run = train_dpo(DPOConfig(sft_model=str(tmp_path / 'sft'), output_dir=str(tmp_path / 'dpo'), steps=15, batch_size=6,
                              lr=1e-2, beta=0.5, cpu=True), comparisons)
    after = cat_probability(load_policy(run))
    assert after > before + 0.1, (before, after)


def test_registry_round_trip(tmp_path):
    from rlhf_summ.feedback.registry import Registry
    registry = Registry(tmp_path / 'registry')
    policy = tiny_extractive()
    registry.register('policy', policy, promote=True)
    loaded = registry.load('policy')
    assert isinstance(loaded, ExtractivePolicy)
    assert loaded.summarize(DOCS) == policy.summarize(DOCS)


def test_no_summary_ends_mid_sentence_on_the_shared_pdfs(trained_default, shared_data, tmp_path, capsys):
    "`summarize` and the picking page's summarizer (a sample and the greedy summary) on every section of the 9 modern PDFs."
    from rlhf_summ.cli import SummarizeConfig, summarize_paper
    from rlhf_summ.text import ends_sentence, split_sentences
    from rlhf_summ.feedback.online import PolicySummarizer
    from rlhf_summ.text.pdf import read_paper, sections_to_summarize
    from rlhf_summ.feedback.registry import Registry
    pdfs = sorted((shared_data/'pdfs').glob('*.pdf'))
    assert len(pdfs) == 9
    registry = Registry(tmp_path/'registry')
    version = registry.register('policy', src_dir=trained_default)
    page = PolicySummarizer(registry, temperature=0.7)                      # what `serve` writes into each pair
    seen, cut, total = 0, 0, 0
    for pdf in pdfs:
        rows = summarize_paper(SummarizeConfig(input=str(pdf), policy=str(trained_default)))
        sections = [s.text for s in sections_to_summarize(read_paper(pdf))]
        summaries = [r['summary'] for r in rows] + page(version, sections, seed=0) + page(version, sections, seed=1, greedy=True)
        for summary, section in zip(summaries, sections * 3):
            assert ends_sentence(summary), f'{pdf.name}: {summary[-80:]!r} ends mid-sentence'
            assert len(summary.split()) <= 60
            text = ' '.join(section.split())
            for sentence in split_sentences(summary.removesuffix('\u2026')):    # the section's own words, cut at most at the end
                assert ' '.join(sentence.split()[:-1]) in text, f'{sentence!r} is not from the section'
            seen, cut = seen + 1, cut + summary.endswith('\u2026')
        total += len(sections)
    capsys.readouterr()                                                     # summarize's JSON lines
    print(f'{seen} summaries, {cut} cut at a clause')
    assert seen == 3 * total > 0 and cut < seen / 2, (seen, cut)


def test_shipped_default_policy_holds_its_floor(tmp_path, monkeypatch, one_thread):
    "The default policy ships with the package: loaded with nothing retrained, it keeps its held-out ROUGE on 50 SciTLDR dev papers."
    import json
    from rlhf_summ.data import load_summary_pairs
    from rlhf_summ.evaluate import rouge_scores
    from rlhf_summ.policies.extractive import SHIPPED_EXTRACTIVE_DIR, default_extractive_path, default_extractive_policy
    from rlhf_summ.text import lead_k
    monkeypatch.setenv('RLHF_SUMM_CACHE', str(tmp_path / 'empty-cache'))
    assert default_extractive_path() == SHIPPED_EXTRACTIVE_DIR
    assert (SHIPPED_EXTRACTIVE_DIR / 'model.safetensors').stat().st_size < 3_000_000 and (SHIPPED_EXTRACTIVE_DIR / 'MODEL_CARD.md').is_file()
    record = json.loads((SHIPPED_EXTRACTIVE_DIR / 'heldout.json').read_text())
    pairs = load_summary_pairs('scitldr/dev.jsonl', limit=record['n'])          # the full data or the demo sample: the same papers
    documents, references = [p.document for p in pairs], [p.summary for p in pairs]
    policy = default_extractive_policy()
    ours = 100 * rouge_scores(policy.summarize(documents), references)['rouge1']
    lead = 100 * rouge_scores([lead_k(d, 1, policy.max_words) for d in documents], references)['rouge1']
    assert ours >= record['floor_rouge1'], f"shipped policy ROUGE-1 {ours:.2f} fell below its stored floor {record['floor_rouge1']}"
    assert ours > lead + 5


def test_wheel_carries_the_default_policy_and_the_demo_sample(tmp_path):
    "`pip install` (a wheel, not the editable clone) carries the shipped policy and the demo sample as package data."
    import subprocess, sys, zipfile
    from pathlib import Path
    repo = Path(__file__).resolve().parents[1]
    built = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(tmp_path), str(repo)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    names = set(zipfile.ZipFile(next(tmp_path.glob('rlhf_summ-*.whl'))).namelist())
    assert {'rlhf_summ/default_policy/model.safetensors', 'rlhf_summ/default_policy/extractive_config.json',
            'rlhf_summ/default_policy/MODEL_CARD.md', 'rlhf_summ/demo_data/scitldr/train.jsonl',
            'rlhf_summ/demo_data/comparisons/LICENSE', 'rlhf_summ/demo_data/README.md'} <= names
