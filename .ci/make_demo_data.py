"""Cut the demo sample shipped in `rlhf_summ/demo_data/` from the full data folder (run from the repo root).

    python .ci/make_demo_data.py [SOURCE]    (default: ../shared/data)

SciTLDR (Apache-2.0): the first 300 papers of train.jsonl and the first 150 of dev.jsonl. OpenAI's
summarize-from-feedback comparisons (CC BY 4.0): every comparison of the first documents of each validation batch
file, up to 250 (tldr_batch13), 40 (cnndm_batch0) and 5 (edit_b2_eval_test) rows, so that documents keep all
their comparisons (splits are by document). Rows are copied byte for byte; the total stays under 2 MB.
"""
import json, shutil, sys
from pathlib import Path

SOURCE = Path(sys.argv[1] if len(sys.argv) > 1 else '../shared/data')
OUT = Path('rlhf_summ/demo_data')
LIMITS = {'scitldr/train.jsonl': 300, 'scitldr/dev.jsonl': 150}
COMPARISON_LIMITS = {'comparisons/tldr_batch13.json': 250, 'comparisons/cnndm_batch0.json': 40,
                     'comparisons/edit_b2_eval_test.json': 5}


def whole_documents(lines: list[str], limit: int) -> list[str]:
    "The first rows, in file order, of the first documents whose comparisons all fit in `limit` rows."
    by_doc: dict[str, list[str]] = {}
    for line in lines:
        info = json.loads(line)['info']
        by_doc.setdefault(str(info.get('id') or info.get('post') or info.get('article')), []).append(line)
    kept = []
    for rows in by_doc.values():
        if len(kept) + len(rows) > limit: continue
        kept += rows
    return kept


def main():
    for name, limit in LIMITS.items():
        (OUT/name).parent.mkdir(parents=True, exist_ok=True)
        lines = (SOURCE/name).read_text(encoding='utf-8').splitlines(keepends=True)[:limit]
        (OUT/name).write_text(''.join(lines), encoding='utf-8')
    shutil.copyfile(SOURCE/'scitldr/LICENSE', OUT/'scitldr/LICENSE')
    for name, limit in COMPARISON_LIMITS.items():
        (OUT/name).parent.mkdir(parents=True, exist_ok=True)
        lines = [l for l in (SOURCE/name).read_text(encoding='utf-8').splitlines(keepends=True) if l.strip()]
        (OUT/name).write_text(''.join(whole_documents(lines, limit)), encoding='utf-8')
    total = sum(p.stat().st_size for p in OUT.rglob('*') if p.is_file())
    print(f"demo sample: {total / 1e6:.2f} MB in {OUT}")


if __name__ == '__main__':
    main()
