"""Every `edge-msa ...` example a user can copy works: from every sub-command's `--help` and from the
code blocks and inline code of README.md and docs/*.md.

Each example is parsed by the real command-line parser (the command path exists, every option is
one of that command's, values convert, required arguments are there) and what it names is checked:
shipped tiers and bundles (`nano`, `default/onnx-int8`), recipe and config names, and paths inside
the repository. Placeholders (RUN, BUNDLE, talk.mp4, bundles/...) are a user's files: not checked.
A few cheap examples that need no user file run for real.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer
from typer._click import ClickException, Command, Context  # typer >= 0.2x vendors its own click

from edge_msa.cli import _register_commands, app, main
from edge_msa.recipe_folders import find_named, is_path
from edge_msa.runtime.tiers import TIERS, resolve_bundle

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
REPO_FOLDERS = ("edge_msa/", "export/", "runtime/", "devices/", "calibration/", "bench/")
NAMED = {"--recipe": ("export", "export recipe"), "--config": ("runtime", "pipeline config")}
BUNDLE_ARGS = {"bundle", "target"}  # `profile BUNDLE`, `eval TARGET`: a bundle, a run or a tier
RUN_FOR_REAL = ["edge-msa profile default/onnx-int8", "edge-msa --help", "edge-msa demo --help"]


def _root() -> Command:
    _register_commands()
    return typer.main.get_command(app)


def _help_texts() -> list[tuple[str, str]]:
    """(where, text) of every command's help, epilog and option help."""
    found = []

    def walk(command: Command, path: list[str]) -> None:
        where = "edge-msa " + " ".join(path) + " --help"
        texts = [command.help or "", command.epilog or ""]
        texts += [getattr(p, "help", None) or "" for p in command.params]
        found.extend((where, t) for t in texts if t)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(_root(), [])
    return found


def _doc_examples() -> list[tuple[str, str, bool]]:
    """(file:line, example, whole) from fenced/indented code lines (whole: a command to copy) and
    inline code spans (not whole: often a fragment, `edge-msa run --jsonl`)."""
    found = []
    for doc in DOCS:
        fenced, pending = False, ""
        for number, line in enumerate(doc.read_text().splitlines(), 1):
            if line.strip().startswith("```"):
                fenced = not fenced
                continue
            text = line.strip().removeprefix("$ ")
            if pending:  # a continuation line of the example above
                text, pending = pending + " " + text, ""
            if (fenced or line.startswith("    ")) and text.startswith("edge-msa "):
                if text.endswith("\\"):
                    pending = text[:-1]
                    continue
                found.append((f"{doc.name}:{number}", text, True))
            else:
                found += [(f"{doc.name}:{number}", span, False) for span in _spans(line)]
    return found


def _spans(text: str) -> list[str]:
    return re.findall(r"`(edge-msa [^`]*)`", text)


def _examples() -> list[tuple[str, str, bool]]:
    helps = [(where, span, False) for where, text in _help_texts() for span in _spans(text)]
    return helps + _doc_examples()


def _is_group(command: Command) -> bool:
    return hasattr(command, "resolve_command")


def _words(example: str) -> list[str]:
    return [w for w in shlex.split(example, comments=True)[1:] if w != "..."]


def _parse(example: str) -> tuple[list[str], Context]:
    """A whole example through the real parser: (command path, the leaf command's parsed context)."""
    command, ctx, path, args = _root(), None, [], _words(example)
    while True:
        ctx = command.make_context(path[-1] if path else "edge-msa", list(args), parent=ctx)
        if not _is_group(command):
            return path, ctx
        name, command, args = command.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
        path.append(name)


def _option_of(command: Command, word: str):
    name = word.split("=", 1)[0]
    names = {p: [*getattr(p, "opts", []), *getattr(p, "secondary_opts", [])] for p in command.params}
    return next((p for p, opts in names.items() if name in opts), None)


def _reference(example: str) -> tuple[list[str], list[str], list[tuple[object, str]]]:
    """A fragment or an elided example, checked word by word: (command path, what is wrong, the
    (parameter, value) pairs it names)."""
    command, path, wrong, named = _root(), [], [], []
    words = [w for w in _words(example) if w != "--help"]
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("-"):
            param = _option_of(command, word) or _option_of(_root(), word)  # --verbose goes anywhere
            if param is None:
                wrong.append(f"no option {word} in edge-msa {' '.join(path)}")
            elif not getattr(param, "is_flag", False) and "=" not in word and i + 1 < len(words):
                named.append((param, words[i + 1]))
                i += 1
        elif _is_group(command):
            if word in command.commands:
                command = command.commands[word]
                path.append(word)
            elif word.isupper():
                break  # `edge-msa COMMAND --help`: a placeholder for any command
            elif "bundle" in command.commands and not path[-1:] == ["bundle"]:  # `profile BUNDLE`
                command = command.commands["bundle"]
                path.append("bundle")
                continue
            else:
                wrong.append(f"no command {word!r} in edge-msa {' '.join(path)}")
                break
        else:
            positional = [p for p in command.params if not getattr(p, "opts", [""])[0].startswith("-")]
            if positional:
                named.append((positional[0], word))
        i += 1
    return path, wrong, named


def _check_value(param, value: str) -> list[str]:
    """What a parameter's value names that must exist: tiers, bundles of a tier, recipes, repo paths."""
    wrong, opts = [], getattr(param, "opts", [])
    if (param.name in BUNDLE_ARGS or "--bundle" in opts) and value.partition("/")[0] in TIERS:
        try:
            resolve_bundle(value)
        except Exception as e:  # noqa: BLE001 - the message is the finding
            wrong.append(f"bundle {value!r}: {e}")
    for opt, (folder, what) in NAMED.items():
        if opt in opts and (not is_path(value) or value.startswith(REPO_FOLDERS)):
            try:
                find_named(REPO / value if is_path(value) else value, folder, what)
            except Exception as e:  # noqa: BLE001
                wrong.append(f"{opt} {value!r}: {e}")
    if value.startswith(REPO_FOLDERS) and not (REPO / value).exists():
        wrong.append(f"{value} is not in the repository")
    return wrong


def _check_names(ctx: Context) -> list[str]:
    wrong = []
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if v is not None and not isinstance(v, bool):
                wrong += _check_value(param, str(v))
    return wrong


EXAMPLES = _examples()


def test_the_examples_were_found():
    """The extraction sees the examples users meet first (a broken extractor would pass everything)."""
    texts = {e for _, e, _ in EXAMPLES}
    assert {"edge-msa demo", "edge-msa demo --bundle nano"} <= texts
    assert any(where.endswith("--help") for where, _, _ in EXAMPLES) and len(EXAMPLES) > 40


@pytest.mark.parametrize(("where", "example", "whole"), EXAMPLES,
                         ids=[f"{w}|{e[:60]}" for w, e, _ in EXAMPLES])
def test_example_parses_and_names_what_exists(where, example, whole):
    """A whole example parses as given; a fragment or an elided one (`...`) names only commands and
    options that exist. Either way the tiers, bundles, recipes and repository paths it names exist."""
    if whole and "..." not in example and "--help" not in example:
        try:
            path, ctx = _parse(example)
        except ClickException as e:
            pytest.fail(f"{where}: `{example}`: {e.format_message()}")
        wrong = _check_names(ctx)
    else:
        path, wrong, named = _reference(example)
        wrong += [w for param, value in named for w in _check_value(param, value)]
    assert wrong == [], f"{where}: `{example}`: {wrong}"
    assert path or "--help" in example or "COMMAND" in example, f"{where}: `{example}` names no sub-command"


def test_bundles_named_in_help_texts_ship():
    """`--bundle` help once suggested nano/onnx-int8, which does not ship."""
    tiers = "|".join(TIERS)
    named = {(where, m) for where, text in _help_texts()
             for m in re.findall(rf"(?<![\w/.])(?:{tiers})/[\w-]+", text)}
    assert ("edge-msa demo --help", "default/onnx-int8") in named
    wrong = []
    for where, bundle in sorted(named):
        try:
            resolve_bundle(bundle)
        except Exception as e:  # noqa: BLE001 - the message is the finding
            wrong.append(f"{where}: {e}")
    assert wrong == []


def test_a_wrong_example_is_caught():
    """The checks can fail: an option that does not exist, a bundle that does not ship."""
    with pytest.raises(ClickException):
        _parse("edge-msa demo --no-such-option")
    _, ctx = _parse("edge-msa demo --bundle nano/onnx-int8")
    assert "has no bundle 'onnx-int8'" in _check_names(ctx)[0]
    _, wrong, named = _reference("edge-msa profile nano/onnx-int8 --no-such-option")
    assert wrong == ["no option --no-such-option in edge-msa profile bundle"]
    assert "has no bundle 'onnx-int8'" in _check_value(*named[0])[0]
    assert _reference("edge-msa nosuch")[1] == ["no command 'nosuch' in edge-msa "]


@pytest.mark.parametrize("example", RUN_FOR_REAL)
def test_cheap_examples_run(example, capsys):
    assert main(shlex.split(example)[1:]) == 0, capsys.readouterr().err
