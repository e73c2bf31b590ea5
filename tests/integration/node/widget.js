// Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core)
// on the web widget, for test_widget.py. The test sends one JSON command a
// line on stdin and reads one JSON answer a line on stdout:
//
//   {"cmd": "open", "url", "width", "height", "no_eventsource", "pages": {url: html}}
//       a new page (pages: HTML answered for other origins, e.g. a framing
//       intranet page); avatars under https://avatars.podium.test/ are
//       answered with a drawn SVG. Answers {"ok": true}.
//   {"cmd": "state"}       what the widget shows (see widgetState below)
//   {"cmd": "frame_state"} the same inside the page's first iframe, or
//                          {"blocked": true} when the frame was refused
//   {"cmd": "screenshot", "path"}
//   {"cmd": "requests"}    every request the page made: url, referer
//   {"cmd": "quit"}
//
//   node widget.js [CHROMIUM]
'use strict';
const readline = require('readline');
const { chromium } = require('playwright-core');

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

// Avatars: a head and shoulders, in colours per name.
function avatarSvg(name) {
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) % 360;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">` +
    `<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="hsl(${h} 70% 60%)"/>` +
    `<stop offset="1" stop-color="hsl(${(h + 40) % 360} 65% 40%)"/></linearGradient></defs>` +
    `<rect width="64" height="64" fill="url(#g)"/><circle cx="32" cy="25" r="11" fill="#fff" opacity=".85"/>` +
    `<path d="M12 60c3-13 12-19 20-19s17 6 20 19z" fill="#fff" opacity=".85"/></svg>`;
}

// Runs in the page (or frame): the widget's table as data, read through the shadow root.
function widgetState() {
  const host = document.querySelector('podium-leaderboard');
  if (!host || !host.shadowRoot) return { widget: false };
  const root = host.shadowRoot;
  const table = root.querySelector('table');
  const text = (e) => (e ? e.textContent.trim() : null);
  const rows = [...root.querySelectorAll('tbody tr')].map((tr) => {
    const cells = tr.children;
    const img = tr.querySelector('img.avatar');
    const spark = tr.querySelector('.spark svg');
    const moveShown = cells[2].querySelector('[aria-hidden="true"]');
    const moveSr = cells[2].querySelector('.sr');
    const streak = tr.querySelector('.streak');
    return {
      leader: tr.dataset.leader,
      rank: Number(text(cells[0])),
      name: text(tr.querySelector('.name > span')),
      team: text(tr.querySelector('.team')),
      score: Number(text(cells[4]).replace(/[^0-9-]/g, '')),
      header_scope: cells[1].tagName === 'TH' ? cells[1].getAttribute('scope') : null,
      move_shown: text(moveShown),
      move_sr: text(moveSr),
      streak: streak && !streak.hidden ? text(streak.querySelector('.sr')) : null,
      avatar: img ? { src: img.getAttribute('src'), alt: img.getAttribute('alt'), loaded: img.complete && img.naturalWidth > 0 }
                  : { initials: text(tr.querySelector('.avatar')) },
      spark: spark ? { role: spark.getAttribute('role'), label: spark.getAttribute('aria-label'),
                       lines: spark.querySelectorAll('polyline').length } : null,
    };
  });
  const live = root.querySelector('[aria-live]');
  return {
    widget: true,
    caption: text(root.querySelector('caption .title')),
    period: text(root.querySelector('caption .period')),
    status: text(root.querySelector('caption .status')),
    note: root.querySelector('.empty, .error') && !root.querySelector('.empty, .error').hidden
      ? text(root.querySelector('.empty, .error')) : null,
    table: !!table,
    col_headers: [...root.querySelectorAll('thead th')].map((th) => th.getAttribute('scope')),
    live_region: live ? { polite: live.getAttribute('aria-live'), text: text(live) } : null,
    rows,
  };
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.argv[2] || '/usr/bin/chromium',
    // The framing pages are answered by routes for *.podium.test, which
    // Chromium takes for public sites: without this, its Local Network
    // Access checks would refuse their frames of podiumd on 127.0.0.1
    // before frame-ancestors is even looked at.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
           '--disable-features=LocalNetworkAccessChecks'],
  });
  let context = null;
  let page = null;
  let requests = [];
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    let cmd;
    try {
      cmd = JSON.parse(line);
    } catch (e) {
      out({ error: 'bad command: ' + line });
      continue;
    }
    try {
      if (cmd.cmd === 'open') {
        if (context) await context.close();
        context = await browser.newContext({
          viewport: { width: cmd.width || 560, height: cmd.height || 420 },
          deviceScaleFactor: 2,
          reducedMotion: 'reduce',
        });
        requests = [];
        context.on('request', (r) => requests.push({ url: r.url(), referer: r.headers().referer || null }));
        await context.route('https://avatars.podium.test/**', (route) => {
          const name = decodeURIComponent(route.request().url().split('/').pop().replace(/\.svg$/, ''));
          route.fulfill({ status: 200, contentType: 'image/svg+xml', body: avatarSvg(name) });
        });
        for (const [url, html] of Object.entries(cmd.pages || {})) {
          await context.route(url, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: html }));
        }
        page = await context.newPage();
        if (cmd.no_eventsource) await page.addInitScript(() => { delete window.EventSource; });
        await page.goto(cmd.url, { waitUntil: 'load' });
        out({ ok: true });
      } else if (cmd.cmd === 'state') {
        const st = await page.evaluate(widgetState);
        // The accessible tree as a screen reader gets it (roles and names).
        const table = page.locator('podium-leaderboard').getByRole('table');
        st.aria = (await table.count()) ? await table.ariaSnapshot() : null;
        out(st);
      } else if (cmd.cmd === 'frame_state') {
        const frame = page.frames().find((f) => f !== page.mainFrame());
        let st = { blocked: true };
        if (frame && frame.url().startsWith('http')) {
          try {
            st = await frame.evaluate(widgetState);
          } catch (e) {
            st = { blocked: true, error: String(e.message || e) };
          }
        }
        out(st);
      } else if (cmd.cmd === 'screenshot') {
        await page.screenshot({ path: cmd.path, fullPage: false });
        out({ ok: true, path: cmd.path });
      } else if (cmd.cmd === 'requests') {
        out({ requests });
      } else if (cmd.cmd === 'quit') {
        break;
      } else {
        out({ error: 'unknown command ' + cmd.cmd });
      }
    } catch (e) {
      out({ error: String((e && e.stack) || e) });
    }
  }
  await browser.close();
  process.exit(0);
}

setTimeout(() => {
  out({ error: 'timeout: the test took more than 120 s' });
  process.exit(1);
}, 120000).unref();
main().catch((e) => {
  out({ error: String((e && e.stack) || e) });
  process.exit(1);
});
