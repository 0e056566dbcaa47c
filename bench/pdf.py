"""Benchmark PDF ingestion against the hand-read gold (tests/fixtures/pdf_gold.json): seconds per page; per paper and pooled,
heading precision/recall (all levels, and top level as before), levels right, title and abstract found, sections, and the
share of section text (references left out) in caption or table lines.

Usage: python bench/pdf.py [DIR ...] [--against CHECKOUT]   (default: ../shared/data/pdfs and ../shared/data/pdfs_old relative to
       the repo root; --against: also time `read_paper` of another checkout's `rlhf_summ` side by side, in CPU seconds, two
       rounds each, alternating, and add cpu_seconds_per_page, baseline_cpu_seconds_per_page and cpu_ratio to the last line)
Last line: seconds_per_page=X heading_recall=R heading_precision=P old_heading_recall=R old_heading_precision=P
           old_caption_lines=N old_figure_lines=N gold_heading_recall=R gold_heading_precision=P worst_paper_f1=F
           abstracts_found=K/N titles_found=K/N leak_share=S empty_papers=N hand_leak_share=S hand_leak_max=S
           hand_leak_bound_max=S unchecked_lines=N labelled_junk_kept=K/N
           (heading_* are top-level headings on pdfs, old_* on pdfs_old; a folder's keys are printed only when it was
           benchmarked; gold_* and the keys after it pool every folder benchmarked, all heading levels)
`caption_lines` counts kept body lines that lie inside a hand-copied caption (tests/fixtures/pdf_captions.json) or start like
one; `figure_lines` counts kept lines outside the references that are mostly not words (figure debris, table cells);
`labelled_junk_kept` counts the hand-labelled table, figure and caption lines of tests/fixtures/denoise_lines.jsonl (five
papers) that the reader keeps. `leak_share` (and `leak` per paper) is the characters of kept lines outside the references that are caption lines or table rows
(`table_like`: half the tokens numbers) over all kept characters outside the references: a proxy.
The direct figure: `hand_leak_share` (pooled) and `hand_leak_max` (worst paper) are the kept characters in lines hand-labelled
table or caption (tests/fixtures/pdf_leak_labels.json: every kept line a liberal detector, `suspect_line`, flags or that lies
in a caption block of poppler's `pdftotext -bbox-layout`, read against `pdftotext -layout`); `hand_leak_bound_max` adds the
suspects no label covers (`unchecked_lines` of them, listed per paper): an upper bound. Where `pdftotext` is installed, kept
lines inside its caption blocks that no label covers count as unchecked too. `figure=` per paper is figure and algorithm text.
"""
import html, json, os, re, shutil, subprocess, sys, time
from pathlib import Path

from rlhf_summ.text.pdf import read_paper, top_headings, heading_match, caption_lines, figure_lines, score_paper, real_line_decisions, PDFError

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / 'tests' / 'fixtures'
DATA = ROOT.parent / 'shared' / 'data'


CAPTION_START = re.compile(r'^\s*(?:figure|fig\.|table)\s*\d+[a-z]?\s*(?:[:.]|$)', re.I)


def poppler_captions(path: Path, pages: int) -> list[tuple[int, str]]:
    "(page, words) of each caption block that poppler (`pdftotext -bbox-layout`) finds: a block whose first line starts 'Figure 2:' / 'Table 1.' / 'Table 3'."
    if not shutil.which('pdftotext'): return []
    xhtml = subprocess.run(['pdftotext', '-l', str(pages), '-bbox-layout', str(path), '-'], capture_output=True, text=True).stdout
    out = []
    for page_no, page in enumerate(xhtml.split('<page ')[1:], 1):
        for block in re.findall(r'<block[^>]*>(.*?)</block>', page, re.S):
            rows = [' '.join(html.unescape(w) for w in re.findall(r'<word[^>]*>(.*?)</word>', ln, re.S)) for ln in re.findall(r'<line[^>]*>(.*?)</line>', block, re.S)]
            if rows and CAPTION_START.match(rows[0]): out.append((page_no, _words(' '.join(rows))))
    return out


def _words(text: str) -> str: return ' ' + ' '.join(re.findall(r'[a-z0-9]+', text.lower())) + ' '


def in_poppler_caption(paper, blocks, labels: dict) -> list[str]:
    "Kept lines outside the references (three words or more) inside one of poppler's caption blocks on their page that no hand label covers."
    known = {(p, t) for k in ('table', 'caption', 'figure', 'prose') for p, t in labels.get(k, [])}
    return [ln.text for ln, k in zip(paper.lines, paper.line_sections) if paper.sections[k].kind != 'references' and (ln.page, ln.text) not in known
            and len(_words(ln.text).split()) >= 3 and any(p == ln.page and _words(ln.text) in w for p, w in blocks)]


def bench_folder(folder: Path, gold: dict, captions: dict, labels: dict) -> dict:
    "Parse every PDF in `folder`, print a line per paper; return the folder's totals."
    pdfs = sorted(folder.glob('*.pdf'))
    if not pdfs: sys.exit(f'no PDFs in {folder}')
    t = dict(seconds=0.0, pages=0, matched=0, found=0, wanted=0, caption_lines=0, figure_lines=0, papers={})
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
        line = f'{path.name}: {paper.pages_read} pages {took / paper.pages_read:.3f} s/page {len(paper.sections)} sections'
        if path.name in gold:
            g = gold[path.name]
            m, f, w = heading_match(heads, [h for h, lvl in g['headings'] if lvl == 1])
            t['matched'] += m; t['found'] += f; t['wanted'] += w
            s = t['papers'][path.name] = score_paper(paper, g, captions.get(path.name, []), labels.get(path.name, {}))
            extra = in_poppler_caption(paper, poppler_captions(path, paper.pages_read), labels.get(path.name, {}))
            s['unchecked'] += extra; s['unchecked_chars'] += sum(map(len, extra))
            line += (f" P={s['matched'] / max(s['found'], 1):.2f} R={s['matched'] / s['gold']:.2f} ({s['matched']}/{s['found']}/{s['gold']})"
                     f" levels_ok={s['level_ok']}/{s['matched']} title={'ok' if s['title_ok'] else 'MISS'}"
                     f" abstract={'ok' if s['abstract_ok'] else 'MISS'}{'' if s['has_abstract'] else '(none)'}"
                     f" leak={s['leak_chars'] / max(s['chars'], 1):.2%} hand_leak={s['hand_leak_chars'] / max(s['chars'], 1):.2%}"
                     f" bound={(s['hand_leak_chars'] + s['unchecked_chars']) / max(s['chars'], 1):.2%} figure={s['hand_figure_chars'] / max(s['chars'], 1):.2%}")
            if s['unchecked']: line += f" unchecked={s['unchecked']}"
            if s['missing'] or s['extra']: line += f" missing={s['missing']} extra={s['extra']}"
        print(line)
    return t


def main(folders: list[Path]) -> None:
    gold = json.loads((FIXTURES / 'pdf_gold.json').read_text())
    captions = json.loads((FIXTURES / 'pdf_captions.json').read_text())
    labels = json.loads((FIXTURES / 'pdf_leak_labels.json').read_text())
    keys, seconds, pages, scores = [], 0.0, 0, {}
    for folder in folders:
        t = bench_folder(folder, gold.get(folder.name, {}), captions.get(folder.name, {}), labels.get(folder.name, {}))
        seconds += t['seconds']; pages += t['pages']; scores.update(t['papers'])
        recall = t['matched'] / t['wanted'] if t['wanted'] else float('nan')
        precision = t['matched'] / t['found'] if t['found'] else float('nan')
        prefix = 'old_' if folder.name == 'pdfs_old' else ''
        keys.append(f'{prefix}heading_recall={recall:.3f} {prefix}heading_precision={precision:.3f}')
        if prefix: keys.append(f"old_caption_lines={t['caption_lines']} old_figure_lines={t['figure_lines']}")
    tot = {k: sum(s[k] for s in scores.values()) for k in ('matched', 'found', 'gold', 'leak_chars', 'chars', 'hand_leak_chars')}
    f1 = [2 * s['matched'] / max(s['found'] + s['gold'], 1) for s in scores.values()]
    keys.append(f"gold_heading_recall={tot['matched'] / max(tot['gold'], 1):.3f} gold_heading_precision={tot['matched'] / max(tot['found'], 1):.3f} "
                f"worst_paper_f1={min(f1, default=float('nan')):.3f} "
                f"abstracts_found={sum(s['abstract_ok'] for s in scores.values() if s['has_abstract'])}/{sum(s['has_abstract'] for s in scores.values())} "
                f"titles_found={sum(s['title_ok'] for s in scores.values())}/{len(scores)} "
                f"leak_share={tot['leak_chars'] / max(tot['chars'], 1):.4f} empty_papers={sum(s['sections'] == 0 for s in scores.values())} "
                f"hand_leak_share={tot['hand_leak_chars'] / max(tot['chars'], 1):.4f} "
                f"hand_leak_max={max((s['hand_leak_chars'] / max(s['chars'], 1) for s in scores.values()), default=float('nan')):.4f} "
                f"hand_leak_bound_max={max(((s['hand_leak_chars'] + s['unchecked_chars']) / max(s['chars'], 1) for s in scores.values()), default=float('nan')):.4f} "
                f"unchecked_lines={sum(len(s['unchecked']) for s in scores.values())}")
    rows = [json.loads(l) for l in (FIXTURES / 'denoise_lines.jsonl').read_text().splitlines() if l.strip()]
    rows = [r for r in rows if r['label'] == 'junk' and r['kind'] in ('table', 'figure', 'caption') and (DATA / r['source']).parent.resolve() in {f.resolve() for f in folders}]
    if rows: keys.append(f"labelled_junk_kept={sum(not removed for removed in real_line_decisions(rows, DATA))}/{len(rows)}")
    print(f'seconds_per_page={seconds / max(pages, 1):.4f} ' + ' '.join(keys))


TIMER = """
import sys, time, warnings
from pathlib import Path
try: from rlhf_summ.text.pdf import read_paper, PDFError
except ModuleNotFoundError: from rlhf_summ.pdf import read_paper, PDFError    # a checkout from before the text/ folder
warnings.simplefilter('ignore')
cpu, pages = 0.0, 0
for path in sorted(p for d in sys.argv[1:] for p in Path(d).glob('*.pdf')):
    start = time.process_time()
    try: paper = read_paper(path)
    except PDFError: continue
    cpu += time.process_time() - start; pages += paper.pages_read
print(cpu / pages)
"""


def cpu_per_page(checkout: Path, folders: list[Path]) -> float:
    "CPU seconds per page of `read_paper` from `checkout`'s package over `folders`, in a fresh process (CPU time: fair on a shared machine)."
    env = {**os.environ, 'PYTHONPATH': str(checkout)}
    out = subprocess.run([sys.executable, '-c', TIMER, *map(str, folders)], env=env, capture_output=True, text=True, check=True, cwd=checkout)
    return float(out.stdout.split()[-1])


if __name__ == '__main__':
    args = sys.argv[1:]
    against = Path(args.pop(args.index('--against') + 1)) if '--against' in args else None
    if against: args.remove('--against')
    folders = [Path(a) for a in args] or [DATA / 'pdfs', DATA / 'pdfs_old']
    if against is None: main(folders)
    else:
        import contextlib, io
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf): main(folders)
        lines = buf.getvalue().splitlines(); print('\n'.join(lines[:-1]))
        ours, theirs = [], []
        for _ in range(2): ours.append(cpu_per_page(ROOT, folders)); theirs.append(cpu_per_page(against.resolve(), folders))
        print(f'cpu s/page: this checkout {ours}, {against} {theirs}')
        print(f'{lines[-1]} cpu_seconds_per_page={min(ours):.4f} baseline_cpu_seconds_per_page={min(theirs):.4f} cpu_ratio={min(ours) / min(theirs):.3f}')
