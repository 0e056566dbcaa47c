"""Benchmark the bounded PDF reader against the plain one: seconds per page of `read_paper_bounded` (a child process
with memory, time and object limits, forked from a warm forkserver) and of `read_paper`, on the same PDFs, alternating.

Usage: python bench/pdf_bounded.py [DIR] [N]   (default: ../shared/data/pdfs, all PDFs)
Last line: plain_s_per_page=X bounded_s_per_page=Y ratio=Y/X first_call_s=Z pages=P
(`first_call_s` is the first bounded read of the process, which starts the forkserver; it is not in the totals.)
"""
import sys, time
from pathlib import Path

from rlhf_summ.text.pdf import PDFError, read_paper, read_paper_bounded

ROOT = Path(__file__).resolve().parents[1]
folder = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / 'shared' / 'data' / 'pdfs'
pdfs = sorted(folder.glob('*.pdf'))[:int(sys.argv[2]) if len(sys.argv) > 2 else None]
if not pdfs: sys.exit(f'no PDFs in {folder}')
start = time.perf_counter(); read_paper_bounded(pdfs[0]); first = time.perf_counter() - start
plain = bounded = 0.0; pages = 0
for path in pdfs:
    try:
        t = time.perf_counter(); paper = read_paper(path); plain += time.perf_counter() - t
        t = time.perf_counter(); other = read_paper_bounded(path); bounded += time.perf_counter() - t
    except PDFError as e:
        print(f'{path.name}: {e}'); continue
    assert [s.text for s in other.sections] == [s.text for s in paper.sections], path
    pages += paper.pages_read
    print(f'{path.name}: {paper.pages_read} pages')
print(f'plain_s_per_page={plain / pages:.4f} bounded_s_per_page={bounded / pages:.4f} ratio={bounded / plain:.3f} '
      f'first_call_s={first:.2f} pages={pages}')
