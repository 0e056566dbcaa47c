"""The house plan: no import cycle between the package's modules (imports inside functions included), the web app
free of training code, and evaluation free of model modules."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / 'rlhf_summ'
MODULES = sorted(p.stem for p in PACKAGE.glob('*.py') if not p.stem.startswith('_'))


def imported_modules(module: str) -> set[str]:
    "The `rlhf_summ` modules `module` imports anywhere in its source (top level, functions, methods)."
    found = set()
    for node in ast.walk(ast.parse((PACKAGE / f'{module}.py').read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:                                   # from .x import y / from . import x
                names = [node.module] if node.module else [a.name for a in node.names]
            elif node.module == 'rlhf_summ':
                names = [f'rlhf_summ.{a.name}' for a in node.names]
            else:
                names = [node.module or '']
        else:
            continue
        for name in names:
            if not (isinstance(node, ast.ImportFrom) and node.level):     # absolute: only rlhf_summ.* counts
                if not name.startswith('rlhf_summ.'): continue
                name = name.removeprefix('rlhf_summ.')
            top = name.split('.')[0]
            if top in MODULES and top != module: found.add(top)
    return found


GRAPH = {m: imported_modules(m) for m in MODULES}


def test_parser_sees_lazy_and_relative_imports(tmp_path):
    assert 'policy' in GRAPH['rl'] and 'train' in GRAPH['policy']          # `from .policy import`, `from .train import`
    assert 'reward' in GRAPH['rl']                                          # only imported inside functions


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
    tree = ast.parse((PACKAGE / 'serve.py').read_text())
    functions = [n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    assert functions and not [f for f in functions if f.startswith('train_')]
    assert 'rl' not in GRAPH['serve'] and 'online' in GRAPH['serve']


def test_evaluation_and_toolkit_import_no_model_module():
    assert not GRAPH['evaluate'] & {'policy', 'reward', 'rl', 'extractive', 'online', 'serve', 'reports'}
    assert not GRAPH['train'] & {'policy', 'reward', 'rl', 'extractive', 'evaluate', 'reports'}
    assert not GRAPH['reports'] & {'policy', 'reward', 'rl'}
