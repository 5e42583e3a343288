"""Every documentation reference resolves (no dolfinx needed).

Scanned: README.md, docs/**/*.md and every *.py under stimsim/, tests/, benchmarks/, studies/. Checked:

- ``docs/<path>.md`` names a file that exists (plain text, code comments, markdown links);
- ``docs/<path>.md#anchor`` names a heading of that page by its GitHub anchor (lowercase, punctuation
  other than '-' and '_' dropped, spaces to '-', a repeated heading gets -1, -2, ...);
- ``docs/<path>.md, 'Section'`` (also "Section", ('Section'), a chain 'A', 'B' and 'C', a title broken
  over comment lines) names headings of that page: compared as anchors, with Unicode dashes read as '-'
  so that ASCII code can cite 'Nernst-Planck-Poisson';
- relative markdown links in README.md and docs/ resolve (files and anchors, same-page anchors too);
- ``tests/test_x.py::test_name`` in the docs names a test function that exists;
- README.md is at most 6 KB.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CODE_DIRS = ("stimsim", "tests", "benchmarks", "studies")
README_LIMIT = 6144
DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2212"), "-")

GAP = r"(?:[ \t]|\n[ \t]*(?:#:?[ \t]?)?)*"
PAGE_RE = re.compile(r"(?<![\w/.])" + "docs" + r"/(?P<page>[A-Za-z0-9_/.-]+?\.md)(?P<anchor>#[\w-]+)?")
FIRST_RE = re.compile(r",?" + GAP + r"\(?" + GAP)
QUOTED_RE = re.compile(r"(?P<q>['\"])(?=[^\W_])(?P<t>(?:(?!(?P=q))[^\n]|\n(?![ \t]*\n)){1,200}?)(?P=q)")
LINK_RE = re.compile(GAP + r"(?:,|and)" + GAP + r"(?:and" + GAP + r")?")
MD_LINK_RE = re.compile(r"\]\((?P<target>[^)\s]+)\)")
NODE_RE = re.compile(r"tests/(?P<file>test_\w+\.py)::(?P<name>test_\w+)")
FENCE_RE = re.compile(r"^\s*(```|~~~)")


def slug(title: str) -> str:
    title = unicodedata.normalize("NFC", title.strip().lower())
    title = re.sub(r"[^\w\- ]", "", title)
    return title.replace(" ", "-")


def title_key(title: str) -> str:
    """A cited section title as an anchor: line breaks and comment prefixes collapsed, dashes ASCII."""
    return slug(re.sub(r"\s*\n\s*(?:#:?\s*)?", " ", title).strip().translate(DASHES))


def headings(markdown: str) -> list[str]:
    found, fenced = [], False
    for line in markdown.splitlines():
        if FENCE_RE.match(line):
            fenced = not fenced
            continue
        m = None if fenced else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            found.append(m.group(1))
    return found


def anchors(markdown: str) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for h in headings(markdown):
        s = slug(h)
        n = seen.get(s, 0)
        out.add(s if n == 0 else f"{s}-{n}")
        seen[s] = n + 1
    return out


def title_keys(markdown: str) -> set[str]:
    return {title_key(h) for h in headings(markdown)}


def title_chain(text: str, pos: int) -> list[str]:
    chain = []
    m = FIRST_RE.match(text, pos)
    at = m.end() if m else pos
    while True:
        q = QUOTED_RE.match(text, at)
        if not q:
            break
        chain.append(q.group("t"))
        sep = LINK_RE.match(text, q.end())
        if not sep or sep.end() == q.end():
            break
        at = sep.end()
    return chain


def line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def check_text(text: str, where: str, root: Path, is_markdown: bool, path: Path | None = None) -> list[str]:
    """Problems with the references in ``text`` (the file ``where``; relative links from ``path``)."""
    problems = []
    cache: dict[Path, str] = {}

    def page(p: Path) -> str | None:
        if p not in cache:
            cache[p] = p.read_text(encoding="utf-8") if p.is_file() else None
        return cache[p]

    for m in PAGE_RE.finditer(text):
        rel = "docs/" + m.group("page")
        at = f"{where}:{line_of(text, m.start())}"
        body = page(root / rel)
        if body is None:
            problems.append(f"{at}: {rel} does not exist")
            continue
        if m.group("anchor") and m.group("anchor")[1:] not in anchors(body):
            problems.append(f"{at}: {rel}{m.group('anchor')} is not a heading of {rel}")
        for title in title_chain(text, m.end()):
            if title_key(title) not in title_keys(body):
                problems.append(f"{at}: {rel} has no section {title!r}")
    if is_markdown and path is not None:
        for m in MD_LINK_RE.finditer(text):
            target = m.group("target")
            if re.match(r"[a-z]+:", target):
                continue
            at = f"{where}:{line_of(text, m.start())}"
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            if not dest.exists():
                problems.append(f"{at}: link {target} does not resolve")
                continue
            if anchor and dest.suffix == ".md" and anchor not in anchors(page(dest) or ""):
                problems.append(f"{at}: link {target}: no heading #{anchor} in {dest.name}")
        for m in NODE_RE.finditer(text):
            test_file = root / "tests" / m.group("file")
            source = page(test_file)
            if source is None or not re.search(rf"^\s*def {m.group('name')}\(", source, re.M):
                problems.append(f"{where}:{line_of(text, m.start())}: no test {m.group(0)}")
    return problems


def scanned_files(root: Path) -> list[Path]:
    files = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    for d in CODE_DIRS:
        files += sorted(p for p in (root / d).rglob("*.py") if p.resolve() != Path(__file__).resolve())
    return [f for f in files if f.is_file()]


def test_every_documentation_reference_resolves():
    problems = []
    for f in scanned_files(ROOT):
        text = f.read_text(encoding="utf-8")
        problems += check_text(text, str(f.relative_to(ROOT)), ROOT, f.suffix == ".md", f)
    assert not problems, f"{len(problems)} unresolved documentation references:\n" + "\n".join(problems)


def test_readme_is_at_most_6_kb():
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes, above {README_LIMIT}"


def test_the_checker_finds_what_is_wrong(tmp_path):
    """The checker itself can fail: a synthetic page and texts that cite it right and wrong."""
    d = "docs"  # built up so that this file's own text holds no reference to check
    (tmp_path / d / "theory").mkdir(parents=True)
    (tmp_path / d / "theory" / "page.md").write_text(
        "# Page\n\n## Charged species: Nernst–Planck–Poisson\n\n```sh\n# not a heading\n```\n\n"
        "## Validity of the expansion\n\n## Validity of the expansion\n",
        encoding="utf-8",
    )
    good = (
        f"see {d}/theory/page.md, 'Charged species: Nernst-Planck-Poisson' and\n"
        f"#: {d}/theory/page.md ('Validity of the\n#: expansion'); {d}/theory/page.md#validity-of-the-expansion-1\n"
        f"[x]({d}/theory/page.md#charged-species-nernstplanckpoisson)"
    )
    assert check_text(good, "good.py", tmp_path, False) == []
    bad = {
        f"{d}/theory/nope.md": "does not exist",
        f"{d}/theory/page.md, 'Missing section'": "has no section 'Missing section'",
        f"{d}/theory/page.md, 'Validity of the expansion', 'Also missing'": "has no section 'Also missing'",
        f"{d}/theory/page.md#not-there": "is not a heading",
        f"{d}/theory/page.md, 'not a heading'": "has no section",
    }
    for text, expected in bad.items():
        problems = check_text(text, "bad.py", tmp_path, False)
        assert len(problems) == 1 and expected in problems[0], (text, problems)
    md = tmp_path / d / "guide.md"
    md.write_text("[a](theory/page.md#validity-of-the-expansion) [b](theory/gone.md) [c](#nowhere)\n", encoding="utf-8")
    problems = check_text(md.read_text(encoding="utf-8"), "guide.md", tmp_path, True, md)
    assert len(problems) == 2 and "gone.md" in problems[0] and "#nowhere" in problems[1], problems
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("def test_there():\n    pass\n", encoding="utf-8")
    nodes = "`tests/test_x.py::test_there`, `tests/test_x.py::test_gone`\n"
    problems = check_text(nodes, "v.md", tmp_path, True, md)
    assert len(problems) == 1 and "test_gone" in problems[0], problems


@pytest.mark.parametrize("title", ["Products of harmonics", "Split by field", "Large amplitudes"])
def test_pages_that_code_cites_keep_their_sections(title):
    """The harmonics page keeps the sections the solver code cites most (the anchors of the split)."""
    body = (ROOT / "docs" / "theory" / "harmonics.md").read_text(encoding="utf-8")
    assert title_key(title) in title_keys(body)
