"""Docs that cannot drift from the code: the options in docs/cli.md, the links between pages, the README's commands.

(a) every `--option` the command-line parser accepts (every command, every subcommand) is in docs/cli.md, and
    every `--option` written in docs/cli.md is one some parser accepts;
(b) every relative link in README.md, INTEGRATION_GUIDE.md and docs/*.md names an existing file, and its
    `#anchor` a heading of that file (GitHub's slugs);
(c) the README's test command is exactly the command `.ci/run` runs, and the set-up plus real separation
    command is in the README too.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from lars_service.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CLI_DOC = DOCS / "cli.md"
LINKED_PAGES = [ROOT / "README.md", ROOT / "INTEGRATION_GUIDE.md", *sorted(DOCS.glob("*.md"))]
SEPARATE_COMMAND = ("bash scripts/setup.sh && .venv/bin/lars-service separate "
                    "--input ../shared/kits/loops/loop_amen.flac --output-dir separated")

OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
FENCE = re.compile(r"^(```|~~~)")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _parsers(parser: argparse.ArgumentParser, path: str = "lars-service"):
    """(command path, parser) for the parser and, recursively, every subcommand's."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def parser_options() -> dict[str, set[str]]:
    """`--option` -> the commands that accept it."""
    options: dict[str, set[str]] = {}
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            for string in action.option_strings:
                if string.startswith("--"):
                    options.setdefault(string, set()).add(path)
    return options


def test_the_parser_walk_reaches_every_command():
    paths = {path for path, _ in _parsers(build_parser())}
    for command in ("separate", "serve", "batch", "info", "evaluate", "synth", "train",
                    "models status", "models install", "models convert"):
        assert f"lars-service {command}" in paths


def test_every_parser_option_is_in_cli_md():
    written = set(OPTION.findall(CLI_DOC.read_text(encoding="utf-8")))
    missing = {option: sorted(commands) for option, commands in parser_options().items() if option not in written}
    assert not missing, f"options the parser accepts but docs/cli.md does not mention: {missing}"


def test_every_option_in_cli_md_exists():
    written = set(OPTION.findall(CLI_DOC.read_text(encoding="utf-8")))
    unknown = written - set(parser_options())
    assert not unknown, f"docs/cli.md names options no parser accepts: {sorted(unknown)}"


def _without_code(text: str) -> list[str]:
    """The lines of a Markdown text outside fenced code blocks, with inline code spans removed."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(re.sub(r"`[^`]*`", "", line))
    return lines


def _code_blocks(text: str) -> list[list[str]]:
    blocks, current = [], None
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            if current is None:
                current = []
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading counts by its text
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    for line in lines:
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = github_slug(match.group(1))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def relative_links(path: Path) -> list[str]:
    links = []
    for line in _without_code(path.read_text(encoding="utf-8")):
        for target in LINK.findall(line):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto:
                links.append(target)
    return links


def test_the_pages_exist():
    for name in ("cli", "contract", "batch", "weights", "training", "performance", "architecture"):
        assert (DOCS / f"{name}.md").is_file(), name


@pytest.mark.parametrize("page", LINKED_PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_resolve(page: Path):
    broken = []
    for target in relative_links(page):
        file_part, _, anchor = target.partition("#")
        destination = (page.parent / file_part).resolve() if file_part else page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (destination.suffix != ".md" or anchor not in anchors(destination)):
            broken.append(f"{target}: no heading #{anchor} in {destination.name}")
    assert not broken, f"{page.name}: {broken}"


def test_slugs_follow_github():
    assert github_slug("`lars-service separate`") == "lars-service-separate"
    assert github_slug("5.2 Error (exit 1, 2, 130, 143)") == "52-error-exit-1-2-130-143"
    assert github_slug("Processors and the fallback chain") == "processors-and-the-fallback-chain"


def ci_command() -> str:
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    commands = [line for line in lines if line and not line.startswith("#")]
    return commands[-1]


def test_readme_test_command_is_what_ci_runs():
    command = ci_command()
    assert "pytest" in command, f"the last command of .ci/run should run the tests: {command!r}"
    blocks = _code_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert any(command in (line.strip() for line in block) for block in blocks), \
        f"README.md has no code block with the line `{command}` that .ci/run runs"


def test_readme_has_the_setup_and_separate_command():
    blocks = _code_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert any(SEPARATE_COMMAND in (line.strip() for line in block) for block in blocks)


def test_serve_help_states_the_line_limits_the_server_enforces():
    from lars_service.server import MAX_LINE_BYTES, MAX_LINE_DEPTH

    serve = next(action for action in build_parser()._subparsers._group_actions[0].choices.items() if action[0] == "serve")[1]
    description = " ".join(serve.description.split())
    assert f"at most {MAX_LINE_BYTES} bytes" in description and f"at most {MAX_LINE_DEPTH} arrays or objects deep" in description
    assert f"{MAX_LINE_BYTES:,} bytes" in CLI_DOC.with_name("batch.md").read_text(encoding="utf-8")
