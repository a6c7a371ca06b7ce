"""A real browser for the inspector page's tests: Debian's headless Chromium (``apt-get install chromium``),
driven by Playwright's Python package through ``executable_path``. Playwright's own browser builds are never
downloaded (``playwright install`` is not run; nothing here needs it).

Chromium is launched with a fresh profile directory and without the background services that would try to
reach Google (component updates, sync, safe browsing lists, QUIC): the tests check that every request the
page makes goes to its own server, and the machine has no other network anyway.

:func:`need_chromium` skips a test when Chromium or Playwright is missing, or fails it when
``ATTEST_REQUIRE_INTEGRATION=1`` (as in CI).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .servers import unavailable

#: as root (CI, the development machines) Chromium's sandbox cannot start; the rest keep it off the network
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--disable-extensions", "--no-default-browser-check")


def chromium_binary() -> str | None:
    """``$ATTEST_CHROMIUM`` when set (only it), else Debian's ``chromium`` on PATH or in /usr/bin."""
    chosen = os.environ.get("ATTEST_CHROMIUM")
    candidates = [chosen] if chosen else [shutil.which("chromium"), "/usr/bin/chromium"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def need_chromium() -> str:
    """The Chromium binary; skips (or fails, with ATTEST_REQUIRE_INTEGRATION=1) when it or Playwright is
    missing."""
    missing = []
    binary = chromium_binary()
    if binary is None:
        missing.append("chromium (apt-get install chromium chromium-driver)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright Python package (pip install -e '.[test]'; no `playwright install` needed)")
    if missing:
        unavailable("the browser test needs " + " and ".join(missing))
    assert binary is not None
    return binary


@contextlib.contextmanager
def chromium(binary: str, **context_options: Any) -> Iterator[Any]:
    """A Playwright ``BrowserContext`` of a headless Chromium with a fresh profile, closed (and its profile
    deleted) afterwards."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="attest-chromium-")
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                profile, executable_path=binary, headless=True, args=list(CHROMIUM_FLAGS), **context_options)
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


#: attached before any page script runs: every Content-Security-Policy violation is recorded in the page
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || ""));
});
"""

#: WCAG 2.1 contrast of every visible text element against the background it is drawn on (the nearest
#: ancestor with an opaque background); answers the elements below the AA minimum (4.5:1, 3:1 for large text)
CONTRAST_FAILURES = """
() => {
  const parse = (c) => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(",").map((x) => parseFloat(x)); return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 }; };
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const background = (el) => { for (let n = el; n; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor); if (c && c.a >= 0.99) return c; }
    return { r: 255, g: 255, b: 255, a: 1 }; };
  const failures = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (style.visibility === "hidden" || style.display === "none" || box.width === 0 || box.height === 0) continue;
    if (el.closest(".visually-hidden, .offscreen, [hidden]")) continue;
    const fg = parse(style.color), bg = background(el);
    const l1 = lum(fg), l2 = lum(bg);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight, 10) >= 700;
    const large = size >= 24 || (bold && size >= 18.66);
    if (ratio < (large ? 3 : 4.5)) failures.push(el.tagName + "." + el.className + " '" + el.textContent.trim().slice(0, 40) + "' " + ratio.toFixed(2));
  }
  return failures;
}
"""
