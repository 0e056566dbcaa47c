"""Benchmark PDF ingestion: seconds per page and top-level heading recall/precision against the hand-written fixture.

Usage: python bench/pdf.py [DIR]   (DIR defaults to ../shared/data/pdfs relative to the repo root)
Last line: seconds_per_page=X heading_recall=R heading_precision=P
"""
import json, sys, time
from pathlib import Path

from rlhf_summ.pdf import read_paper, top_headings, heading_match, PDFError

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / 'tests' / 'fixtures' / 'pdf_headings.json'


def main(folder: Path) -> None:
    gold = json.loads(FIXTURE.read_text()) if FIXTURE.exists() else {}
    pdfs = sorted(folder.glob('*.pdf'))
    if not pdfs: sys.exit(f'no PDFs in {folder}')
    seconds = pages = matched = found = wanted = 0
    for path in pdfs:
        start = time.perf_counter()
        try: paper = read_paper(path)
        except PDFError as e:
            print(f'{path.name}: {type(e).__name__}: {e}'); continue
        took = time.perf_counter() - start
        seconds += took; pages += paper.pages_read
        heads = top_headings(paper)
        line = f'{path.name}: {paper.pages_read} pages {took / paper.pages_read:.3f} s/page {len(heads)} headings abstract={len(paper.abstract)} chars'
        if path.name in gold:
            m, f, g = heading_match(heads, gold[path.name])
            matched += m; found += f; wanted += g
            line += f' recall={m / g:.2f} precision={m / max(f, 1):.2f}'
            missing = [h for h in gold[path.name] if heading_match([h], heads)[0] == 0]
            extra = [h for h in heads if heading_match([h], gold[path.name])[0] == 0]
            if missing or extra: line += f' missing={missing} extra={extra}'
        print(line)
    recall = matched / wanted if wanted else float('nan')
    precision = matched / found if found else float('nan')
    print(f'seconds_per_page={seconds / max(pages, 1):.4f} heading_recall={recall:.3f} heading_precision={precision:.3f}')


if __name__ == '__main__':
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / 'shared' / 'data' / 'pdfs')
