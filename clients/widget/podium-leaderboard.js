/*
 * podium-leaderboard.js - <podium-leaderboard>, a live leaderboard for intranet pages.
 *
 *   <script src="https://podium.example.com/widget/podium-leaderboard.js" defer></script>
 *   <podium-leaderboard challenge="weekly" token="pdm_..."></podium-leaderboard>
 *
 * Attributes: challenge (required), period (default "current"), limit (1-100,
 * default 10), token (a reader token), src (podiumd's base URL; default: the
 * URL this script was loaded from, less widget/podium-leaderboard.js), theme ("light", "dark" or "auto", the
 * default, which follows prefers-color-scheme).
 *
 * Design. No dependencies and no build step: podiumd embeds this file at
 * build time and serves it at /widget/podium-leaderboard.js. Everything is
 * drawn in a shadow root with DOM calls and textContent; data from the
 * server never goes through innerHTML. The only requests go to podiumd,
 * plus the avatar images that admins set (sent without a Referer).
 *
 * Data. Standings come from the SSE stream
 * (/v1/challenges/{id}/stream?token=&limit=&period=, event "standings": the
 * leaderboard JSON). When EventSource is missing or the stream fails for
 * good, the widget polls /v1/challenges/{id}/leaderboard every 15 s with
 * If-None-Match. The streak mark and the sparkline come from
 * /v1/leaders/{id} (challenges[].streak, challenges[].history), fetched for
 * the leaders on show only, a few at a time, and cached for 10 minutes or
 * until a period closes (event "period_closed").
 *
 * The sparkline draws RANKS, not scores: a rank compares across weeks of
 * busy and quiet activity, a raw score does not. Rank 1 is at the top;
 * a period the leader missed leaves a gap.
 *
 * Accessibility: a <table> whose <caption> (the challenge's name) is its
 * accessible name; the leader's name is the row header; movement arrows and
 * streak marks carry visually hidden text; the sparkline is role="img" with
 * the ranks in its label. A polite live region announces a new leader only,
 * at most once every 30 s, so that screen readers are not flooded. With
 * prefers-reduced-motion the row highlight and transitions are off.
 *
 * Theming: CSS custom properties on the element (--podium-bg, --podium-fg,
 * --podium-muted, --podium-accent, --podium-border, --podium-up,
 * --podium-down, --podium-font, --podium-radius) and ::part(card).
 */
(() => {
  'use strict';

  const TAG = 'podium-leaderboard';
  if (typeof customElements === 'undefined' || customElements.get(TAG)) return;

  const SCRIPT = document.currentScript;
  /* Where podiumd is: the script's URL less "widget/podium-leaderboard.js"
   * (this keeps a path prefix of a reverse proxy), else the page's origin. */
  const DEFAULT_SRC = SCRIPT && SCRIPT.src ? new URL('..', new URL(SCRIPT.src, location.href)).href
                                           : location.origin;
  const POLL_MS = 15000;
  const HISTORY_TTL_MS = 10 * 60 * 1000;
  const HISTORY_PARALLEL = 3;
  const ANNOUNCE_GAP_MS = 30000;
  const STREAK_MIN = 2; /* days: one active day is not a streak */
  const SVG = 'http://www.w3.org/2000/svg';

  const CSS = `
:host {
  --_bg: #ffffff; --_fg: #1b1f24; --_muted: #5b6573; --_border: #e3e7ec; --_accent: #3451d1;
  --_up: #137a3a; --_down: #b42318; --_row: #f6f8fa; --_flash: #fff4c2;
  --_gold: #f5c443; --_silver: #c3cad3; --_bronze: #d9925b; --_streak: #b93f06; --_streak-bg: #ffedd5;
  display: block; container-type: inline-size;
  font-family: var(--podium-font, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif);
  color: var(--podium-fg, var(--_fg));
}
:host([hidden]) { display: none; }
:host([theme="dark"]) {
  --_bg: #161b22; --_fg: #e6edf3; --_muted: #9aa5b1; --_border: #30363d; --_accent: #7ea2ff;
  --_up: #4ac26b; --_down: #ff7b72; --_row: #1f2630; --_flash: #4d3d00;
  --_streak: #ffb37a; --_streak-bg: #3d2210;
}
@media (prefers-color-scheme: dark) {
  :host(:not([theme="light"])) {
    --_bg: #161b22; --_fg: #e6edf3; --_muted: #9aa5b1; --_border: #30363d; --_accent: #7ea2ff;
    --_up: #4ac26b; --_down: #ff7b72; --_row: #1f2630; --_flash: #4d3d00;
  --_streak: #ffb37a; --_streak-bg: #3d2210;
  }
}
.card {
  background: var(--podium-bg, var(--_bg)); border: 1px solid var(--podium-border, var(--_border));
  border-radius: var(--podium-radius, 12px); padding: 14px 16px 10px; box-sizing: border-box;
  height: 100%; overflow: auto;
}
table { width: 100%; border-collapse: collapse; font-size: 14px; font-variant-numeric: tabular-nums; }
caption { text-align: left; padding: 0 0 10px; }
.title { display: block; font-size: 17px; font-weight: 650; letter-spacing: -0.01em; }
.sub { display: flex; gap: 10px; align-items: center; color: var(--podium-muted, var(--_muted));
  font-size: 12.5px; margin-top: 3px; }
.status::before { content: ""; display: inline-block; width: 7px; height: 7px; border-radius: 50%;
  background: var(--podium-muted, var(--_muted)); margin-right: 5px; vertical-align: 1px; }
.status.live::before { background: var(--podium-up, var(--_up)); }
thead th { font-size: 11.5px; font-weight: 600; text-transform: uppercase; letter-spacing: .04em;
  color: var(--podium-muted, var(--_muted)); text-align: left; padding: 6px 8px;
  border-bottom: 1px solid var(--podium-border, var(--_border)); }
td, tbody th { padding: 7px 8px; border-bottom: 1px solid var(--podium-border, var(--_border));
  text-align: left; font-weight: normal; vertical-align: middle; }
tbody tr:last-child > * { border-bottom: 0; }
tbody tr { transition: background-color .6s ease; }
tbody tr:hover { background: var(--_row); }
tbody tr.flash { background: var(--_flash); transition: none; }
.num { text-align: right; }
.rank { width: 2.2em; }
.medal { display: inline-grid; place-items: center; min-width: 24px; height: 24px; border-radius: 50%;
  font-weight: 700; font-size: 12.5px; }
.r1 { background: var(--_gold); color: #3d2e00; }
.r2 { background: var(--_silver); color: #22272e; }
.r3 { background: var(--_bronze); color: #3a1d05; }
.who { display: flex; align-items: center; gap: 10px; min-width: 0; }
.avatar { flex: none; width: 32px; height: 32px; border-radius: 50%; object-fit: cover;
  display: grid; place-items: center; font-size: 12.5px; font-weight: 650; color: #fff;
  background: var(--podium-accent, var(--_accent)); }
.names { min-width: 0; }
.name { font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; display: block; }
.team { color: var(--podium-muted, var(--_muted)); font-size: 12px; display: block;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.streak { display: inline-flex; align-items: center; gap: 2px; margin-left: 6px; padding: 1px 6px 1px 4px;
  border-radius: 999px; font-size: 11.5px; font-weight: 650; vertical-align: 1px; white-space: nowrap;
  color: var(--_streak); background: var(--_streak-bg); }
.streak svg { width: 11px; height: 11px; fill: currentColor; }
.streak[hidden] { display: none; }
.score { font-weight: 650; font-size: 15px; }
.move { white-space: nowrap; font-size: 12.5px; width: 3.5em; }
.up { color: var(--podium-up, var(--_up)); }
.down { color: var(--podium-down, var(--_down)); }
.same, .new { color: var(--podium-muted, var(--_muted)); }
.spark { width: 84px; }
.spark svg { display: block; overflow: visible; }
.spark polyline { fill: none; stroke: var(--podium-accent, var(--_accent)); stroke-width: 1.75;
  stroke-linejoin: round; stroke-linecap: round; }
.spark circle { fill: var(--podium-accent, var(--_accent)); }
.empty, .error { color: var(--podium-muted, var(--_muted)); padding: 14px 8px; margin: 0; }
.error { color: var(--podium-down, var(--_down)); }
.sr { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
@container (max-width: 420px) { .spark { display: none; } }
@container (max-width: 300px) { .move, .team { display: none; } }
@media (prefers-reduced-motion: reduce) {
  tbody tr, tbody tr.flash { transition: none; }
  tbody tr.flash { background: transparent; outline: 2px solid var(--_flash); outline-offset: -2px; }
}
`;

  /* Creates an element with a class and optional text (set as text, never HTML). */
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  /* Up to two initials of a display name. */
  function initials(name) {
    const words = String(name || '?').trim().split(/\s+/).filter(Boolean);
    const first = (w) => Array.from(w)[0] || '';
    const s = words.length > 1 ? first(words[0]) + first(words[words.length - 1]) : first(words[0] || '?');
    return s.toUpperCase();
  }

  /* A stable hue for a leader id, for the initials' background. */
  function hue(id) {
    let h = 0;
    for (const c of String(id)) h = (h * 31 + c.codePointAt(0)) >>> 0;
    return h % 360;
  }

  /* True for an http(s) URL: the only avatars shown. */
  function httpUrl(s) {
    try {
      const u = new URL(s);
      return u.protocol === 'https:' || u.protocol === 'http:';
    } catch (e) {
      return false;
    }
  }

  class PodiumLeaderboard extends HTMLElement {
    static get observedAttributes() {
      return ['challenge', 'period', 'limit', 'token', 'src', 'theme'];
    }

    /* Builds the fixed parts of the shadow tree. */
    constructor() {
      super();
      const root = this.attachShadow({ mode: 'open' });
      const style = el('style');
      style.textContent = CSS;
      this._card = el('section', 'card');
      this._card.setAttribute('part', 'card');
      this._table = el('table');
      const caption = el('caption');
      this._title = el('span', 'title', 'Leaderboard');
      this._title.id = 'title';
      this._table.setAttribute('aria-labelledby', 'title'); /* the name alone, not the status */
      const sub = el('span', 'sub');
      this._period = el('span', 'period');
      this._period.id = 'period';
      this._table.setAttribute('aria-describedby', 'period');
      this._status = el('span', 'status', 'Connecting…');
      sub.append(this._period, this._status);
      caption.append(this._title, sub);
      const thead = el('thead');
      const hr = el('tr');
      for (const [text, cls] of [['Rank', 'rank'], ['Leader', ''], ['Change', 'move'],
                                 ['Trend', 'spark'], ['Score', 'num']]) {
        const th = el('th', cls, text);
        th.scope = 'col';
        hr.append(th);
      }
      thead.append(hr);
      this._body = el('tbody');
      this._table.append(caption, thead, this._body);
      this._note = el('p', 'empty');
      this._note.hidden = true;
      this._live = el('div', 'sr');
      this._live.setAttribute('aria-live', 'polite');
      this._live.setAttribute('aria-atomic', 'true');
      this._card.append(this._table, this._note, this._live);
      root.append(style, this._card);
      this._rows = new Map(); /* leader id -> row state */
      this._history = new Map(); /* leader id -> {at, streak, ranks} or a pending Promise */
      this._queue = [];
      this._inflight = 0;
      this._gen = 0; /* bumped by every restart: answers of an older feed are dropped */
      this._histGen = 0; /* bumped when the cache is emptied: older leader answers are dropped */
    }

    connectedCallback() {
      this._restart();
    }

    disconnectedCallback() {
      this._stop();
    }

    /* Any attribute change restarts the feed once, after the current task. */
    attributeChangedCallback() {
      if (!this.isConnected || this._pending) return;
      this._pending = true;
      queueMicrotask(() => {
        this._pending = false;
        if (this.isConnected) this._restart();
      });
    }

    get _base() {
      return (this.getAttribute('src') || DEFAULT_SRC).replace(/\/+$/, '');
    }

    get _token() {
      return this.getAttribute('token') || '';
    }

    get _limit() {
      const n = parseInt(this.getAttribute('limit') || '10', 10);
      return Number.isFinite(n) ? Math.min(100, Math.max(1, n)) : 10;
    }

    /* Query string of the board and stream requests (the token is added by the caller). */
    _query() {
      const q = new URLSearchParams({ limit: String(this._limit) });
      const period = this.getAttribute('period');
      if (period) q.set('period', period);
      return q;
    }

    /* Closes the stream and the poll timer; responses of an old feed are ignored via _gen. */
    _stop() {
      this._gen++;
      if (this._es) this._es.close();
      this._es = null;
      clearTimeout(this._timer);
      this._timer = null;
    }

    /* Starts (again) from the attributes: challenge name, then SSE or polling. */
    _restart() {
      this._stop();
      this._rows.clear();
      this._body.replaceChildren();
      this._forgetHistory(); /* it was another challenge's, perhaps */
      this._etag = null;
      this._lastLeader = undefined;
      const ch = this.getAttribute('challenge');
      if (!ch) {
        this._showError('No challenge: set the challenge attribute.');
        return;
      }
      this._title.textContent = ch;
      this._loadName(ch, this._gen);
      if (typeof EventSource === 'function') this._openStream(ch, this._gen);
      else this._poll(this._gen);
    }

    /* fetch() to podiumd with the token as a bearer header. */
    _fetch(path, headers) {
      const h = Object.assign({ Accept: 'application/json' }, headers || {});
      if (this._token) h.Authorization = 'Bearer ' + this._token;
      return fetch(this._base + path, { headers: h, cache: 'no-store', credentials: 'omit',
                                        referrerPolicy: 'no-referrer' });
    }

    /* Shows the challenge's display name from GET /v1/challenges. */
    async _loadName(ch, gen) {
      try {
        const res = await this._fetch('/v1/challenges');
        if (!res.ok || gen !== this._gen) return;
        const list = (await res.json()).challenges || [];
        const found = list.find((c) => c.id === ch);
        if (found && found.name && gen === this._gen) this._title.textContent = found.name;
      } catch (e) {
        /* the board itself reports what is wrong */
      }
    }

    /* Live standings through Server-Sent Events; polling if that fails for good. */
    _openStream(ch, gen) {
      const q = this._query();
      if (this._token) q.set('token', this._token);
      let es;
      try {
        es = new EventSource(this._base + '/v1/challenges/' + encodeURIComponent(ch) + '/stream?' + q);
      } catch (e) {
        this._poll(gen);
        return;
      }
      this._es = es;
      let failures = 0;
      es.addEventListener('open', () => {
        failures = 0;
        this._setStatus(true);
      });
      es.addEventListener('standings', (ev) => {
        if (gen !== this._gen) return;
        try {
          this._render(JSON.parse(ev.data));
        } catch (e) {
          /* a malformed event is skipped; the next one replaces it */
        }
      });
      es.addEventListener('period_closed', () => {
        if (gen !== this._gen) return;
        this._forgetHistory(); /* the sparklines gain a point */
        for (const id of this._rows.keys()) this._wantHistory(id);
      });
      es.addEventListener('error', () => {
        if (gen !== this._gen) return;
        this._setStatus(false);
        failures++;
        /* CLOSED: refused (no stream at all); else it retries by itself, up to a point. */
        if (es.readyState === EventSource.CLOSED || failures >= 3) {
          es.close();
          this._es = null;
          this._poll(gen);
        }
      });
    }

    /* One poll of the board with If-None-Match, then the next in 15 s. */
    async _poll(gen) {
      if (gen !== this._gen) return;
      const ch = this.getAttribute('challenge');
      try {
        const res = await this._fetch('/v1/challenges/' + encodeURIComponent(ch) + '/leaderboard?' +
                                      this._query(), this._etag ? { 'If-None-Match': this._etag } : {});
        if (gen !== this._gen) return;
        if (res.status === 200) {
          this._etag = res.headers.get('ETag');
          this._render(await res.json());
          this._setStatus(false, new Date());
        } else if (res.status !== 304) {
          let detail = 'The leaderboard could not be read (HTTP ' + res.status + ').';
          try {
            const p = await res.json();
            if (p && typeof p.detail === 'string') detail = p.detail;
          } catch (e) { /* not a problem document */ }
          this._showError(detail);
        }
      } catch (e) {
        if (gen === this._gen) this._setStatus(false);
      }
      if (gen === this._gen) this._timer = setTimeout(() => this._poll(gen), POLL_MS);
    }

    /* "Live", or when the board was last read. */
    _setStatus(live, when) {
      this._status.classList.toggle('live', live);
      if (live) this._status.textContent = 'Live';
      else if (when) this._status.textContent = 'Updated ' + when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      else this._status.textContent = 'Reconnecting…';
    }

    _showError(text) {
      this._note.className = 'error';
      this._note.textContent = text;
      this._note.hidden = false;
      this._status.textContent = '';
    }

    /* Draws a leaderboard page (the JSON of GET .../leaderboard), keeping rows by leader. */
    _render(page) {
      const entries = Array.isArray(page.entries) ? page.entries : [];
      this._period.textContent = this._periodText(page);
      this._note.className = 'empty';
      this._note.textContent = 'No scores yet in this period.';
      this._note.hidden = entries.length > 0;
      const seen = new Set();
      const rows = [];
      for (const e of entries) {
        if (!e || typeof e.leader !== 'string') continue;
        seen.add(e.leader);
        let row = this._rows.get(e.leader);
        if (!row) {
          row = this._makeRow(e.leader);
          this._rows.set(e.leader, row);
        }
        this._fillRow(row, e);
        rows.push(row.tr);
      }
      for (const [id, row] of this._rows) {
        if (!seen.has(id)) {
          row.tr.remove();
          this._rows.delete(id);
        }
      }
      this._body.append(...rows); /* moves existing rows into the new order */
      this._announce(entries[0]);
      for (const e of entries) if (e && typeof e.leader === 'string') this._wantHistory(e.leader);
    }

    /* "2026-W48 · ends Sun 29 Nov", from the page's period and bounds. */
    _periodText(page) {
      if (!page.period || page.period === 'all') return 'All time';
      let s = String(page.period);
      if (page.ends) {
        const end = new Date(page.ends);
        if (!isNaN(end)) {
          const soon = end - Date.now() < 86400000;
          s += ' · ends ' + end.toLocaleString([], soon ? { hour: '2-digit', minute: '2-digit', second: '2-digit' }
                                                          : { weekday: 'short', day: 'numeric', month: 'short' });
        }
      }
      return s;
    }

    /* The cells of one leader's row, created once. */
    _makeRow(id) {
      const tr = el('tr');
      tr.dataset.leader = id;
      const rank = el('td', 'rank');
      const medal = el('span', 'medal');
      rank.append(medal);
      const whoCell = el('th');
      whoCell.scope = 'row';
      const who = el('div', 'who');
      const avatar = el('span', 'avatar');
      avatar.setAttribute('aria-hidden', 'true');
      const names = el('span', 'names');
      const name = el('span', 'name');
      const nameText = el('span');
      const streak = el('span', 'streak');
      streak.hidden = true;
      name.append(nameText, streak);
      const team = el('span', 'team');
      names.append(name, team);
      who.append(avatar, names);
      whoCell.append(who);
      const move = el('td', 'move');
      const spark = el('td', 'spark');
      const score = el('td', 'num score');
      tr.append(rank, whoCell, move, spark, score);
      return { id, tr, medal, avatar, avatarUrl: null, nameText, streak, team, move, spark, score,
               last: null, sparkKey: null };
    }

    /* Updates a row from a board entry; flashes it when the score changed. */
    _fillRow(row, e) {
      const rank = Number(e.rank);
      row.medal.textContent = String(rank);
      row.medal.className = 'medal' + (rank >= 1 && rank <= 3 ? ' r' + rank : '');
      const name = typeof e.name === 'string' && e.name ? e.name : e.leader;
      row.nameText.textContent = name;
      row.team.textContent = typeof e.team === 'string' ? e.team : '';
      row.team.hidden = !row.team.textContent;
      this._setAvatar(row, name, typeof e.avatar === 'string' && httpUrl(e.avatar) ? e.avatar : null);
      this._setMovement(row.move, e.movement);
      row.score.textContent = Number(e.score).toLocaleString();
      if (row.last !== null && row.last !== e.score) {
        row.tr.classList.remove('flash');
        void row.tr.offsetWidth; /* restart the transition */
        row.tr.classList.add('flash');
        clearTimeout(row.flashTimer);
        row.flashTimer = setTimeout(() => row.tr.classList.remove('flash'), 900);
      }
      row.last = e.score;
      this._drawHistory(row);
    }

    /* An <img> for an avatar URL (no Referer sent), else the initials. */
    _setAvatar(row, name, url) {
      if (row.avatarUrl === url && row.avatarName === name) return;
      row.avatarUrl = url;
      row.avatarName = name;
      let node;
      if (url) {
        node = el('img', 'avatar');
        node.alt = '';
        node.width = 32;
        node.height = 32;
        node.decoding = 'async';
        node.referrerPolicy = 'no-referrer';
        node.addEventListener('error', () => {
          const fallback = this._initials(row.id, name);
          if (node.isConnected) node.replaceWith(fallback);
          row.avatar = fallback;
        }, { once: true });
        node.src = url;
      } else {
        node = this._initials(row.id, name);
      }
      row.avatar.replaceWith(node);
      row.avatar = node;
    }

    _initials(id, name) {
      const s = el('span', 'avatar', initials(name));
      s.setAttribute('aria-hidden', 'true');
      s.style.background = 'hsl(' + hue(id) + ' 55% 42%)';
      return s;
    }

    /* ▲ n / ▼ n / – with words for screen readers (movement = places gained). */
    _setMovement(cell, m) {
      cell.replaceChildren();
      let arrow, cls, words;
      if (m === null || m === undefined) {
        arrow = 'new'; cls = 'new'; words = 'new this period';
      } else if (m > 0) {
        arrow = '▲' + m; cls = 'up'; words = 'up ' + m + (m === 1 ? ' place' : ' places');
      } else if (m < 0) {
        arrow = '▼' + -m; cls = 'down'; words = 'down ' + -m + (m === -1 ? ' place' : ' places');
      } else {
        arrow = '–'; cls = 'same'; words = 'no change';
      }
      const shown = el('span', cls, arrow);
      shown.setAttribute('aria-hidden', 'true');
      cell.append(shown, el('span', 'sr', words));
      cell.title = words;
    }

    /* Announces a new leader, not every change, and not more than twice a minute. */
    _announce(top) {
      const id = top ? top.leader : null;
      if (this._lastLeader === undefined) { /* the first board is not news */
        this._lastLeader = id;
        return;
      }
      if (!top || id === this._lastLeader) return;
      this._lastLeader = id;
      const now = Date.now();
      if (this._lastAnnounce && now - this._lastAnnounce < ANNOUNCE_GAP_MS) return;
      this._lastAnnounce = now;
      this._live.textContent = (top.name || top.leader) + ' now leads with ' +
                               Number(top.score).toLocaleString() + ' points.';
    }

    /* Empties the streak and history cache; answers in flight are dropped. */
    _forgetHistory() {
      this._history.clear();
      this._queue = [];
      this._histGen++;
    }

    /* Queues a fetch of a leader's streak and history unless cached and fresh. */
    _wantHistory(id) {
      const h = this._history.get(id);
      if (h && (h.pending || Date.now() - h.at < HISTORY_TTL_MS)) return;
      this._history.set(id, { pending: true, at: 0 });
      this._queue.push(id);
      this._pump();
    }

    /* Runs queued leader fetches, HISTORY_PARALLEL at a time. */
    _pump() {
      while (this._inflight < HISTORY_PARALLEL && this._queue.length) {
        const id = this._queue.shift();
        const ch = this.getAttribute('challenge');
        const hg = this._histGen;
        this._inflight++;
        this._fetch('/v1/leaders/' + encodeURIComponent(id))
          .then((res) => (res.ok ? res.json() : null))
          .then((doc) => {
            if (hg !== this._histGen) return;
            const c = doc && Array.isArray(doc.challenges) ? doc.challenges.find((x) => x.challenge === ch) : null;
            const hist = c && Array.isArray(c.history) ? c.history.slice().reverse() : [];
            this._history.set(id, { at: Date.now(), streak: c ? Number(c.streak) || 0 : 0,
                                    ranks: hist.map((p) => (p && Number.isFinite(p.rank) ? p.rank : null)),
                                    periods: hist.map((p) => (p ? String(p.period) : '')) });
          })
          .catch(() => {
            /* tried again in a minute */
            if (hg === this._histGen) this._history.set(id, { at: Date.now() - HISTORY_TTL_MS + 60000, streak: 0, ranks: [] });
          })
          .finally(() => {
            this._inflight--;
            const row = this._rows.get(id);
            if (row) this._drawHistory(row);
            this._pump();
          });
      }
    }

    /* The streak mark and sparkline of a row, from the cache. */
    _drawHistory(row) {
      const h = this._history.get(row.id);
      if (!h || h.pending) return;
      const streak = h.streak >= STREAK_MIN ? h.streak : 0;
      row.streak.hidden = !streak;
      if (streak) {
        row.streak.replaceChildren();
        const mark = el('span', null, String(streak));
        mark.setAttribute('aria-hidden', 'true');
        row.streak.append(flame(), mark, el('span', 'sr', ', ' + streak + '-day streak'));
        row.streak.title = streak + '-day streak';
      }
      const key = h.ranks.join(',');
      if (key === row.sparkKey) return;
      row.sparkKey = key;
      row.spark.replaceChildren();
      if (h.ranks.some((r) => r !== null)) row.spark.append(sparkline(h.ranks));
    }
  }

  /* A small flame icon, drawn here so that no emoji font is needed. */
  function flame() {
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', '0 0 16 16');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', 'M8.6 0.5c.5 2.6-1 4-2.2 5.4C5.2 7.2 4 8.6 4 10.6 4 13.3 5.9 15.5 8 15.5s4-1.9 4-4.6' +
                           'c0-1.6-.7-2.8-1.5-3.7.1 1.3-.4 2.2-1.2 2.6.3-2.7-.3-5.6-.7-9.3z');
    svg.append(path);
    return svg;
  }

  /* An inline SVG of ranks (oldest first, null = absent), rank 1 at the top. */
  function sparkline(ranks) {
    const W = 80, H = 24, PAD = 3;
    const known = ranks.filter((r) => r !== null);
    const worst = Math.max(2, ...known);
    const x = (i) => (ranks.length === 1 ? W / 2 : PAD + (i * (W - 2 * PAD)) / (ranks.length - 1));
    const y = (r) => PAD + ((r - 1) * (H - 2 * PAD)) / (worst - 1);
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('width', String(W));
    svg.setAttribute('height', String(H));
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.setAttribute('role', 'img');
    const label = 'Rank in the last ' + ranks.length + (ranks.length === 1 ? ' period' : ' periods') +
                  ', oldest first: ' + ranks.map((r) => (r === null ? 'absent' : String(r))).join(', ');
    svg.setAttribute('aria-label', label);
    const title = document.createElementNS(SVG, 'title');
    title.textContent = label;
    svg.append(title);
    let run = [];
    const flush = () => {
      if (run.length > 1) {
        const line = document.createElementNS(SVG, 'polyline');
        line.setAttribute('points', run.join(' '));
        svg.append(line);
      }
      run = [];
    };
    ranks.forEach((r, i) => {
      if (r === null) {
        flush();
        return;
      }
      run.push(x(i).toFixed(1) + ',' + y(r).toFixed(1));
    });
    flush();
    for (let i = ranks.length - 1; i >= 0; i--) {
      if (ranks[i] === null) continue;
      const dot = document.createElementNS(SVG, 'circle');
      dot.setAttribute('cx', x(i).toFixed(1));
      dot.setAttribute('cy', y(ranks[i]).toFixed(1));
      dot.setAttribute('r', '2.5');
      svg.append(dot);
      break;
    }
    return svg;
  }

  customElements.define(TAG, PodiumLeaderboard);
})();
