"""Render a report the way GitHub shows it, in Chromium, and measure what a reader sees.

GitHub's own Markdown engine (cmark-gfm, via `cmarkgfm`) turns the report into HTML; GitHub's
stylesheet (npm `github-markdown-css`) styles it inside a column as wide as a PR comment's body at a
1000-px window; Mermaid 11 from npm (the major version GitHub runs) draws the ```mermaid blocks.
Nothing is fetched from the internet while the page is shown: the page, the stylesheet and Mermaid
are local files, and the page is opened with `tests.browser.offline_page`, which refuses any other
request (a test fails when the page tried one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.browser import GITHUB_CSS_REL, MERMAID_REL, offline_page

WINDOW = (1000, 900)  # the browser window: GitHub at 1000 px wide, the first screen 900 px high
# The Markdown body of a PR comment at a 1000-px window: GitHub's layout at its `md` breakpoint
# (768–1011 px) has 24-px page gutters, a 220-px sidebar with a 16-px gap, a 56-px avatar column
# and 16-px comment padding, minus a 15-px scrollbar: 1000 − 15 − 48 − 236 − 56 − 32 ≈ 613 px.
COLUMN = 613
FIRST_SCREEN = 900

_MERMAID_BLOCK = re.compile(r'<pre lang="mermaid"><code>(.*?)</code></pre>', re.S)


def markdown_to_html(text: str) -> str:
    """GitHub-flavoured Markdown to HTML with cmark-gfm; ```mermaid blocks become Mermaid's <pre>."""
    import cmarkgfm
    from cmarkgfm.cmark import Options

    body = cmarkgfm.github_flavored_markdown_to_html(
        text, options=Options.CMARK_OPT_UNSAFE | Options.CMARK_OPT_GITHUB_PRE_LANG)
    return _MERMAID_BLOCK.sub(lambda m: f'<pre class="mermaid">{m.group(1)}</pre>', body)


def page_html(body: str, assets: Path) -> str:
    css = (assets / GITHUB_CSS_REL).read_text(encoding="utf-8")
    mermaid_js = (assets / MERMAID_REL).as_uri()
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>report</title>
<style>{css}</style>
<style>
  html, body {{ margin: 0; background: #fff; }}
  #column {{ width: {COLUMN}px; margin: 0 0 0 24px; }}
  .markdown-body {{ box-sizing: content-box; padding: 16px 0; }}
  pre.mermaid {{ background: none; padding: 0; }}
</style></head>
<body><div id="column"><article class="markdown-body">{body}</article></div>
<script src="{mermaid_js}"></script>
<script>
  window.mermaidDone = (async () => {{
    mermaid.initialize({{ startOnLoad: false, theme: "default", securityLevel: "strict" }});
    try {{ await mermaid.run({{ querySelector: "pre.mermaid" }}); return "ok"; }}
    catch (e) {{ return "error: " + e; }}
  }})();
</script>
</body></html>
"""


_MEASURE = r"""
() => {
  const column = document.querySelector("#column article");
  const top = column.getBoundingClientRect().top + window.scrollY;
  const box = (el) => { const r = el.getBoundingClientRect();
    return {top: r.top + window.scrollY - top, bottom: r.bottom + window.scrollY - top, left: r.left, width: r.width,
            height: r.height}; };
  const visible = (el) => el.getClientRects().length > 0;
  const tables = [...column.querySelectorAll("table")].filter(visible).map((t) => ({
    ...box(t), scrollWidth: t.scrollWidth, clientWidth: t.clientWidth, text: t.innerText.slice(0, 300)}));
  const charts = [...column.querySelectorAll("pre.mermaid")].filter(visible).map((pre) => {
    const svg = pre.querySelector("svg");
    if (!svg) return {error: pre.innerText.slice(0, 200), ...box(pre)};
    const bars = [...svg.querySelectorAll("[class*='bar-plot'] rect")].map((r) => {
      const b = r.getBoundingClientRect();
      return {x: b.left, y: b.top, width: b.width, height: b.height, fill: r.getAttribute("fill")};
    });
    const lines = [...svg.querySelectorAll("[class*='line-plot'] path")].map((p) => {
      const b = p.getBoundingClientRect();
      return {d: p.getAttribute("d"), x: b.left, y: b.top, width: b.width, height: b.height,
              stroke: p.getAttribute("stroke")};
    });
    const texts = [...svg.querySelectorAll("text")].map((t) => t.textContent);
    const next = pre.nextElementSibling;
    return {...box(pre), bars, lines, texts, legend: next ? next.innerText : "",
            svgWidth: svg.getBoundingClientRect().width};
  });
  return {height: column.scrollHeight, width: column.clientWidth, tables, charts,
          text: column.innerText,
          headings: [...column.querySelectorAll("h2, h3, h4")].filter(visible)
            .map((h) => ({text: h.innerText, ...box(h)})),
          details: [...column.querySelectorAll("details")].map((d) => ({open: d.open,
            summary: d.querySelector("summary") ? d.querySelector("summary").innerText : "", ...box(d)}))};
}
"""


@dataclass
class Rendered:
    """What a reader sees: the page's measurements (pixels from the top of the comment body)."""

    name: str
    markdown: str
    html: str
    height: int
    width: int
    tables: list[dict[str, Any]]
    charts: list[dict[str, Any]]
    text: str
    headings: list[dict[str, Any]]
    details: list[dict[str, Any]]
    page: Any = None  # the open Playwright page (closed by `close`)
    screenshots: list[Path] = field(default_factory=list)

    def locate(self, text: str) -> dict[str, Any] | None:
        """The box (px from the top of the comment body) of the smallest visible element containing `text`."""
        return self.page.evaluate(_LOCATE, text)

    def open_all_details(self) -> Rendered:
        """Every <details> opened (what a reader sees after clicking them all), measured again."""
        self.page.evaluate("() => document.querySelectorAll('details').forEach((d) => { d.open = true; })")
        data = self.page.evaluate(_MEASURE)
        return Rendered(name=self.name + "-opened", markdown=self.markdown, html=self.html, page=self.page, **data)

    def shot(self, path: Path, height: int, width: int = WINDOW[0]) -> Path:
        """A screenshot of the page's top `height` × `width` pixels."""
        self.page.set_viewport_size({"width": WINDOW[0], "height": max(height, WINDOW[1])})
        self.page.screenshot(path=str(path), clip={"x": 0, "y": 0, "width": width, "height": height})
        self.page.set_viewport_size({"width": WINDOW[0], "height": WINDOW[1]})
        return path

    def close(self) -> None:
        if self.page is not None:
            self.page.context.close()
            self.page = None


_LOCATE = r"""(text) => {
  const column = document.querySelector("#column article");
  const top = column.getBoundingClientRect().top + window.scrollY;
  let best = null;
  for (const el of column.querySelectorAll("*")) {
    if (!el.getClientRects().length || !el.innerText) continue;
    if (!el.innerText.replace(/\u00a0/g, " ").includes(text)) continue;
    if (!best || best.contains(el)) best = el;
  }
  if (!best) return null;
  const r = best.getBoundingClientRect();
  return {top: r.top + window.scrollY - top, bottom: r.bottom + window.scrollY - top, tag: best.tagName};
}"""


def render(browser: Any, markdown: str, assets: Path, out_dir: Path, name: str) -> Rendered:
    """Open the report in a 1000-px window, wait for Mermaid, measure, and save two screenshots
    (`<name>-first-screen.png`, the top 900 px, and `<name>-full.png`). Close the result when done."""
    out_dir.mkdir(parents=True, exist_ok=True)
    body = markdown_to_html(markdown)
    page_file = out_dir / f"{name}.html"
    page_file.write_text(page_html(body, assets), encoding="utf-8")
    (out_dir / f"{name}.md").write_text(markdown, encoding="utf-8")
    offline = offline_page(browser, *WINDOW)
    page = offline.page
    page.goto(page_file.as_uri())
    status = page.evaluate("() => window.mermaidDone")
    if status != "ok" or offline.refused:
        offline.close()
        raise AssertionError(f"Mermaid failed on {name}: {status}" if status != "ok"
                             else f"the page of {name} tried to fetch from outside: {offline.refused}")
    data = page.evaluate(_MEASURE)
    rendered = Rendered(name=name, markdown=markdown, html=body, page=page, **data)
    first = out_dir / f"{name}-first-screen.png"
    page.screenshot(path=str(first), clip={"x": 0, "y": 0, "width": WINDOW[0], "height": WINDOW[1]})
    full = out_dir / f"{name}-full.png"
    page.screenshot(path=str(full), full_page=True)
    rendered.screenshots += [first, full]
    return rendered
