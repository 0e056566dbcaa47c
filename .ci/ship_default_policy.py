"""Ship a trained default extractive policy as package data, with its held-out scores (run from the repo root).

    nice -n 10 rlhf-summ train-extractive --output_dir /tmp/extractive     # the documented recipe: ExtractiveConfig()
    python .ci/ship_default_policy.py /tmp/extractive

Copies the weights (`model.safetensors`), `extractive_config.json` and the recipe's resolved config
(`extractive_train_config.json`) into `rlhf_summ/default_policy/`, then scores it on the first 50 papers of SciTLDR
dev (`scitldr/dev.jsonl`, which the recipe never reads; ROUGE F1 x100 against each paper's first reference, as
`rlhf_summ.evaluate.rouge_scores` computes it) next to lead-1 and the title, and writes `heldout.json`: those
scores and `floor_rouge1`, the policy's ROUGE-1 less one point, which `tests/test_extractive.py` holds the shipped
policy to (the margin leaves room for encoder speed-ups that move sentence vectors by less than cos 0.999).
MODEL_CARD.md beside it is written by hand from these numbers and `bench/policy_quality.py`'s.
"""
import json, shutil, sys
from pathlib import Path

from rlhf_summ.data import load_summary_pairs
from rlhf_summ.evaluate import rouge_scores
from rlhf_summ.policies.extractive import ExtractivePolicy, SHIPPED_EXTRACTIVE_DIR
from rlhf_summ.text import lead_k

N = 50


def heldout_scores(policy: ExtractivePolicy, n: int = N) -> dict:
    "ROUGE x100 of `policy`, lead-1 and the title on the first `n` SciTLDR dev papers."
    pairs = load_summary_pairs('scitldr/dev.jsonl', limit=n)
    documents, references = [p.document for p in pairs], [p.summary for p in pairs]
    summaries = {'policy': policy.summarize(documents), 'lead-1': [lead_k(d, 1, policy.max_words) for d in documents],
                 'title': [d.title for d in documents]}
    return {name: {k: round(100 * v, 2) for k, v in rouge_scores(s, references).items()} for name, s in summaries.items()}


def main(src: Path):
    SHIPPED_EXTRACTIVE_DIR.mkdir(exist_ok=True)
    for name in ('model.safetensors', 'extractive_config.json', 'extractive_train_config.json'):
        shutil.copy2(src / name, SHIPPED_EXTRACTIVE_DIR / name)
    scores = heldout_scores(ExtractivePolicy.from_pretrained(SHIPPED_EXTRACTIVE_DIR))
    record = {'data': f'scitldr/dev.jsonl, first {N} papers (never read by the recipe)', 'n': N,
              'metric': 'ROUGE F1 x100 against the first reference (rlhf_summ.evaluate.rouge_scores)', 'rouge_x100': scores,
              'floor_rouge1': round(scores['policy']['rouge1'] - 1.0, 2)}
    (SHIPPED_EXTRACTIVE_DIR / 'heldout.json').write_text(json.dumps(record, indent=1) + '\n')
    print(json.dumps(record, indent=1))


if __name__ == '__main__':
    main(Path(sys.argv[1]))
