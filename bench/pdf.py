"""Benchmark PDF ingestion: seconds per page, top-level heading recall/precision against the hand-written fixture, and
caption/figure lines left in the section text.

Usage: python bench/pdf.py [DIR ...]   (default: ../shared/data/pdfs and ../shared/data/pdfs_old relative to the repo root)
Last line: seconds_per_page=X heading_recall=R heading_precision=P old_heading_recall=R old_heading_precision=P
           old_caption_lines=N old_figure_lines=N   (heading_* on pdfs, old_* on pdfs_old; a folder's keys are
           printed only when it was benchmarked)
`caption_lines` counts kept body lines that lie inside a hand-copied caption (tests/fixtures/pdf_captions.json);
`figure_lines` counts kept lines outside the references that are mostly not words (figure debris, table cells).
"""
import json, sys, time
from pathlib import Path

from rlhf_summ.pdf import read_paper, top_headings, heading_match, caption_lines, figure_lines, PDFError

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / 'tests' / 'fixtures'
DATA = ROOT.parent / 'shared' / 'data'


def bench_folder(folder: Path, gold: dict, captions: dict) -> dict:
    "Parse every PDF in `folder`, print a line per paper; return the folder's totals."
    pdfs = sorted(folder.glob('*.pdf'))
    if not pdfs: sys.exit(f'no PDFs in {folder}')
    t = dict(seconds=0.0, pages=0, matched=0, found=0, wanted=0, caption_lines=0, figure_lines=0)
    for path in pdfs:
        start = time.perf_counter()
        try: paper = read_paper(path)
        except PDFError as e:
            print(f'{path.name}: {type(e).__name__}: {e}'); continue
        took = time.perf_counter() - start
        t['seconds'] += took; t['pages'] += paper.pages_read
        heads = top_headings(paper)
        cap, fig = caption_lines(paper, captions.get(path.name, [])), figure_lines(paper)
        t['caption_lines'] += len(cap); t['figure_lines'] += len(fig)
        line = (f'{path.name}: {paper.pages_read} pages {took / paper.pages_read:.3f} s/page {len(heads)} headings '
                f'abstract={len(paper.abstract)} chars caption_lines={len(cap)} figure_lines={len(fig)}')
        if path.name in gold:
            m, f, g = heading_match(heads, gold[path.name])
            t['matched'] += m; t['found'] += f; t['wanted'] += g
            line += f' recall={m / g:.2f} precision={m / max(f, 1):.2f}'
            missing = [h for h in gold[path.name] if heading_match([h], heads)[0] == 0]
            extra = [h for h in heads if heading_match([h], gold[path.name])[0] == 0]
            if missing or extra: line += f' missing={missing} extra={extra}'
        print(line)
    return t


def main(folders: list[Path]) -> None:
    gold = json.loads((FIXTURES / 'pdf_headings.json').read_text())
    captions = json.loads((FIXTURES / 'pdf_captions.json').read_text())
    keys, seconds, pages = [], 0.0, 0
    for folder in folders:
        t = bench_folder(folder, gold.get(folder.name, {}), captions.get(folder.name, {}))
        seconds += t['seconds']; pages += t['pages']
        recall = t['matched'] / t['wanted'] if t['wanted'] else float('nan')
        precision = t['matched'] / t['found'] if t['found'] else float('nan')
        prefix = 'old_' if folder.name == 'pdfs_old' else ''
        keys.append(f'{prefix}heading_recall={recall:.3f} {prefix}heading_precision={precision:.3f}')
        if prefix: keys.append(f"old_caption_lines={t['caption_lines']} old_figure_lines={t['figure_lines']}")
    print(f'seconds_per_page={seconds / max(pages, 1):.4f} ' + ' '.join(keys))


if __name__ == '__main__':
    main([Path(a) for a in sys.argv[1:]] or [DATA / 'pdfs', DATA / 'pdfs_old'])
