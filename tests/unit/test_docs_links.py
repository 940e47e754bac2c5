"""Every relative link in README.md, docs/*.md and the examples' pages leads to a file and a heading that exist."""

import re
from pathlib import Path

import pytest

from devstack import ROOT

DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", *DOCS, *sorted((ROOT / "examples").glob("**/*.md"))]
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", flags=re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", flags=re.IGNORECASE)  # https:, mailto:...


def prose(text: str) -> str:
    """The page without its fenced code blocks, where [x](y) is code, not a link."""
    return FENCE.sub("", text)


def anchors(page: Path) -> set[str]:
    """The ids GitHub gives a page's headings: lower case, punctuation dropped, spaces as hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", prose(page.read_text()), flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        seen[slug] = seen.get(slug, -1) + 1
        if seen[slug]:
            seen[f"{slug}-{seen[slug]}"] = 0
    return set(seen)


def relative_links(page: Path) -> list[str]:
    return [target for target in LINK.findall(prose(page.read_text())) if not EXTERNAL.match(target)]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_points_to_an_existing_file_and_heading(page):
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no such heading in {destination.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_readme_links_every_docs_page():
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in relative_links(ROOT / "README.md")}
    assert [page.name for page in DOCS if page.resolve() not in linked] == []


def test_the_link_checker_finds_a_broken_file_a_broken_heading_and_ignores_code(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## A `code` heading: with punctuation\n\n## Twice\n\n## Twice\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md#a-code-heading-with-punctuation) [twice](other.md#twice-1) [web](https://example.com/x)\n"
                    "[gone](missing.md) [bad](other.md#nowhere)\n```sh\n[not a link](nowhere.md)\n```\n")  # fmt: skip
    assert relative_links(page) == ["other.md#a-code-heading-with-punctuation", "other.md#twice-1", "missing.md", "other.md#nowhere"]
    assert anchors(tmp_path / "other.md") == {"other-page", "a-code-heading-with-punctuation", "twice", "twice-1"}


def test_the_readme_is_a_quickstart_that_leads_with_make_demo_and_make_test():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200, "README.md is the quickstart: move the rest into docs/"
    first_block = FENCE.search(text).group(0).splitlines()
    assert [line.split("#")[0].strip() for line in first_block[1:3]] == ["make demo", "make test"]
