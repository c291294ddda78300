# Email in a real browser: headless Chromium (Debian's `chromium`, driven by playwright-core,
# which downloads nothing) renders the demo's alert.html, digest.html and weekly.html, produced
# by the real binary, at 600 px and 375 px. In the page it checks that nothing overflows
# horizontally, every image loaded, every visible text meets WCAG AA contrast (4.5:1) against
# its real background, every URL shown is a link, and the design's headings are there.
# Full-page PNG screenshots go to $CONF_OUT (target/conformance/email/) for people to look at.
conf_apt chromium
conf_npm playwright-core@1.65.2
chromium_bin=$(command -v chromium || true)
[[ -x $chromium_bin ]] || conf_fail "chromium is not installed"

bin=$(conf_bin skygeni)
demo="$CONF_OUT/demo"
rm -rf "$demo"
(cd "$CONF_OUT" && timeout 300 "$bin" demo --out "$demo" >"$CONF_OUT/demo.log" 2>&1) ||
    conf_fail "skygeni demo failed (see $CONF_OUT/demo.log)"
for f in alert.html digest.html weekly.html; do
    [[ -s $demo/$f ]] || conf_fail "the demo did not write $f"
done

profile=$(mktemp -d)
script=$(mktemp --suffix=.js)
conf_on_exit "rm -rf '$profile' '$script'"
cat >"$script" <<'JS'
const { chromium } = require("playwright-core");
const path = require("path");
const [exe, profile, demo, out] = process.argv.slice(2);

// Everything below runs inside the page.
function inPage(expect) {
  const problems = [];
  const vw = window.innerWidth;
  const doc = document.documentElement;
  if (doc.scrollWidth > vw) problems.push(`overflows horizontally: scrollWidth ${doc.scrollWidth} > viewport ${vw}`);
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > vw + 0.5) {
      problems.push(`<${el.tagName.toLowerCase()}> "${(el.textContent || "").trim().slice(0, 40)}" ends at ${Math.round(r.right)} px > ${vw}`);
      break;
    }
  }
  const imgs = [...document.images];
  for (const img of imgs) {
    if (!img.complete || img.naturalWidth === 0) problems.push(`image not loaded: ${img.getAttribute("src")}`);
    if (img.getBoundingClientRect().width > vw) problems.push(`image wider than the viewport: ${img.getAttribute("src")}`);
  }
  // WCAG 2 relative luminance and contrast of each visible text against its real background.
  const rgb = (s) => (s.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const pairs = new Map();
  let worst = 99;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const text = n.textContent.trim();
    if (!text) continue;
    const el = n.parentElement;
    if (!el || el.getClientRects().length === 0) continue;
    const st = getComputedStyle(el);
    if (st.visibility === "hidden" || Number(st.opacity) === 0) continue;
    const fg = rgb(st.color).slice(0, 3), bg = background(el);
    const [a, b] = [lum(fg), lum(bg)];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    pairs.set(`${st.color} on rgb(${bg.join(", ")})`, ratio.toFixed(2));
    worst = Math.min(worst, ratio);
    if (ratio < 4.5) problems.push(`contrast ${ratio.toFixed(2)}:1 < 4.5 for "${text.slice(0, 40)}" (${st.color} on rgb(${bg.join(",")}))`);
    if (/https?:\/\//.test(text) && !el.closest("a[href]")) problems.push(`a URL shown as plain text: ${text.slice(0, 60)}`);
  }
  for (const a of document.querySelectorAll("a")) {
    if (!/^(https?:|mailto:)/.test(a.getAttribute("href") || "")) problems.push(`link without an http(s) target: ${a.outerHTML.slice(0, 80)}`);
  }
  const body = document.body.innerText;
  for (const want of expect) if (!body.includes(want)) problems.push(`missing "${want}"`);
  if (!document.querySelector('meta[name="viewport"]') || document.characterSet !== "UTF-8") problems.push("no viewport meta or not UTF-8");
  return { problems, images: imgs.length, worst: worst.toFixed(2), pairs: [...pairs.entries()], height: doc.scrollHeight };
}

const expectations = {
  "alert.html": ["DEAL ALERT", "Deal:", "Risk Score:", "/100 (", "Top Risk Factors:", "Recommended Actions:", "View Deal", "Snooze Alert", "Mark False Alarm"],
  "digest.html": ["Daily Pipeline Health Report", "Pipeline Overview", "Scored Deals:", "High/Critical Risk:", "Potential Revenue Recovery:", "RAPV Gap:", "Deals Needing Attention (Top 5)", "Trends This Week", "Lead source win-rate gap:", "Average deal cycle:", "View Full Pipeline", "Assumes 20%"],
  "weekly.html": ["Weekly Pipeline Summary", "Pipeline Overview", "Top Issues", "What Changed This Week", "Did Last Week's Advice Work?", "Risk then → now", "Follow-up", "Model Health"],
};

(async () => {
  const flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"];
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: exe, headless: true, args: flags, viewport: { width: 600, height: 900 },
    deviceScaleFactor: 2, offline: true,
  });
  let failed = 0;
  for (const [file, expect] of Object.entries(expectations)) {
    for (const width of [600, 375]) {
      const page = await ctx.newPage();
      await page.setViewportSize({ width, height: 900 });
      await page.goto("file://" + path.join(demo, file), { waitUntil: "load" });
      const r = await page.evaluate(inPage, expect);
      const shot = path.join(out, `${file.replace(".html", "")}-${width}.png`);
      await page.screenshot({ path: shot, fullPage: true });
      const head = `${file} @ ${width}px: ${r.images} images, height ${r.height}px, lowest contrast ${r.worst}:1`;
      if (r.problems.length) {
        failed++;
        console.error(`FAIL ${head}\n  - ${r.problems.join("\n  - ")}`);
      } else {
        console.error(`ok   ${head}`);
      }
      if (width === 600) console.error(`     colour pairs: ${r.pairs.map(([k, v]) => `${k} ${v}:1`).join("; ")}`);
      await page.close();
    }
  }
  await ctx.close();
  process.exit(failed ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(2); });
JS
NODE_PATH="$CONF_HOME/npm/node_modules" timeout 240 node "$script" "$chromium_bin" "$profile" "$demo" "$CONF_OUT" ||
    conf_fail "an email does not survive the browser (details above; screenshots in $CONF_OUT)"
conf_log "screenshots: $(cd "$CONF_OUT" && ls ./*.png | tr '\n' ' ')"
