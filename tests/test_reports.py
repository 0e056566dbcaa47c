"""Metrics files read back, loss-curve plots, the HTML report, CLI parameter parsing and `run_job` on small notebooks."""
import json
from pathlib import Path

import nbformat
import pytest

from rlhf_summ.reports import (coerce_param, final_metrics, gather_metrics, job_parameters, list_jobs, metric_change,
                               metric_groups, metric_series, parse_params, plot_metrics, run_configs, run_job, smooth,
                               write_report)
from rlhf_summ.train import append_metrics, read_metrics

JOBS = Path(__file__).resolve().parents[1] / 'nbs' / 'jobs'


def _job(folder: Path, name: str, params: str, body: str) -> Path:
    "Write a job notebook with a `parameters` cell."
    nb = nbformat.v4.new_notebook(metadata={'kernelspec': {'name': 'python3', 'display_name': 'python3', 'language': 'python'}})
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata['tags'] = ['parameters']
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f'{name}.ipynb')
    return folder / f'{name}.ipynb'


@pytest.fixture
def metrics_file(tmp_path):
    path = tmp_path / 'metrics.jsonl'
    for step in range(1, 9):
        append_metrics(path, step, **{'train/sft/loss': 10.0 / step, 'train/rl/reward': 0.1 * step})
        if step % 4 == 0: append_metrics(path, step, **{'eval/sft/loss': 12.0 / step})
    return path


def test_metrics_roundtrip_and_series(metrics_file):
    records = read_metrics(metrics_file.parent)
    assert len(records) == 10
    assert metric_series(records, 'eval/sft/loss') == ([4, 8], [3.0, 1.5])
    assert metric_groups(records) == {'sft/loss': ['train/sft/loss', 'eval/sft/loss'], 'rl/reward': ['train/rl/reward']}
    assert final_metrics(records) == {'train/sft/loss': 1.25, 'train/rl/reward': pytest.approx(0.8), 'eval/sft/loss': 1.5}
    # first quarter of 8 values is steps 1-2, last quarter steps 7-8
    assert metric_change(records, 'train/sft/loss') == pytest.approx((10 / 7 + 10 / 8) / 2 - (10 + 5) / 2)
    assert metric_change(records, 'train/rl/reward') == pytest.approx(0.6)


def test_half_written_line_is_an_error(tmp_path):
    (tmp_path / 'metrics.jsonl').write_text('{"step": 1, "a/b": 1}\n{"step": 2, "a/')
    with pytest.raises(ValueError, match='metrics.jsonl:2'): read_metrics(tmp_path)


def test_smooth_matches_hand_computed_ema():
    assert smooth([2.0, 0.0], 0.5) == pytest.approx([2.0, (0.5 * 1.0) / 0.75])
    assert smooth([3.0, 3.0, 3.0], 0.9) == pytest.approx([3.0, 3.0, 3.0])   # bias correction: a constant stays constant
    with pytest.raises(ValueError): smooth([1.0], -0.1)


def test_plots_one_png_per_group(metrics_file, tmp_path):
    records = read_metrics(metrics_file)
    pngs = plot_metrics(records, tmp_path / 'plots', smoothing=0.6)
    assert set(pngs) == {'sft/loss', 'rl/reward'}
    for p in pngs.values():
        assert p.read_bytes()[:4] == b'\x89PNG' and p.stat().st_size > 5_000


def test_report_has_metrics_curves_and_configs(metrics_file):
    run = metrics_file.parent
    (run / 'params.json').write_text(json.dumps({'job': 'toy', 'sft_steps': 8}))
    (run / 'rm').mkdir()
    (run / 'rm' / 'config.json').write_text(json.dumps({'lr': 0.5}))                  # a run config (RewardConfig)
    (run / 'rm' / 'model').mkdir()
    (run / 'rm' / 'model' / 'config.json').write_text(json.dumps({'model_type': 'bert'}))  # a model architecture
    assert set(run_configs(run)) == {'params.json', 'rm/config.json'}
    page = write_report(run, title='toy run').read_text()
    assert '<h1>toy run</h1>' in page
    assert page.count('data:image/png;base64,') == 2
    assert '<td>train/sft/loss</td><td>1.25</td><td>8</td>' in page
    assert '&quot;sft_steps&quot;: 8' in page and 'model_type' not in page


def test_coerce_param_types():
    assert coerce_param('12', 3) == 12 and isinstance(coerce_param('2', 0.5), float)
    assert coerce_param('false', True) is False and coerce_param('yes', False) is True
    assert coerce_param('none', 5) is None and coerce_param('none', 'x') == 'none'
    assert coerce_param('[1, 2]', []) == [1, 2]
    with pytest.raises(ValueError, match="sft_steps: cannot read '1.5' as int"): coerce_param('1.5', 3, name='sft_steps')
    with pytest.raises(ValueError, match='not a boolean'): coerce_param('perhaps', False)


def test_real_jobs_have_parameters_with_output_dir():
    jobs = list_jobs()
    assert {'evaluate', 'pipeline'} <= set(jobs)
    for job in jobs:
        params = job_parameters(job)
        assert 'output_dir' in params, f'{job} has no output_dir parameter'
        assert 'seed' in params, f'{job} has no seed parameter'


def test_parse_params_on_the_pipeline_job():
    got = parse_params([('sft_steps', '40'), ('sft_lr', '3e-4'), ('sft_model', 'facebook/bart-base')], 'pipeline')
    assert got == {'sft_steps': 40, 'sft_lr': 3e-4, 'sft_model': 'facebook/bart-base'}
    assert parse_params(['limit', '5', 'policy', 'runs/x'], 'evaluate') == {'limit': 5, 'policy': 'runs/x'}
    with pytest.raises(ValueError, match="no parameter 'sft_step'"): parse_params([('sft_step', '4')], 'pipeline')
    with pytest.raises(ValueError, match='odd number'): parse_params(['limit'], 'evaluate')


def test_run_job_gathers_stage_metrics_and_reports(tmp_path):
    nbs = tmp_path / 'jobs'
    _job(nbs, 'stages', "steps = 3\nseed = 0\nsft_model = ''\nreward_model = 'rm-folder'\noutput_dir = 'x'",
         "import json, pathlib\n"
         "for stage, sign in (('a', -1), ('b', 1)):\n"
         "    d = pathlib.Path(output_dir) / stage; d.mkdir(parents=True)\n"
         "    lines = [json.dumps({'step': s, f'train/{stage}/loss': sign * s}) for s in range(steps)]\n"
         "    (d / 'metrics.jsonl').write_text('\\n'.join(lines) + '\\n')\n"
         "    (d / 'checkpoints').mkdir(); (d / 'checkpoints' / 'metrics.jsonl').write_text(lines[0] + '\\n')\n")
    run = run_job('stages', {'steps': 4}, runs_root=tmp_path / 'runs', nb_dir=nbs)
    assert run.name.startswith('stages__rm-folder__0__')                           # the first non-empty model parameter
    records = read_metrics(run)
    assert metric_series(records, 'train/a/loss')[1] == [0, -1, -2, -3]          # the checkpoint's copy is not repeated
    assert metric_series(records, 'train/b/loss')[1] == [0, 1, 2, 3]
    assert {p.name for p in (run / 'plots').iterdir()} == {'a_loss.png', 'b_loss.png'}
    assert (run / 'stages.ipynb').exists() and (run / 'report.html').exists()
    assert json.loads((run / 'params.json').read_text())['steps'] == 4


def test_run_job_report_leads_with_the_jobs_lead_section(tmp_path):
    nbs = tmp_path / 'jobs'
    _job(nbs, 'led', "output_dir = 'x'",
         "import json, pathlib\n"
         "from rlhf_summ.reports import LEAD_FILE, lead_html\n"
         "out = pathlib.Path(output_dir)\n"
         "(out / 'metrics.jsonl').write_text(''.join(json.dumps({'step': s, 'train/x/loss': 3.0 - s}) + '\\n' for s in range(3)))\n"
         "(out / LEAD_FILE).write_text(lead_html({'held-out': [{'summary': 'lead-1', 'rouge1': 0.29}]}, [{'document': 'Doc & co.'}]))\n")
    run = run_job('led', {}, runs_root=tmp_path / 'runs', name='led', nb_dir=nbs)
    page = (run / 'report.html').read_text()                    # run_job's own report, written after the notebook ran
    assert '<td>lead-1</td><td>0.29</td>' in page and '<dd>Doc &amp; co.</dd>' in page
    assert page.index('<td>lead-1</td>') < page.index('<figure>') < page.index('All metrics')


def test_run_job_failure_still_reports(tmp_path):
    from rlhf_summ.reports import JobFailed
    nbs = tmp_path / 'jobs'
    _job(nbs, 'broken', "output_dir = 'x'",
         "import json, pathlib\n"
         "pathlib.Path(output_dir, 'metrics.jsonl').write_text(json.dumps({'step': 1, 'train/x/loss': 2.0}) + '\\n')\n"
         "raise RuntimeError('diverged')")
    with pytest.raises(JobFailed, match='^diverged$'):                        # the notebook's own one-line error
        run_job('broken', {}, runs_root=tmp_path / 'runs', name='b', nb_dir=nbs, progress=False)
    run = tmp_path / 'runs' / 'b'
    page = (run / 'report.html').read_text()
    assert 'train/x/loss' in page and "<p class='banner failed'>FAILED: RuntimeError: diverged</p>" in page
    assert (run / 'broken.ipynb').exists()


def test_gather_metrics_keeps_a_job_written_file(tmp_path):
    (tmp_path / 'metrics.jsonl').write_text('{"step": 1, "x/y": 1}\n')
    (tmp_path / 'sub').mkdir()
    (tmp_path / 'sub' / 'metrics.jsonl').write_text('{"step": 1, "x/z": 2}\n')
    assert read_metrics(gather_metrics(tmp_path)) == [{'step': 1, 'x/y': 1}]
