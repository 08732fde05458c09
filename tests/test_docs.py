"""The README stays a front page, keeps the set-up and test commands CI reads, and every relative link in the
documentation (README.md, CHANGELOG.md, docs/*.md) resolves, anchors included."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_README_LINES = 200

FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def doc_files(root: Path = ROOT) -> list[Path]:
    files = [root / "README.md", root / "CHANGELOG.md", *sorted((root / "docs").glob("*.md"))]
    return [f for f in files if f.is_file()]


def outside_fences(text: str):
    """(line number, line) of the lines outside fenced code blocks."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if m:
            if fence is None:
                fence = m.group(1)
            elif m.group(1) == fence:
                fence = None
            continue
        if fence is None:
            yield number, line


def prose_lines(text: str):
    """(line number, line) outside fenced code blocks, with inline code spans blanked."""
    for number, line in outside_fences(text):
        yield number, re.sub(r"`[^`]*`", lambda c: " " * len(c.group(0)), line)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation other than '-' and '_' dropped, spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading counts by its text
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor; repeated headings get -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in outside_fences(path.read_text(encoding="utf-8")):
        h = HEADING.match(line)
        if not h:
            continue
        base = slug(h.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def relative_links(path: Path):
    text = path.read_text(encoding="utf-8")
    for number, line in prose_lines(text):
        for pattern in (LINK, IMAGE):
            for m in pattern.finditer(line):
                target = m.group(1)
                if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):  # http:, https:, mailto:, ...
                    continue
                yield number, target


def broken_links(root: Path = ROOT) -> list[str]:
    problems = []
    for path in doc_files(root):
        for number, target in relative_links(path):
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(root)}:{number}: {target}"
            if not dest.exists():
                problems.append(f"{where}: no such file")
                continue
            if anchor:
                if dest.suffix.lower() != ".md" or dest.is_dir():
                    problems.append(f"{where}: anchor into a file that is not markdown")
                elif anchor.lower() not in anchors(dest):
                    problems.append(f"{where}: no heading with anchor #{anchor} in {dest.name}")
    return problems


def bash_blocks_under(text: str, heading: str) -> list[str]:
    """The bodies of the ```bash blocks in the section that starts with the level-2 heading ``heading``."""
    lines = text.splitlines()
    try:
        start = lines.index(heading)
    except ValueError:
        return []
    section: list[str] = []
    for line in lines[start + 1:]:
        if line.startswith("## ") or line.startswith("# "):
            break
        section.append(line)
    blocks, body, inside = [], [], None
    for line in section:
        m = FENCE.match(line)
        if inside is None and m:
            inside = line.strip()[3:].strip()
            body = []
        elif inside is not None and m:
            if inside == "bash":
                blocks.append("\n".join(body))
            inside = None
        elif inside is not None:
            body.append(line)
    return blocks


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; move reference text into docs/"


@pytest.mark.parametrize(("heading", "command"), [
    ("## Set up", "bash .ci/setup"),
    ("## Test", ".venv/bin/python -m pytest -q"),
])
def test_readme_commands_ci_reads(heading, command):
    blocks = bash_blocks_under(README.read_text(encoding="utf-8"), heading)
    assert blocks == [command], f"under {heading!r}: expected one ```bash block with {command!r}, got {blocks!r}"


def test_every_relative_link_resolves():
    assert doc_files(), "no documentation files found"
    problems = broken_links()
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_checker_finds_broken_links(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Title\n\n## Some `code` & things\n", encoding="utf-8")
    (tmp_path / "README.md").write_text(
        "# R\n\n[ok](docs/a.md) [ok](docs/a.md#title) [ok](docs/a.md#some-code--things) [ok](#r)\n"
        "[web](https://example.com/x.md) `[code](missing.md)`\n\n```\n[in a block](missing.md)\n```\n",
        encoding="utf-8")
    assert broken_links(tmp_path) == []
    (tmp_path / "CHANGELOG.md").write_text("[bad](docs/b.md) [bad](docs/a.md#nope)\n", encoding="utf-8")
    problems = broken_links(tmp_path)
    assert len(problems) == 2 and "no such file" in problems[0] and "#nope" in problems[1]


def test_slug_rule():
    assert slug("Sources (`--source`)") == "sources---source"
    assert slug("Sessions (the API behind every command)") == "sessions-the-api-behind-every-command"
    assert slug("Many recordings (`percept batch`)") == "many-recordings-percept-batch"
