"""Imports run one way through the package: every module of `edge_msa/` may import only from its own
layer or the layers before it (docs/index.md: Layout). A new top-level module or subpackage must be placed
in LAYERS, and an import that runs back up fails here with the module and the import named."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "edge_msa"
LAYERS = (
    ("errors", "user_files", "outputs", "cache", "csv_files", "recipe_folders", "extras"),  # plumbing
    ("features",),    # FeatureSpec, media decoding, extractors: the same code offline and live
    ("data",),        # readers, mixes, missing protocols, real samples
    ("models",),      # registry, blocks, families
    ("train",),       # the one loop, closed-form fits, evaluation, recipes
    ("quantize",),    # PT2E, ONNX Q/DQ, calibration sets
    ("export",),      # bundle format, ExecuTorch / ONNX / TensorRT exporters, parity measures
    ("runtime",),     # backends, shipped tiers, perception, workers, scheduler, sinks, launch
    ("workflows",),   # jobs composing the above: export_run, recipe bundles, extract, score
    ("profile",),     # latency and operators per device and backend
    ("api_inputs", "api"),  # SentimentModel for apps and the checks of its inputs
    ("cli", "__main__"),
)
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def _layer_of(module: str) -> str:
    return module.split(".")[1]


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("edge_msa."):
            yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names if a.name.startswith("edge_msa."))


def test_every_module_has_a_layer():
    tops = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
            if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}
    assert tops - set(RANK) == set(), "place these in LAYERS"


def test_no_import_runs_back_up_the_layers():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        if len(rel.parts) < 2 or rel.parts[1] == "__init__":
            continue  # edge_msa/__init__.py only names the API lazily
        source = rel.parts[1]
        for line, module in _imports(path):
            target = _layer_of(module)
            if RANK[target] > RANK[source]:
                upward.append(f"{'/'.join(rel.parts)}.py:{line} imports {module}")
    assert upward == []
