"""Summary quality of a policy on (document, summary) pairs it never trained on, next to lead-1, the title and the
offline extractive summarizers a user would reach for: `sumy`'s LexRank and TextRank, and `ots` (Open Text
Summarizer, Debian package `ots`, when installed).

Default: the default extractive policy (`rlhf_summ.policies.extractive.default_extractive_policy`: the one shipped with the
package, or the user's retrained one) on the first 200 abstracts of SciTLDR-A dev (`scitldr/dev.jsonl`, resolved by
`rlhf_summ.data.resolve_data`), which no training reads. ROUGE F1 x100 (`rouge_score`, stemmed), best over a
document's reference summaries (SciTLDR has several per paper), averaged over documents. `distinct` is the share of
distinct outputs, `empty` the number of empty ones. Lead-1 is the document's first sentence, cut to the same word
budget; `title` is the paper's title as its summary (SciTLDR TL;DRs often paraphrase it).

The peers run on the same documents in the same run, with the same number of sentences (`k`) and the same word
budget: LexRank and TextRank rank the sentences of our own sentence splitter (`extractive.split_sentences`, a
word-regex tokenizer, sumy's English stemmer and stop words: no NLTK data download), and the top `k` are composed
by `extractive.compose_summary` exactly as the policy's are; `ots` reads those sentences one per line at the
smallest ratio that keeps `k` of them, and its first `k` are composed the same way.

    python bench/policy_quality.py [--data FILE] [--limit N] [--model M] [--heldout] [--sections N] [--k K] [--max-words W]
                                   [--embedding-cache DIR]

`--heldout` keeps only the validation documents of `data.split_by_document(pairs, 0.1, seed 0)`, the split the
trainers use, so a training file can be evaluated on what training did not see; `--sections N` summarizes each of
the first N summarized sections of a sectioned paper (ScisummNet) against the paper's summary. `--model` takes an
extractive policy folder or a seq2seq policy folder / Hub id (beam search, 4 beams).

Last line: `rouge1=.. rouge2=.. rougeL=.. lead1_rouge1=.. lead1_rouge2=.. lead1_rougeL=.. distinct=.. empty=..
title_rouge1=.. sumy_lexrank_rouge1=.. sumy_textrank_rouge1=.. ots_rouge1=..` (`ots_rouge1=nan` when ots is absent).
"""
import argparse, json, math, re, shutil, subprocess, time
from pathlib import Path

import torch

from rlhf_summ.data import load_summary_pairs, resolve_data, split_by_document
from rlhf_summ.policies.extractive import ExtractivePolicy, SentenceEncoder, default_extractive_policy, is_extractive
from rlhf_summ.text import compose_summary, is_prose, lead_k, split_sentences


class WordTokenizer:
    "The tokenizer sumy's sentences need (words only: the sentences come from our splitter), with no NLTK data."
    language = 'english'

    def to_words(self, sentence: str) -> list[str]:
        return re.findall(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?", sentence)

    def to_sentences(self, paragraph: str) -> list[str]:
        return split_sentences(paragraph)


def candidates(document) -> tuple[list[str], list[int]]:
    "A document's sentences and the indices a summary may pick (prose sentences, as the policy and lead-k pick)."
    sentences = split_sentences(document.text)
    prose = [i for i, s in enumerate(sentences) if is_prose(s)] or list(range(len(sentences)))
    return sentences, prose


def sumy_summaries(documents, method: str, k: int, budget: int | None) -> list[str]:
    "Summaries by sumy's LexRank or TextRank: the top `k` of the candidate sentences, composed within `budget` words."
    from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence
    from sumy.nlp.stemmers import Stemmer
    from sumy.summarizers.lex_rank import LexRankSummarizer
    from sumy.summarizers.text_rank import TextRankSummarizer
    from sumy.utils import get_stop_words
    summarizer = {'lexrank': LexRankSummarizer, 'textrank': TextRankSummarizer}[method](Stemmer('english'))
    summarizer.stop_words = get_stop_words('english')
    tokenizer, out = WordTokenizer(), []
    for document in documents:
        sentences, prose = candidates(document)
        if len(prose) <= k: out.append(compose_summary(sentences, prose, budget)); continue
        model = ObjectDocumentModel([Paragraph([Sentence(sentences[i], tokenizer) for i in prose])])
        picked = {str(s) for s in summarizer(model, k)}
        out.append(compose_summary(sentences, [i for i in prose if sentences[i] in picked][:k], budget))
    return out


def ots_summaries(documents, k: int, budget: int | None) -> list[str] | None:
    "Summaries by the Open Text Summarizer (`ots`), or None when it is not installed."
    if shutil.which('ots') is None: return None
    out = []
    for document in documents:
        sentences, prose = candidates(document)
        lines = [sentences[i].replace('\n', ' ') for i in prose]
        ratio = max(1, math.ceil(100 * k / max(len(lines), 1)))
        kept = subprocess.run(['ots', f'--ratio={ratio}'], input='\n'.join(lines) + '\n', capture_output=True, text=True,
                              check=True).stdout
        chosen = [i for i, line in zip(prose, lines) if line.strip() and line.strip() in kept][:k]
        out.append(compose_summary(sentences, chosen or prose[:k], budget))
    return out


def references(path: Path, pairs) -> list[list[str]]:
    "Every reference of each pair: SciTLDR rows list several targets (`target`), other formats one summary."
    if path.suffix == '.jsonl' and path.is_file():
        rows = {}
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if isinstance(row.get('target'), list): rows[str(row.get('paper_id'))] = [t for t in row['target'] if t.strip()]
        if rows: return [rows.get(p.document.id) or [p.summary] for p in pairs]
    return [[p.summary] for p in pairs]


def best_rouge(predictions, targets) -> dict[str, float]:
    "Mean over documents of the best ROUGE F1 (x100) against any of its references."
    from rouge_score import rouge_scorer
    scorer = rouge_scorer.RougeScorer(['rouge1', 'rouge2', 'rougeL'], use_stemmer=True)
    totals = dict.fromkeys(('rouge1', 'rouge2', 'rougeL'), 0.0)
    for prediction, refs in zip(predictions, targets):
        scores = [scorer.score(r, prediction) for r in refs]
        for k in totals: totals[k] += max(s[k].fmeasure for s in scores)
    return {k: 100 * v / max(len(predictions), 1) for k, v in totals.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', default='scitldr/dev.jsonl', help='a path, Hub id or data name (rlhf_summ.data.resolve_data)')
    parser.add_argument('--limit', type=int, default=200, help='documents evaluated (after --heldout)')
    parser.add_argument('--model', default='', help='policy folder (default: the default extractive policy)')
    parser.add_argument('--heldout', action='store_true', help="keep only the trainers' validation documents")
    parser.add_argument('--sections', type=int, default=0, help='summarize the first N sections of sectioned papers')
    parser.add_argument('--k', type=int, default=None, help='sentences per summary (default: the policy default)')
    parser.add_argument('--max-words', type=int, default=None, help='word budget (default: the policy default; 0: none)')
    parser.add_argument('--embedding-cache', default='', help='folder of cached sentence vectors (reused across runs)')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--show', type=int, default=3, help='example summaries printed')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    pairs = load_summary_pairs(args.data)
    if args.heldout: pairs = split_by_document(pairs, 0.1, 0)[1]
    pairs = pairs[:args.limit]
    location = resolve_data(args.data)
    targets = references(location.path or Path(args.data), pairs)
    documents, doc_targets = [], []
    for pair, refs in zip(pairs, targets):
        sections = [s for s in pair.document.sections if s.kind in ('abstract', 'body')][:args.sections] if args.sections else []
        for section in sections or [pair.document]:
            documents.append(section if not sections else type(pair.document)(pair.document.id, section.text, pair.document.title))
            doc_targets.append(refs)

    start = time.perf_counter()
    encoder = SentenceEncoder(cache_dir=args.embedding_cache) if args.embedding_cache else None
    if not args.model: policy = default_extractive_policy(encoder=encoder)
    elif is_extractive(args.model): policy = ExtractivePolicy.from_pretrained(args.model, encoder=encoder)
    else:
        from rlhf_summ.policies.seq2seq import Policy
        policy = Policy.from_pretrained(args.model)
    if isinstance(policy, ExtractivePolicy):
        kwargs = dict(k=args.k, max_words=args.max_words)
        outputs = [s for i in range(0, len(documents), 64) for s in policy.summarize(documents[i:i + 64], **kwargs)]
        budget = policy.max_words if args.max_words is None else (args.max_words or None)
    else:
        texts = [d.text for d in documents]
        outputs = [s for i in range(0, len(texts), 16) for s in policy.generate(texts[i:i + 16], num_beams=4).summaries]
        budget = None
    seconds = time.perf_counter() - start
    if encoder is not None: encoder.flush()

    ours = best_rouge(outputs, doc_targets)
    lead = best_rouge([lead_k(d, 1, budget) for d in documents], doc_targets)
    k = args.k or getattr(policy, 'k', 1)
    title = best_rouge([d.title for d in documents], doc_targets) if all(d.title for d in documents) else None
    peers = {}
    for name, make in (('sumy_lexrank', lambda: sumy_summaries(documents, 'lexrank', k, budget)),
                       ('sumy_textrank', lambda: sumy_summaries(documents, 'textrank', k, budget)),
                       ('ots', lambda: ots_summaries(documents, k, budget))):
        t0 = time.perf_counter()
        summaries = make()
        peers[name] = best_rouge(summaries, doc_targets) if summaries is not None else None
        if summaries is not None:
            print(f"{name}: " + ' / '.join(f"{v:.2f}" for v in peers[name].values()) + f" ({time.perf_counter() - t0:.1f}s, "
                  f"mean words {sum(len(x.split()) for x in summaries) / max(len(summaries), 1):.1f})")
        else: print(f"{name}: not installed (Debian package `ots`)")
    if title: print('title: ' + ' / '.join(f"{v:.2f}" for v in title.values()))
    if k > 1:                                       # the same number of leading sentences, same budget
        lead_more = best_rouge([lead_k(d, k, budget) for d in documents], doc_targets)
        print(' '.join(f'lead{k}_{m}={v:.2f}' for m, v in lead_more.items()))
    for doc, out, refs in list(zip(documents, outputs, doc_targets))[:args.show]:
        print(f"--- {doc.id}\nsummary:   {out}\nreference: {refs[0]}")
    print(f"{len(documents)} documents from {args.data}{' (held out)' if args.heldout else ''}, "
          f"policy {args.model or 'default'}, {seconds:.1f}s; "
          f"mean summary words {sum(len(o.split()) for o in outputs) / max(len(outputs), 1):.1f}")
    print(' '.join([f'{k}={v:.2f}' for k, v in ours.items()] + [f'lead1_{k}={v:.2f}' for k, v in lead.items()] +
                   [f'distinct={len(set(outputs)) / max(len(outputs), 1):.3f}', f'empty={sum(not o.strip() for o in outputs)}'] +
                   [f"title_rouge1={title['rouge1'] if title else float('nan'):.2f}"] +
                   [f"{name}_rouge1={r['rouge1'] if r else float('nan'):.2f}" for name, r in peers.items()]))


if __name__ == '__main__':
    main()
