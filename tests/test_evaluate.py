"""Evaluation: KL and win rate by hand, policy comparisons with tiny models, lead-k/title baselines and the trivial judges on real comparisons."""
import pytest
import torch

from rlhf_summ.evaluate import (baseline_rouge, compare_policies, judge_accuracies, judge_accuracy, longer_judge, overlap_judge,
                                sequence_kl, trivial_judges, win_rate)


def test_sequence_kl_and_win_rate():
    lp = torch.tensor([[-1.0, -3.0], [-2.0, -2.0]])
    ref = torch.tensor([[-2.0, -1.0], [-2.5, -4.0]])
    mask = torch.tensor([[1, 0], [1, 1]])
    assert sequence_kl(lp, ref, mask).tolist() == [1.0, 2.5]
    assert win_rate([0.2, 0.9, 0.5, 0.5], [0.1, 1.0, 0.5, 0.4]) == pytest.approx((1 + 0 + 0.5 + 1) / 4)


def test_compare_policies_with_tiny_models():
    from rlhf_summ.policies.seq2seq import build_tiny_policy
    from rlhf_summ.reward import tiny_reward_model
    docs = ['a cat sat on the mat in the sun', 'the dog ran to the park and back', 'birds sing in the tall trees']
    refs = ['a cat sat', 'the dog ran', 'birds sing']
    pol = build_tiny_policy('bart', docs + refs, vocab_size=300, d_model=32, layers=1, max_target_length=6, seed=0)
    other = build_tiny_policy('bart', tokenizer=pol.tokenizer, d_model=32, layers=1, max_target_length=6, seed=3)
    rm = tiny_reward_model(max_length=32)
    before, modes = torch.get_rng_state(), (pol.model.training, other.model.training)
    metrics, rows = compare_policies(pol, docs, refs, reward_model=rm, reference=other, other=other, batch_size=2)
    assert torch.equal(torch.get_rng_state(), before)                               # sampling for the KL is seeded apart
    assert set(metrics) == {'rouge1', 'rouge2', 'rougeL', 'summary_tokens', 'reward', 'kl', 'other_reward', 'win_rate', 'decisive',
                            'decisive_win_rate'}
    assert metrics['kl'] != 0
    assert metrics['win_rate'] == pytest.approx(sum((r['reward'] > r['other_reward']) + 0.5 * (r['reward'] == r['other_reward'])
                                                    for r in rows) / 3)
    differ = [r for r in rows if r['reward'] != r['other_reward']]                  # the win rate where the two summaries differ
    assert metrics['decisive'] == len(differ)
    if differ: assert metrics['decisive_win_rate'] == pytest.approx(sum(r['reward'] > r['other_reward'] for r in differ) / len(differ))
    assert metrics['reward'] == pytest.approx(sum(r['reward'] for r in rows) / 3, abs=1e-6)
    again, _ = compare_policies(pol, docs, refs, reward_model=rm, reference=other, other=other, batch_size=2)
    assert again == metrics                                                          # seeded: the same numbers again
    assert (pol.model.training, other.model.training) == modes                       # train/eval modes restored


def test_trivial_judges_on_real_comparisons(shared_data):
    "On OpenAI's TL;DR comparisons the trivial judges are measurable numbers in [0, 1]; a judge and its mirror image sum to 1."
    from rlhf_summ.data import Comparison, load_comparisons
    comps = [c for c in load_comparisons(shared_data / 'comparisons' / 'tldr_batch13.json', limit=200) if c.choice != 0.5]
    judges = trivial_judges(comps)
    assert set(judges) == {'longer', 'overlap'} and all(0 < v < 1 for v in judges.values())
    swapped = [Comparison(c.document, c.summary_a, c.summary_b, 1.0 - c.choice) for c in comps]
    mirrored = trivial_judges(swapped)
    assert mirrored['longer'] == pytest.approx(1 - judges['longer']) and mirrored['overlap'] == pytest.approx(1 - judges['overlap'])

    class Longer:
        def score(self, documents, summaries, batch_size=16): return torch.tensor([float(len(s.split())) for s in summaries])
    table = judge_accuracies(comps, Longer())
    assert table['n'] == len(comps) and table['longer'] == judges['longer']
    assert table['reward_model'] == pytest.approx(win_rate([len(c.chosen.split()) for c in comps], [len(c.rejected.split()) for c in comps]))


def test_trivial_judges_by_hand():
    from rlhf_summ.data import Comparison, Document
    d = Document('p', 'The landlord kept the deposit')
    c = Comparison(d, 'landlord kept deposit', 'he kept it and more words here', 1.0)
    assert judge_accuracy(longer_judge, [c]) == 1.0          # b is longer and was picked
    assert judge_accuracy(overlap_judge, [c]) == 0.0         # a shares 3 distinct words with the post, b only 1
    assert trivial_judges([c]) == {'longer': 1.0, 'overlap': 0.0}


def test_lead_k_and_title_baselines():
    from rlhf_summ.data import Document
    from rlhf_summ.text import lead_k
    docs = [Document('1', 'Alpha beta gamma. Delta epsilon iota. Zeta.', title='alpha beta'), Document('2', 'One two. Three four.')]
    assert lead_k(docs[0], 2) == 'Alpha beta gamma. Delta epsilon iota.'     # prose sentences ('Zeta.' is not one)
    assert lead_k(docs[1], 1) == 'One two.'                                      # no prose at all: the first sentences
    scores = baseline_rouge(docs, ['alpha beta gamma', 'one two'], ks=(1, 2))
    assert set(scores) == {'lead-1', 'lead-2', 'title'}
    assert scores['lead-1']['rouge1'] > scores['lead-2']['rouge1']       # the longer lead only adds words the references lack
    assert scores['lead-1']['rouge1'] == pytest.approx((1.0 + 1.0) / 2)
