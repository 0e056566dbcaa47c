"""The `rlhf-summ` command line end to end: train a tiny policy with `sft`, then `summarize` a real PDF with it."""
import json, os, subprocess, sys

import pytest

from rlhf_summ.cli import COMMANDS, main, run_command
from rlhf_summ.policies.seq2seq import Policy


def test_sft_then_summarize_pdf(shared_data, tmp_path, capsys):
    run = tmp_path / 'sft'
    result = run_command(['sft', '--data', str(shared_data / 'scitldr'), '--data_limit', '40', '--steps', '3', '--batch_size', '4',
                   '--lr', '1e-3', '--warmup_steps', '1', '--eval_every', '3', '--save_every', '3', '--rouge_samples', '2',
                   '--eval_limit', '8', '--max_source_length', '64', '--max_target_length', '16', '--tiny_vocab_size', '400',
                   '--tiny_d_model', '32', '--output_dir', str(run), '--progress', 'false'])
    assert result == run and (run / 'sft_config.json').is_file()
    saved = json.loads((run / 'sft_config.json').read_text())
    assert (saved['steps'], saved['lr'], saved['progress']) == (3, 1e-3, False)
    steps = [json.loads(l)['step'] for l in (run / 'metrics.jsonl').read_text().splitlines()]
    assert max(steps) == 3
    Policy.from_pretrained(run, device='cpu')
    capsys.readouterr()

    rows = run_command(['summarize', '--input', str(shared_data / 'pdfs/N18-3011.pdf'), '--policy', str(run),
                 '--max_new_tokens', '8', '--num-beams', '1', '--format', 'jsonl'])
    printed = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert printed == rows and len(rows) >= 5
    assert all(r['heading'] and isinstance(r['summary'], str) for r in rows)
    assert not any(r['heading'].lower().startswith(('references', 'acknowledg')) for r in rows)


def console(*argv, cwd=None):
    "Run `rlhf-summ argv` the way the installed console script does (`sys.exit(main())`)."
    script = 'import sys; from rlhf_summ.cli import main; sys.exit(main())'
    return subprocess.run([sys.executable, '-c', script, *argv], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_console_exit_status_and_single_output(tmp_path):
    from rlhf_summ.feedback.registry import Registry
    (tmp_path / 'm').mkdir(); (tmp_path / 'm' / 'weights.txt').write_text('x')
    registry = Registry(tmp_path / 'registry')
    for _ in range(2): registry.register('policy', src_dir=tmp_path / 'm')
    done = console('promote', '--registry_dir', str(tmp_path / 'registry'), '--version', 'v2', '--reason', 'test')
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"policy/v2 ({tmp_path / 'registry' / 'policy' / 'v2'})"] and done.stderr == ''
    assert Registry(tmp_path / 'registry').current('policy').version == 'v2'

    missing = console('promote', '--registry_dir', str(tmp_path / 'registry'), '--version', 'v7')
    assert missing.returncode == 2 and len(missing.stderr.splitlines()) == 1 and "'v7'" in missing.stderr
    assert 'Traceback' not in missing.stderr

    binary = tmp_path / 'scan.txt'; binary.write_bytes(bytes(range(256)) * 4)
    bad = console('summarize', '--input', str(binary), '--policy', str(tmp_path))
    assert bad.returncode == 2 and bad.stderr.count('\n') == 1 and 'scan.txt' in bad.stderr and 'Traceback' not in bad.stderr
    debug = console('summarize', '--input', str(binary), '--policy', str(tmp_path), '--debug')
    assert debug.returncode == 1 and 'Traceback' in debug.stderr and 'scan.txt' in debug.stderr

    data = tmp_path / 'pairs.jsonl'; data.write_text('{"paper_id": 1, "source": ["a"], "target": ["b"]}\n{"paper_id": 2,\n')
    broken = console('sft', '--data', str(data), '--steps', '1', '--output_dir', str(tmp_path / 'run'))
    assert broken.returncode == 2 and len(broken.stderr.splitlines()) == 1
    assert 'pairs.jsonl, line 2' in broken.stderr and 'Traceback' not in broken.stderr


def test_bad_input_and_flags(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match='nope.pdf'):
        run_command(['summarize', '--input', str(tmp_path / 'nope.pdf'), '--policy', str(tmp_path)])
    assert main(['summarize', '--input', str(tmp_path / 'nope.pdf'), '--policy', str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and 'nope.pdf' in err
    with pytest.raises(SystemExit) as exit_info:
        main(['reward', '--no_such_field', '1'])
    assert exit_info.value.code == 2 and '--no_such_field' in capsys.readouterr().err


def test_train_extractive_then_summarize_with_the_default(shared_data, tmp_path, monkeypatch, capsys):
    from rlhf_summ.policies.extractive import SHIPPED_EXTRACTIVE_DIR, default_extractive_dir, default_extractive_path
    from rlhf_summ.policies import load_policy
    from rlhf_summ.text import split_sentences
    from rlhf_summ.text.pdf import read_paper, sections_to_summarize
    monkeypatch.setenv('RLHF_SUMM_CACHE', str(tmp_path / 'cache'))
    pdf = str(shared_data / 'pdfs/N18-3011.pdf')
    assert default_extractive_path() == SHIPPED_EXTRACTIVE_DIR
    assert main(['summarize', pdf, '--format', 'jsonl']) == 0                # right after install: the shipped policy
    shipped_rows = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    run = run_command(['train-extractive', '--data', str(shared_data / 'scitldr'), '--data-limit', '24', '--epochs', '2',
                '--batch_size', '8', '--d_model', '32', '--layers', '1', '--heads', '2', '--eval_limit', '4',
                '--progress', 'false'])
    assert run == default_extractive_dir() == default_extractive_path() and (run / 'extractive_config.json').is_file()
    assert load_policy('').model.config['d_model'] == 32                      # the retrained one takes precedence
    assert any((run.parent / 'embeddings').glob('*/shard_*.pt'))          # sentence vectors cached beside it
    capsys.readouterr()
    rows = run_command(['summarize', '--input', pdf])
    sections = sections_to_summarize(read_paper(pdf))
    assert len(rows) == len(sections) == len(shipped_rows) >= 5
    for row, section in zip(rows + shipped_rows, sections + sections):
        assert row['summary'].strip()                                      # a non-empty summary for every section
        assert row['summary'] in ' '.join(split_sentences(section.text))   # made of the section's own sentences
    # a cold process summarizes without importing what it does not use (seconds of a user's wait)
    # and its bounded PDF reader forks off the process itself before torch is imported (no forkserver to start)
    probe = ("import json, sys; import rlhf_summ.text.pdf as pdf; from rlhf_summ.cli import run_command\n"
             "init, reads = pdf.BoundedRead.__init__, []\n"
             "def spy(self, *args, **kwargs): init(self, *args, **kwargs); reads.append([self.method, 'torch' in sys.modules])\n"
             "pdf.BoundedRead.__init__ = spy; rows = run_command(sys.argv[1:])\n"
             "print(json.dumps([sorted(m for m in ('transformers', 'datasets', 'accelerate', 'matplotlib') if m in sys.modules), reads, rows]))")
    out = subprocess.run([sys.executable, '-c', probe, 'summarize', '--input', pdf], capture_output=True, text=True, timeout=300,
                         env={**os.environ, 'RLHF_SUMM_CACHE': str(tmp_path / 'cache')})
    imported, reads, cold_rows = json.loads(out.stdout.strip().splitlines()[-1])
    assert imported == [] and reads == [['fork', False]] and cold_rows == rows, out.stderr[-2000:]


def test_summarize_formats_and_flags(tiny_pdf, tmp_path, monkeypatch, capsys):
    "Positional papers, plain text / Markdown / JSON lines, dashed flags, and no seq2seq-only flag for the extractive default."
    monkeypatch.setenv('RLHF_SUMM_CACHE', str(tmp_path / 'cache'))
    text = tmp_path / 'notes.txt'
    text.write_text('We propose a method for reading papers faster. It helps people a lot. We release the code.')
    assert main(['summarize', str(tiny_pdf), str(text), '--format', 'text', '--max-pages', '2']) == 0
    out = capsys.readouterr().out
    assert f'== {tiny_pdf} ==' in out and '1 Introduction\n  ' in out and f'== {text} ==' in out
    assert main(['summarize', str(text), '--format', 'markdown']) == 0
    assert capsys.readouterr().out.startswith('# notes.txt\n\n## Part 1\n\n')           # text.split_text's sections
    assert main(['summarize', '--input', str(text)]) == 0                      # not a terminal: JSON lines
    assert json.loads(capsys.readouterr().out)['paper'] == str(text)
    with pytest.raises(SystemExit):
        main(['summarize', str(text), '--num-beams', '2'])                    # not a flag of the extractive default
    assert 'unrecognized arguments: --num-beams' in capsys.readouterr().err
    assert main(['summarize', str(text), '--format', 'yaml']) == 2
    assert "unknown --format 'yaml'" in capsys.readouterr().err


@pytest.mark.parametrize('command', [*COMMANDS, 'run'])
def test_every_command_prints_its_help(command, capsys):
    with pytest.raises(SystemExit) as exit:                          # argparse's --help exits 0 after printing
        run_command([command, '--help'])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f'usage: rlhf-summ {command}') and '--' in out
