"""The documentation's links hold: every relative link of README.md and docs/*.md, and every
docs/ reference in the code, names a file that exists and, with an #anchor, one of its headings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CODE_DIRS = ("app.py", "chalicelib", "local", "cli", "bench", "infra", "tests")

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE_REFERENCE = re.compile(r"\bdocs/[\w-]+\.md(?:#[\w-]+)?")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (a `# comment` in a bash block is no heading)."""
    lines, in_code = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            in_code = not in_code
        elif not in_code:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for line in prose_lines(page.read_text(encoding="utf-8")):
        if heading := HEADING.match(line):
            base = slug(heading.group(1))
            anchor, n = base, 0
            while anchor in found:  # GitHub numbers a repeated heading: -1, -2, ...
                n += 1
                anchor = f"{base}-{n}"
            found.add(anchor)
    return found


def broken(page: Path, target: str) -> str | None:
    """Why a relative link of ``page`` leads nowhere, or None when it holds."""
    path_part, _, anchor = target.partition("#")
    destination = (page.parent / path_part).resolve() if path_part else page
    if not destination.exists():
        return f"{target}: no file {destination}"
    if anchor and destination.suffix == ".md" and anchor not in anchors(destination):
        return f"{target}: no heading #{anchor} in {destination}"
    return None


def relative_links(page: Path) -> list[str]:
    text = "\n".join(prose_lines(page.read_text(encoding="utf-8")))
    text = re.sub(r"`[^`\n]*`", "", text)  # an inline code span is not a link
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]


def test_the_slug_follows_github():
    assert slug("WeChat's keyword rules") == "wechats-keyword-rules"
    assert slug("The simulation in `make bench`") == "the-simulation-in-make-bench"
    assert slug("Pause, resume, cancel") == "pause-resume-cancel"
    assert slug("Scale: 1 000 000 holders in under 30 minutes") == (
        "scale-1-000-000-holders-in-under-30-minutes"
    )
    assert slug("Tracing: none, by decision") == "tracing-none-by-decision"


def test_a_broken_link_is_found(tmp_path: Path):
    (tmp_path / "other.md").write_text("# Title\n\n## A section\n\n```\n# not a heading\n```\n")
    page = tmp_path / "page.md"
    page.write_text("x")
    assert broken(page, "other.md#a-section") is None
    assert broken(page, "other.md#title") is None
    assert broken(page, "missing.md") is not None
    assert broken(page, "other.md#not-a-heading") is not None
    assert broken(page, "other.md#a-section-1") is not None


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_somewhere(page: Path):
    assert [reason for t in relative_links(page) if (reason := broken(page, t))] == []


def code_files() -> list[Path]:
    files: list[Path] = []
    for name in CODE_DIRS:
        path = ROOT / name
        files.extend([path] if path.is_file() else sorted(path.rglob("*.py")))
    return files


def test_every_docs_reference_in_the_code_leads_somewhere():
    references = {
        (path.relative_to(ROOT), reference)
        for path in code_files()
        for reference in CODE_REFERENCE.findall(path.read_text(encoding="utf-8"))
    }
    assert len(references) > 20
    at_root = ROOT / "README.md"  # a reference names its page from the repository's root
    leading_nowhere = [(p, why) for p, ref in sorted(references) if (why := broken(at_root, ref))]
    assert leading_nowhere == []


def test_nothing_cites_a_document_outside_the_repository():
    cited = [
        str(path.relative_to(ROOT))
        for path in [*code_files(), *PAGES]
        if re.search(r"\bSPEC\b|/work/|\.\./shared/", path.read_text(encoding="utf-8"))
        and path.name != "test_docs.py"
    ]
    assert cited == []
