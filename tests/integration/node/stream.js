// A real EventSource client (the npm package `eventsource`) on a podiumd
// stream, driven by test_stream_node.py: it prints one JSON line per event
// received ({"event", "id", "data"}), and {"open": true} when connected.
// It exits after a period_closed event, or with status 1 after 20 s.
//
//   node stream.js URL
'use strict';
const { EventSource } = require('eventsource');

const es = new EventSource(process.argv[2]);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
es.onopen = () => out({ open: true });
es.onerror = (e) => out({ error: String(e && e.message) });
for (const name of ['standings', 'period_closed']) {
  es.addEventListener(name, (ev) => {
    out({ event: name, id: ev.lastEventId, data: JSON.parse(ev.data) });
    if (name === 'period_closed') {
      es.close();
      process.exit(0);
    }
  });
}
setTimeout(() => {
  out({ error: 'timeout' });
  process.exit(1);
}, 20000);
