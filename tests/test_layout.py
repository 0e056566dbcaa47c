"""The house plan: the package's folders follow the data flow (text, policies, feedback), no import cycle between its
modules (imports inside functions included), the web app free of training code, evaluation free of model modules, RL
talking to policies only through their contract, and each text builder, sentence splitter and lead baseline defined once."""
import ast, json, re
from pathlib import Path

import yaml

PACKAGE = Path(__file__).resolve().parents[1] / 'rlhf_summ'
NBS = PACKAGE.parent / 'nbs'


def _module_name(path: Path) -> str:
    "`policies.extractive` for rlhf_summ/policies/extractive.py, `policies` for rlhf_summ/policies/__init__.py."
    parts = path.relative_to(PACKAGE).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


FILES = {_module_name(p): p for p in sorted(PACKAGE.rglob('*.py'))
         if p.name == '__init__.py' and p.parent != PACKAGE or not p.name.startswith('_')}
"Module name (relative to `rlhf_summ`) -> source file: every module and subpackage `__init__`, the generated `_modidx` and the top `__init__` aside."
MODULES = sorted(FILES)
PACKAGES = {m for m, p in FILES.items() if p.name == '__init__.py'}


def _resolve(target: str, names: list[str]) -> set[str]:
    "The package modules `from target import names` reaches: a submodule named in `names`, else `target` or its nearest ancestor module."
    found = {f'{target}.{n}' if target else n for n in names} & set(MODULES)
    if found: return found
    while target and target not in FILES: target = target.rpartition('.')[0]
    return {target} if target else set()


def imported_modules(module: str) -> set[str]:
    """The `rlhf_summ` modules `module` imports anywhere in its source (top level, functions, methods), relative imports
    resolved from the module's package. A subpackage's `__init__` that Python runs before a submodule is no edge: only
    what the source names is (the `policies` contract imports its kinds inside `load_policy`)."""
    package = module if module in PACKAGES else module.rpartition('.')[0]
    found = set()
    for node in ast.walk(ast.parse(FILES[module].read_text())):
        if isinstance(node, ast.Import):
            reached = set().union(*(_resolve(a.name.removeprefix('rlhf_summ.'), []) for a in node.names
                                    if a.name.startswith('rlhf_summ.')))
        elif isinstance(node, ast.ImportFrom) and node.level:                 # from .x import y / from .. import x
            base = package.split('.') if package else []
            base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
            target = '.'.join(base + ([node.module] if node.module else []))
            reached = _resolve(target, [a.name for a in node.names])
        elif isinstance(node, ast.ImportFrom) and (node.module or '').split('.')[0] == 'rlhf_summ':
            reached = _resolve(node.module.removeprefix('rlhf_summ').lstrip('.'), [a.name for a in node.names])
        else:
            continue
        found |= reached - {module}
    return found


GRAPH = {m: imported_modules(m) for m in MODULES}


def test_layout_follows_the_data_flow():
    "Text in, policies, feedback: one folder per stage that has several modules; the stages with one module stay at the top."
    subpackages = {p.name: sorted(_module_name(f) for f in p.glob('*.py') if f.name != '__init__.py')
                   for p in PACKAGE.iterdir() if (p / '__init__.py').exists()}
    assert subpackages == {'text': ['text.denoise', 'text.pdf'],
                           'policies': ['policies.encoder', 'policies.extractive', 'policies.seq2seq'],
                           'feedback': ['feedback.online', 'feedback.registry', 'feedback.serve', 'feedback.store']}
    top = {m for m in MODULES if '.' not in m} - set(subpackages)
    assert top == {'config', 'data', 'train', 'evaluate', 'reward', 'rl', 'reports', 'simulate', 'cli'}
    assert {'document_text', 'split_sentences', 'lead_k'} <= set(_names('text'))      # sentences and builders: `rlhf_summ.text`
    assert {'Policy', 'load_policy'} <= set(_names('policies'))                       # the contract: `rlhf_summ.policies`
    assert not (PACKAGE / 'feedback' / '__init__.py').read_text().strip()


def _names(module: str) -> list[str]:
    return [n.name for n in ast.parse(FILES[module].read_text()).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]


def _notebooks() -> dict[Path, str]:
    "Notebook (relative to nbs/) -> the module its `#| default_exp` names, for every notebook that exports one."
    found = {}
    for nb in sorted(NBS.rglob('*.ipynb')):
        if any(part.startswith(('_', '.')) for part in nb.relative_to(NBS).parts): continue
        for cell in json.loads(nb.read_text())['cells']:
            m = re.search(r'^#\|\s*default_exp\s+(\S+)', ''.join(cell['source']), re.M)
            if m: found[nb.relative_to(NBS)] = m.group(1).removesuffix('.__init__'); break
    return found


def test_notebooks_mirror_the_package_in_data_flow_order():
    """Each module has one notebook, in the folder of its subpackage, named after it (`policies/07c_extractive` exports
    `policies.extractive`; `policies/07_policies` the package itself); the sidebar lists every notebook, numbers rising."""
    notebooks = _notebooks()
    assert sorted(notebooks.values()) == [m for m in MODULES if FILES[m].read_text().strip()]     # (feedback/__init__ is empty)
    for nb, module in notebooks.items():
        assert nb.parent.parts == tuple(module.split('.')[:-1]) or module in PACKAGES and nb.parent.parts == (module,), (nb, module)
        assert re.sub(r'^\d+[a-z]?_', '', nb.stem) == module.split('.')[-1], (nb, module)
    sidebar, listed = yaml.safe_load((NBS / 'sidebar.yml').read_text()), []
    def walk(items):
        for it in items:
            if isinstance(it, str): listed.append(Path(it))
            else: walk(it['contents'])
    walk(sidebar['website']['sidebar']['contents'])
    assert sorted(listed) == sorted(p.relative_to(NBS) for p in NBS.rglob('*.ipynb') if not any(s.startswith(('_', '.')) for s in p.relative_to(NBS).parts))
    numbers = [re.match(r'\d+[a-z]?', p.name).group() for p in listed if p in notebooks]
    assert numbers == sorted(numbers), numbers


def test_parser_sees_lazy_and_relative_imports(tmp_path):
    assert 'policies' in GRAPH['rl'] and 'train' in GRAPH['policies.seq2seq']        # `from .policies import`, `from ..train import`
    assert 'policies.extractive' in GRAPH['policies']                                   # only imported inside functions
    assert {'text', 'text.denoise', 'data'} <= GRAPH['text.pdf']                        # `from . import`, `from .denoise import`
    assert {'feedback.online', 'text'} <= GRAPH['feedback.serve']


def test_no_import_cycle():
    "Depth-first search over the import graph: a module reached again while on the stack closes a cycle."
    state, stack = {}, []

    def visit(m):
        state[m] = 'open'; stack.append(m)
        for n in sorted(GRAPH[m]):
            assert state.get(n) != 'open', f"import cycle: {' -> '.join(stack[stack.index(n):] + [n])}"
            if n not in state: visit(n)
        state[m] = 'done'; stack.pop()

    for m in MODULES:
        if m not in state: visit(m)


def test_web_app_holds_no_training():
    tree = ast.parse(FILES['feedback.serve'].read_text())
    functions = [n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    assert functions and not [f for f in functions if f.startswith('train_')]
    assert 'rl' not in GRAPH['feedback.serve'] and 'feedback.online' in GRAPH['feedback.serve']


def test_evaluation_and_toolkit_import_no_model_module():
    assert not GRAPH['evaluate'] & {'policies.seq2seq', 'reward', 'rl', 'policies.extractive', 'feedback.online', 'feedback.serve', 'reports'}
    assert not GRAPH['train'] & {'policies.seq2seq', 'reward', 'rl', 'policies.extractive', 'evaluate', 'reports'}
    assert not GRAPH['reports'] & {'policies.seq2seq', 'reward', 'rl'}


def test_rl_talks_to_policies_only_through_the_contract():
    "rl.py never asks a policy what kind it is (getattr/hasattr/isinstance on kinds) and imports neither kind's module."
    source = FILES['rl'].read_text()
    tree = ast.parse(source)
    probes = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
              and n.func.id in ('getattr', 'hasattr')]
    assert not probes, [ast.get_source_segment(source, n) for n in probes]
    kinds = ('scores_actions', 'actions_of', 'tokenizer', 'PolicyWithValueHead', 'ExtractivePolicy', 'is_extractive', '.kind')
    assert not [k for k in kinds if k in source], [k for k in kinds if k in source]
    assert not GRAPH['rl'] & {'policies.seq2seq', 'policies.extractive'} and 'policies' in GRAPH['rl']


def _definitions(pattern: str) -> list[str]:
    "`module.name` of every module-level function or class, and method, in the package whose name matches `pattern`."
    found = []
    for m in MODULES:
        body = ast.parse(FILES[m].read_text()).body
        nodes = body + [n for c in body if isinstance(c, ast.ClassDef) for n in c.body]
        found += [f'{m}.{n.name}' for n in nodes if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and re.fullmatch(pattern, n.name)]
    return found


def test_text_builders_splitters_and_baselines_are_defined_once():
    assert _definitions(r'_?lead(_k|_\d+|_summar\w*|_sentences?|s)?') == ['text.lead_k']
    assert _definitions(r'_?(document_texts?|reward_texts?|_?document_parts|policy_texts?|sections_text)') == \
        ['text.document_parts', 'text.document_text', 'text.sections_text']
    assert _definitions(r'_?split_(sentences|text)|_?sentences?_split.*') == ['text.split_text', 'text.split_sentences']
    assert _definitions(r'(alpha_)?words') == ['text.alpha_words', 'text.words']     # (pdf._words, the lab scorer's ligature-folding tokens, is left)
    assert _definitions(r'_?load_policy') == ['policies.load_policy']
    regex_splitters = [m for m in MODULES if m != 'text' and re.search(r"re\.(split|compile)\(r?'\(\?<=\[\.!\?\]\)", FILES[m].read_text())]
    assert not regex_splitters, regex_splitters                    # no second sentence-end regex outside rlhf_summ.text


TRAINING_FIELDS = {'lr', 'learning_rate', 'steps', 'total_steps', 'max_steps', 'epochs'}
NOT_YET_DERIVED: set[str] = set()
"""Training configs that do not derive from `train.TrainConfig` yet (none: a service round's `PolicyRoundConfig` and the
simulation's `SimConfig` name the trainers' fields they override with the trainer's prefix, `rl_steps`, `rl_lr`)."""


def _dataclasses() -> dict[str, tuple[list[str], set[str], set[str]]]:
    "`module.Class` -> (base class names, own field names, own InitVar names) of every dataclass in the package."
    found = {}
    for m in MODULES:
        for node in ast.parse(FILES[m].read_text()).body:
            if isinstance(node, ast.ClassDef) and any('dataclass' in ast.unparse(d) for d in node.decorator_list):
                annotated = [n for n in node.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)]
                initvars = {n.target.id for n in annotated if 'InitVar' in ast.unparse(n.annotation)}
                found[f'{m}.{node.name}'] = ([ast.unparse(b) for b in node.bases], {n.target.id for n in annotated} - initvars, initvars)
    return found


def test_every_training_config_derives_from_one_base():
    "A config with a seed and a learning rate or step count derives from `train.TrainConfig`, and names no shared field its own way."
    classes = _dataclasses()
    by_class = {name.rpartition('.')[2]: name for name in classes}
    def ancestors(name):
        return {b for base in classes[name][0] if base in by_class for b in {base} | ancestors(by_class[base])}
    derived = {name for name in classes if 'TrainConfig' in ancestors(name)}
    training = {name for name, (_, own, _) in classes.items() if 'seed' in own and own & TRAINING_FIELDS}
    assert {'policies.seq2seq.SFTConfig', 'policies.extractive.ExtractiveConfig', 'reward.RewardConfig', 'rl.RLConfig', 'rl.DPOConfig',
            'text.denoise.DenoiserConfig'} <= derived
    assert training - {'train.TrainConfig'} == NOT_YET_DERIVED, training
    base_fields = classes['train.TrainConfig'][1]
    assert {'seed', 'lr', 'output_dir', 'runs_root', 'resume_from', 'stop_at_step', 'save_every', 'progress'} <= base_fields
    for name in derived:                        # the shared fields live once, in the base: no trainer redeclares seed or
        own = classes[name][1]                  # keeps an old name of a shared one as a field
        assert not own & {'seed', 'resume_from', 'stop_at_step', 'runs_root', 'output_dir', 'progress', 'keep_checkpoints'}, (name, own)
        assert not own & {'learning_rate', 'run_dir', 'runs_dir'}, (name, own)


LONG_FUNCTIONS_ALLOWED: set[str] = set()
"""None: every package function follows the rule."""


def test_no_package_function_over_60_lines():
    "Module-level functions and methods of every package module are at most 60 lines long."
    long = {}
    for m in MODULES:
        body = ast.parse(FILES[m].read_text()).body
        for node in body + [n for c in body if isinstance(c, ast.ClassDef) for n in c.body]:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60:
                long[f'{m}.{node.name}'] = node.end_lineno - node.lineno + 1
    assert {k: v for k, v in long.items() if k not in LONG_FUNCTIONS_ALLOWED} == {}


OLD_NAMES = {'learning_rate', 'total_steps', 'max_steps', 'num_train_epochs', 'max_epochs', 'runs_dir'}
"""Names the configs used before each setting had one: a learning rate is `lr`, a run's length `steps` (or `epochs`), the
feedback service's folder `service_dir` (`output_dir` is one run's folder, `runs_root` the parent of fresh run folders)."""


def test_one_name_for_each_setting_in_configs_cli_jobs_and_readme():
    classes = _dataclasses()
    for name, (_, own, initvars) in classes.items():
        assert not own & OLD_NAMES and not initvars, (name, own & OLD_NAMES, initvars)   # no old name, no alias
    for m in MODULES:                                   # `config.steps` is a field wherever it exists, never a method
        for node in ast.parse(FILES[m].read_text()).body:
            if isinstance(node, ast.ClassDef) and f'{m}.{node.name}' in classes:
                methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
                assert not methods & {'steps', 'epochs', 'lr'}, (m, node.name, methods)
    from rlhf_summ.cli import build_parser
    for command in ('sft', 'reward', 'rl-train', 'dpo', 'train-extractive'):
        sub = next(a for a in build_parser(command)._actions if a.dest == 'command').choices[command]
        flags = {o for a in sub._actions for o in a.option_strings}
        assert '--lr' in flags and not flags & {f'--{n}' for n in OLD_NAMES}, (command, flags & {f'--{n}' for n in OLD_NAMES})
        assert ('--epochs' if command == 'train-extractive' else '--steps') in flags, command
    def flags(command):
        sub = next(a for a in build_parser(command)._actions if a.dest == 'command').choices[command]
        return {o.replace('-', '_') for a in sub._actions for o in a.option_strings}
    for command in ('serve', 'rl', 'promote'):                 # one folder of the service, one name
        assert '__service_dir' in flags(command) and not flags(command) & {'__runs_dir', '__output_dir'}, command
    assert {'__policy', '__reward_model'} <= flags('serve') and '__policy' in flags('summarize') and '__model' not in flags('summarize')
    root = PACKAGE.parent
    for path in [root / 'README.md', *sorted((root / 'nbs' / 'jobs').glob('*.ipynb'))]:
        found = set(re.findall(r'\b(' + '|'.join(OLD_NAMES) + r')\b', path.read_text()))
        assert not found, (path.name, found)
