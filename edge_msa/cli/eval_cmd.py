"""`edge-msa eval TARGET`: score a run folder or an exported bundle on a dataset split.

    edge-msa eval runs/tb --dataset vader-movie --data ../shared/data --missing lnln --markdown lnln.md

TARGET is a run folder (config.json + model.safetensors: the eager model) or a bundle
(manifest.json: the exported model through a runtime backend), so the same sweep measures what
export and quantization cost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edge_msa.cli.train_cmd import DATA_HELP, DATASET_HELP, check_data_path
from edge_msa.errors import UserError
from edge_msa.outputs import check_outputs

SPLITS = ("valid", "test", "all")
MISSING_HELP = "none; lnln (drop rates 0-0.9 x 3 seeds); subsets (each subset of L, A, V present)."
PROTOCOL_HELP = ("split: score TARGET on --split; domains: leave-one-domain-out, retraining TARGET's model "
                 "with its recorded training options once per held-out domain (TARGET must be a run folder).")
DOMAINS_HELP = ("--protocol domains: text (movie, amazon, MELD corpora), speakers (EmoDB speaker pairs) or "
                "auto (from the run's dataset).")
FRONTEND_HELP = ("Voice features: python (the dataset's, from edge-msa's extractor) or bundle (recomputed "
                 "from the recordings with the bundle's front-end graph, frontend.onnx; emodb only).")


def evaluate_cmd(
    target: Annotated[Path, typer.Argument(help="Run folder (from `edge-msa train`), shipped tier "
                                                "(default, nano) or bundle folder "
                                                "(from `edge-msa export`).")],
    dataset: Annotated[str | None, typer.Option("--dataset", help=DATASET_HELP + " Default: the one "
                                                "the run was trained on.")] = None,
    data: Annotated[Path | None, typer.Option("--data", help=DATA_HELP)] = None,
    split: Annotated[str, typer.Option("--split", help="Split to score: valid, test, or all (every row of "
                                                       "the data, e.g. a file of your own).")] = "valid",
    label_scale: Annotated[str, typer.Option("--label-scale", help="--dataset text: how to read the labels: "
                                             "auto (inferred and stated), mosi, vader, unit, stars or "
                                             "polarity.")] = "auto",
    missing: Annotated[str, typer.Option("--missing", help=MISSING_HELP)] = "none",
    protocol: Annotated[str, typer.Option("--protocol", help=PROTOCOL_HELP)] = "split",
    domains: Annotated[str, typer.Option("--domains", help=DOMAINS_HELP)] = "auto",
    max_eval: Annotated[int | None, typer.Option("--max-eval", help="--protocol domains: score at most N "
                                                 "held-out rows per fold (a seeded random subset).")] = None,
    backend: Annotated[str, typer.Option("--backend", help="Runtime backend for a bundle (auto picks the "
                                                           "bundle's own).")] = "auto",
    trust_pickle: Annotated[bool, typer.Option("--trust-pickle", help="Allow loading an MMSA .pkl.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Samples per forward pass.")] = 64,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON here.")] = None,
    markdown: Annotated[Path | None, typer.Option("--markdown", help="Write a Markdown table here.")] = None,
    frontend: Annotated[str, typer.Option("--frontend", help=FRONTEND_HELP)] = "python",
    force: Annotated[bool, typer.Option("--force", help="Replace --json/--markdown if they exist.")] = False,
) -> None:
    """Score a run or bundle on a split, optionally under missing modalities."""
    from edge_msa.cli.run_cmd import check_frontend
    from edge_msa.data.datasets import DEFAULT_DATA, dataset_of_path, load_dataset
    from edge_msa.train.sweep import FIRST_COLUMN, PROTOCOLS, print_metrics, sweep, write_sweep
    from edge_msa.workflows.targets import bundle_voice, load_target

    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if missing not in PROTOCOLS:
        raise UserError(f"unknown --missing {missing!r}; expected one of {', '.join(PROTOCOLS)}")
    if batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    check_frontend(frontend)
    check_domain_options(protocol, domains, max_eval, missing, frontend)
    from edge_msa.runtime.tiers import resolve_bundle

    target = resolve_bundle(target)  # a shipped tier by name: default, nano, default/onnx-int8
    if not target.is_dir():
        raise UserError(f"no such run or bundle folder: {target}")
    check_data_path(data)
    check_outputs({"--json": json_out, "--markdown": markdown}, force=force,
                  inputs={"TARGET": target, "--data": data})
    found = load_target(target, backend)
    if protocol == "domains":
        return evaluate_domains(target, dataset, domains, data, max_eval, json_out, markdown)
    featurizer = None
    if frontend == "bundle":
        from edge_msa.export.frontend import bundle_featurizer

        if not hasattr(found.model, "bundle"):
            raise UserError(f"--frontend bundle takes a bundle; {target} is a run folder")
        featurizer = bundle_featurizer(found.model.bundle)
    recorded = found.data.get("dataset")
    dataset = dataset or dataset_of_path(data)  # as in train: an MMSA file names its dataset
    if dataset is None and recorded is None:
        raise UserError(f"{target} does not record its dataset: name one with --dataset")
    same = dataset in (None, recorded)
    dataset = dataset or recorded
    if data is None and same and found.data.get("path"):
        data = Path(found.data["path"])
    # the run's own split seed, so "valid" and "test" hold no training rows
    split_seed = int(found.data.get("split_seed", 0)) if same else 0
    if featurizer is not None and split == "all":
        raise UserError("--frontend bundle scores one split (valid or test), not --split all")
    if featurizer is not None and dataset != "emodb":
        raise UserError(f"--frontend bundle recomputes the voice features from the recordings; of the "
                        f"datasets here only emodb has them ({dataset!r} comes as features or text)")
    splits = load_dataset(dataset, data, found.spec, trust_pickle=trust_pickle, seed=split_seed,
                          label_scale=label_scale)
    if split == "all":
        from edge_msa.data.batch import MSAData

        recorded_path = found.data.get("path")
        if same and data is not None and recorded_path and Path(recorded_path).resolve() == data.resolve():
            print(f"note: --split all includes the rows {target} was trained and selected on")
        splits["all"] = MSAData.concat(list(splits.values()))
    if split not in splits:
        raise UserError(f"dataset {dataset!r} has no {split!r} split (it has {', '.join(splits)})")
    if featurizer is not None:
        from edge_msa.data.emodb import split_files

        files = split_files(data if data is not None else DEFAULT_DATA)[split]
        splits[split] = bundle_voice(splits[split], files, featurizer, found.spec.audio.max_len)
    result = sweep(found.model, splits[split], missing, found.scale, batch_size)
    if missing == "none" and (found.scale or "mosi") == "mosi":
        from edge_msa.train.reference import LEXICON_ROW, lexicon_reference

        reference = lexicon_reference(splits[split])
        if reference is not None:
            result["rows"][LEXICON_ROW] = reference
    title = f"{found.name} on {dataset}/{split}, missing: {missing}"
    result |= {"target": str(target), "dataset": dataset, "split": split, "frontend": frontend,
               "labels": splits[split].label_note}
    if splits[split].label_note:
        print(splits[split].label_note)
    print_metrics(result["rows"], FIRST_COLUMN[missing], title)
    write_sweep(result, json_out, markdown, title)


def check_domain_options(protocol: str, domains: str, max_eval: int | None, missing: str,
                         frontend: str) -> None:
    from edge_msa.data.domains import DOMAIN_SETS

    if protocol not in ("split", "domains"):
        raise UserError(f"unknown --protocol {protocol!r}; expected split or domains")
    if domains not in ("auto", *DOMAIN_SETS):
        raise UserError(f"unknown --domains {domains!r}; expected auto, {', '.join(DOMAIN_SETS)}")
    if protocol == "domains" and (missing != "none" or frontend != "python"):
        raise UserError("--protocol domains scores complete inputs: leave --missing and --frontend at "
                        "their defaults")
    if max_eval is not None and max_eval < 1:
        raise UserError("--max-eval must be at least 1")


def evaluate_domains(target: Path, dataset: str | None, domains: str, data: Path | None, max_eval: int | None,
                     json_out: Path | None, markdown: Path | None) -> None:
    """`--protocol domains`: `edge_msa.train.domain_shift` with the run's model and training options."""
    import tempfile

    from edge_msa.data.datasets import DEFAULT_DATA
    from edge_msa.data.domains import domain_folds, domain_set_of
    from edge_msa.data.missing import random_missing
    from edge_msa.models.registry import create_model
    from edge_msa.train.domain_shift import leave_one_domain_out
    from edge_msa.train.run import CONFIG, read_config
    from edge_msa.train.sweep import FIRST_COLUMN, print_metrics, write_sweep

    if not (target / CONFIG).is_file():
        raise UserError(f"--protocol domains retrains the run's model; {target} is not a run folder")
    config = read_config(target)
    recorded = config.get("data") or {}
    domains = domain_set_of(dataset or recorded.get("dataset")) if domains == "auto" else domains
    if domains is None:
        raise UserError(f"{target} was trained on {recorded.get('dataset')!r}, which has no domains here; "
                        "name --domains text or --domains speakers")
    from edge_msa.features.spec import FeatureSpec  # numpy: here, not in `edge-msa --help`

    spec = FeatureSpec.from_dict(config["spec"])
    folds = domain_folds(domains, data if data is not None else DEFAULT_DATA, spec,
                         seed=int(recorded.get("split_seed", 0)), max_test=max_eval)
    options = {k: v for k, v in (config.get("train") or {}).items()
               if k in ("epochs", "batch_size", "lr", "text_lr", "weight_decay", "warmup_frac", "grad_clip",
                        "patience", "select")}
    if (config.get("train") or {}).get("missing") == "random_missing":
        options["missing"] = random_missing

    def build():
        return create_model(config["model"], spec, **config.get("overrides", {}))

    with tempfile.TemporaryDirectory(prefix="edge-msa-domains-") as runs:
        result = leave_one_domain_out(build, folds, runs, domains=domains,
                                      max_train=recorded.get("max_train"),
                                      seed=int((config.get("train") or {}).get("seed", 0)), **options)
    title = f"{config['model']}: leave one domain out ({domains}), trained as {target}"
    result |= {"target": str(target)}
    print_metrics(result["rows"], FIRST_COLUMN["domains"], title)
    write_sweep(result, json_out, markdown, title)


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate_cmd)
