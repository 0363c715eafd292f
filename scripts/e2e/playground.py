#!/usr/bin/env python3
"""Drive the playground of a running `muse serve` in headless Chromium (Debian's `chromium`,
through Playwright's Python API with `executable_path`, so no browser download): send a chat,
watch the answer stream in, wait for its quality scores, generate images and search the
knowledge base when the server has them, take screenshots at desktop and phone width.

    python scripts/e2e/playground.py --base http://127.0.0.1:8181 --out /tmp/playground
"""

import argparse
import os
import sys
import time

from playwright.sync_api import sync_playwright


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="http://127.0.0.1:8181")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--out", default="playground-shots")
    ap.add_argument("--api-key", default="")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=a.chromium, args=["--no-sandbox"])
        for name, viewport in [("desktop", {"width": 1100, "height": 800}), ("phone", {"width": 375, "height": 740})]:
            page = browser.new_page(viewport=viewport)
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(a.base + "/")
            if a.api_key:
                page.fill("#key", a.api_key)
                page.dispatch_event("#key", "change")
                page.reload()
            page.wait_for_function("document.querySelectorAll('#model option').length > 0", timeout=10000)
            page.fill("#max_tokens", "60")
            page.fill("#prompt", "Write two sentences about the sea.")
            page.click("#send")
            # Streaming: the answer grows while the request is still open.
            lengths = []
            t0 = time.time()
            while time.time() - t0 < 60:
                txt = page.evaluate("(() => { const m = document.querySelectorAll('.msg.assistant'); return m.length ? m[m.length - 1].firstChild && m[m.length - 1].firstChild.textContent || '' : '' })()")
                lengths.append(len(txt))
                if page.evaluate("!!document.querySelector('.msg.assistant[data-done]')"):
                    break
                time.sleep(0.05)
            grew = len(set(l for l in lengths if l > 0))
            check(grew > 2, f"{name}: the answer streamed in ({grew} distinct lengths seen)")
            page.wait_for_selector(".msg.assistant .scores span", timeout=60000)
            answer = page.inner_text(".msg.assistant")
            scores = page.inner_text(".msg.assistant .scores")
            print(f"{name}: answer+scores: {answer!r}")
            check("overall" in scores and "fluency" in scores, f"{name}: quality scores shown ({scores!r})")
            width = page.evaluate("document.documentElement.scrollWidth")
            check(width <= viewport["width"], f"{name}: no horizontal scroll (page {width}px, viewport {viewport['width']}px)")
            check(not errors, f"{name}: no script errors {errors}")
            has_images = page.evaluate("fetch('/v1/models', {headers: headers()}).then(r => r.json()).then(j => j.data.some(m => m.kind === 'image'))")
            if has_images:
                page.click("nav button[data-tab=images]")
                page.fill("#image-prompt", "a running shoe")
                page.click("#image-send")
                page.wait_for_function("document.querySelectorAll('#image-out img.generated').length === 2 && [...document.querySelectorAll('#image-out img')].every(i => i.complete && i.naturalWidth > 0)", timeout=60000)
                dims = page.evaluate("[...document.querySelectorAll('#image-out img')].map(i => [i.naturalWidth, i.clientWidth])")
                check(all(n > 0 and c >= n for n, c in dims), f"{name}: two generated images shown, scaled up ({dims})")
                page.screenshot(path=os.path.join(a.out, f"playground-{name}-images.png"), full_page=True)
            page.evaluate("fetch('/v1/kb/add', {method: 'POST', headers: headers(), body: JSON.stringify({kb: 'playground-e2e', documents: [{name: 'bread.txt', text: 'Bread rises because yeast makes carbon dioxide.'}]})}).then(r => r.status)")
            page.click("nav button[data-tab=kb]")
            page.fill("#kb-name", "playground-e2e")
            page.fill("#kb-query", "why does bread rise")
            page.click("#kb-send")
            page.wait_for_selector("#kb-out .hit", timeout=30000)
            hit = page.inner_text("#kb-out .hit")
            check("yeast" in hit, f"{name}: knowledge-base search shows the document ({hit!r})")
            page.click("nav button[data-tab=chat]")
            shot = os.path.join(a.out, f"playground-{name}.png")
            page.screenshot(path=shot, full_page=True)
            print(f"screenshot: {shot}")
            page.close()
        browser.close()
    print("playground checks passed")


if __name__ == "__main__":
    main()
