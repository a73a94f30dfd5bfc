// The console's stylesheet and script, served by the service itself (a closed network must not
// break the page). Kept here as text, not as files beside it, so that the compiled service in
// dist/ (all the image holds) carries them; no build step. The script uses no template literals.

/** A favicon of its own, so the browser does not ask for /favicon.ico (a 404 outside the console). */
export const ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#14324f"/><circle cx="8" cy="8" r="3.5" fill="#f0a000"/></svg>'

export const CSS = String.raw`
:root { color-scheme: light; --ink: #1d2733; --muted: #5b6773; --line: #d5dbe1; --accent: #0b5cad; --bg: #f6f8fa; --flash: #fff2a8; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink); background: var(--bg); }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible { outline: 3px solid #f0a000; outline-offset: 2px; }
.skip { position: absolute; left: -999px; } .skip:focus { left: 8px; top: 8px; background: #fff; padding: 4px 8px; }
header { display: flex; align-items: center; gap: 12px; padding: 10px 20px; background: #14324f; color: #fff; }
header a { color: #fff; font-weight: 600; text-decoration: none; }
header form { margin-left: auto; }
.badge { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #f0a000; color: #14324f; font-weight: 700; text-transform: uppercase; }
main { max-width: 1040px; margin: 0 auto; padding: 16px 20px 40px; }
h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 17px; margin: 0 0 8px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 14px 16px; margin: 14px 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 14px; }
.grid section { margin: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 13px; color: var(--muted); font-weight: 600; }
td.value { font-family: ui-monospace, "DejaVu Sans Mono", monospace; word-break: break-all; }
td.by { font-size: 13px; color: var(--muted); white-space: nowrap; }
tr.changed td, tr.changed th { background: var(--flash); transition: background 0s; }
tr td, tr th { transition: background 2s; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; }
pre { background: #0f1b27; color: #e6edf3; padding: 10px 12px; border-radius: 6px; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
.muted { color: var(--muted); }
form.write { display: flex; flex-wrap: wrap; gap: 8px 12px; align-items: flex-end; }
form.write label { display: flex; flex-direction: column; font-size: 13px; color: var(--muted); gap: 2px; }
form.write label.check { flex-direction: row; align-items: center; gap: 6px; padding-bottom: 7px; }
#live:empty { display: none; } #live { font-weight: 600; }
input, select, button { font: inherit; padding: 5px 8px; border: 1px solid #98a4b0; border-radius: 4px; background: #fff; color: var(--ink); }
button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
header button { background: transparent; border-color: #fff; }
.result { margin-top: 10px; padding: 8px 10px; border-radius: 4px; }
.result:empty { display: none; }
.result.ok { background: #e5f4e8; border: 1px solid #9bcfa5; }
.result.problem { background: #fdecea; border: 1px solid #e7a39c; }
.result ul { margin: 4px 0 0; padding-left: 20px; }
dl.ops { display: grid; grid-template-columns: auto 1fr; gap: 4px 14px; margin: 0 0 10px; }
dl.ops dt { color: var(--muted); } dl.ops dd { margin: 0; font-weight: 600; }
td.state { font-weight: 600; } td.state-written { color: #1f6f35; } td.state-failed { color: #a3261b; } td.state-retrying { color: #8a5a00; }
`

export const SCRIPT = String.raw`
'use strict';
(function () {
  var main = document.getElementById('main');
  if (document.getElementById('ops-errors')) opsView();
  if (document.getElementById('async-recent')) asyncIndex();
  var conversation = main && main.getAttribute('data-conversation');
  if (!conversation) return;
  var authOn = main.getAttribute('data-auth') === 'on';
  var base = '/console/conversations/' + encodeURIComponent(conversation);
  var live = document.getElementById('live');
  var previous = null;
  var flashUntil = Object.create(null);

  function el (tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  // Maps keyed by attribute names (toString, valueOf, hasOwnProperty…): only their own members count.
  function own (o, k) { return o && Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined; }
  function quote (s) { return "'" + s.split("'").join("'\\''") + "'"; }
  function time (ms) { return new Date(ms).toISOString().slice(11, 19); }

  function render (state) {
    var now = Date.now();
    var said = [];
    state.participants.forEach(function (p) {
      var body = document.querySelector('tbody[data-participant="' + p.id + '"]');
      if (!body) { location.reload(); return; }
      var before = own(previous, p.id) || null;
      var writers = own(state.writers, p.id) || {};
      var keys = Object.keys(p.attributes).sort();
      body.textContent = '';
      if (keys.length === 0) {
        var empty = el('tr'); empty.appendChild(el('td', { colspan: '3', 'class': 'muted' }, 'No attributes yet.')); body.appendChild(empty);
      }
      keys.forEach(function (k) {
        var id = p.id + '\u0000' + k;
        var value = own(p.attributes, k);
        if (before && own(before, k) !== value) {
          flashUntil[id] = now + 4000;
          var w = own(writers, k);
          said.push(p.purpose + ' ' + k + ' changed' + (w && now - w.at < 10000 ? ' by ' + w.caller : asyncWrote(state, p.id, k, now) ? ' by your asynchronous update' : ' outside this service'));
        }
        var row = el('tr', { 'data-key': k });
        if (flashUntil[id] > now) row.className = 'changed';
        row.appendChild(el('th', { scope: 'row' }, k));
        // null: a value this key may not read; its name shows, not what it holds.
        row.appendChild(value === null ? el('td', { 'class': 'value muted' }, 'hidden: this key may not read') : el('td', { 'class': 'value' }, value));
        var w2 = own(writers, k);
        var a = lastAsync(state, p.id, k);
        var by = w2 && (!a || w2.at >= a) ? w2.caller + ', ' + time(w2.at) : a ? 'your asynchronous update, ' + time(a) : '\u2014';
        row.appendChild(el('td', { 'class': 'by' }, by));
        body.appendChild(row);
      });
    });
    previous = Object.create(null);
    state.participants.forEach(function (p) { previous[p.id] = p.attributes; });
    if (said.length) live.textContent = said.join('; ');
    dataActionLinks(state);
    if (state.updates) updateRows('async-conversation', state.updates);
  }

  var NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
  function dataActionLinks (state) {
    var names = Object.create(null);
    state.participants.forEach(function (p) {
      Object.keys(p.attributes).forEach(function (k) { if (NAME.test(k) && k !== 'conversationId' && k !== 'participantId') names[k] = true; });
    });
    var list = Object.keys(names).sort().slice(0, 50);
    var links = document.getElementById('data-action-links');
    var none = document.getElementById('data-action-none');
    links.hidden = list.length === 0;
    none.hidden = list.length !== 0;
    document.getElementById('data-action-keys').textContent = list.join(', ');
    var q = '/console/data-action?attributes=' + encodeURIComponent(list.join(','));
    document.getElementById('data-action-json').href = q;
    document.getElementById('data-action-terraform').href = q + '&format=terraform';
  }

  // The index page's operations view: the registry's counters, and what changed since it opened.
  function opsView () {
    var first = null;
    function cell (row, text) { row.appendChild(el('td', {}, String(text))); }
    function update (ops) {
      if (!first) { first = {}; ops.errors.forEach(function (e) { first[e.code] = e.count; }); }
      document.getElementById('ops-updates').textContent = ops.queue.updates;
      document.getElementById('ops-conversations').textContent = ops.queue.conversations;
      document.getElementById('ops-waits').textContent = ops.budget.waits;
      document.getElementById('ops-refusals').textContent = ops.budget.refusals;
      var body = document.getElementById('ops-errors');
      body.textContent = '';
      if (ops.errors.length === 0) {
        var none = el('tr'); none.appendChild(el('td', { colspan: '3', 'class': 'muted' }, 'None since start.')); body.appendChild(none);
      }
      ops.errors.forEach(function (e) {
        var row = el('tr');
        var code = el('th', { scope: 'row' }); code.appendChild(el('code', {}, e.code)); row.appendChild(code);
        cell(row, e.count);
        cell(row, e.count - (first[e.code] || 0));
        body.appendChild(row);
      });
    }
    function tick () {
      if (document.hidden) return;
      fetch('/console/ops', { headers: { accept: 'application/json' }, cache: 'no-store' })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (ops) { if (ops) update(ops); })
        .catch(function () {});
    }
    setInterval(tick, 2000);
    tick();
  }

  // A 202's write is not noted beside the value (no request answers it). The value can land
  // before its update is recorded written: one still on its way counts too.
  function asyncWrote (state, participantId, key, now) {
    return (state.updates || []).some(function (u) {
      var mine = (u.participantId === participantId || !u.participantId) && u.keys.indexOf(key) >= 0;
      return mine && (u.state === 'queued' || u.state === 'retrying' || (u.state === 'written' && now - Date.parse(u.settledAt) < 10000));
    });
  }

  /** When the latest of this key's own written updates that carried the key landed (epoch ms). */
  function lastAsync (state, participantId, key) {
    var u = (state.updates || []).filter(function (u) { return u.state === 'written' && u.participantId === participantId && u.keys.indexOf(key) >= 0; })[0];
    return u ? Date.parse(u.settledAt) : 0;
  }

  // Asynchronous updates: the same cells as the server renders (see updates.ts); keys and codes, never values.
  function updateRows (id, items) {
    var body = document.getElementById(id);
    if (!body) return;
    var withConversation = body.getAttribute('data-cols') === 'conversation';
    var withRetry = body.getAttribute('data-retry') === '1';
    body.textContent = '';
    if (items.length === 0) {
      var none = el('tr'); none.appendChild(el('td', { colspan: String((withConversation ? 6 : 5) + (withRetry ? 1 : 0)), 'class': 'muted' }, 'None.')); body.appendChild(none);
    }
    items.forEach(function (u) {
      var row = el('tr', { 'data-update': u.id });
      function code (parent, text) { parent.appendChild(el('code', {}, text)); return parent; }
      row.appendChild(el('td', {}, u.acceptedAt.slice(11, 19)));
      if (withConversation) {
        var link = el('a', { href: '/console/conversations/' + u.conversationId });
        row.appendChild(el('td')).appendChild(code(link, u.conversationId.slice(0, 8)));
      }
      row.appendChild(u.participantId ? code(el('td'), u.participantId.slice(0, 8)) : el('td', {}, '\u2014'));
      row.appendChild(el('td', {}, u.keys.join(', ')));
      row.appendChild(el('td', { 'class': 'state state-' + u.state }, u.state === 'retrying' ? 'retrying (' + u.attempts + ' attempts)' : u.state));
      var failed = el('td');
      if (u.error) { code(failed, u.error.code); failed.appendChild(document.createTextNode(' ' + u.error.detail)); }
      row.appendChild(failed);
      if (withRetry) {
        var form = el('form', { method: 'post', action: '/console/updates/' + encodeURIComponent(u.id) + '/retry' });
        form.appendChild(el('button', { type: 'submit' }, 'Send again'));
        row.appendChild(el('td')).appendChild(form);
      }
      body.appendChild(row);
    });
  }
  function asyncIndex () {
    function tick () {
      if (document.hidden) return;
      fetch('/console/updates', { headers: { accept: 'application/json' }, cache: 'no-store' })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (u) { if (u) { updateRows('async-recent', u.recent); updateRows('async-failed', u.failed); } })
        .catch(function () {});
    }
    setInterval(tick, 2000);
  }

  var polling = false;
  function poll () {
    if (polling || document.hidden) return;
    polling = true;
    fetch(base + '/state', { headers: { accept: 'application/json' }, cache: 'no-store' })
      .then(function (r) { if (r.status === 401) location.reload(); return r.ok ? r.json() : null; })
      .then(function (s) { if (s) render(s); })
      .catch(function () {})
      .then(function () { polling = false; });
  }
  setInterval(poll, 1000);
  poll();

  var form = document.getElementById('write');
  // A key that may not write gets no form.
  if (!form) return;
  var result = document.getElementById('write-result');
  function field (name) { return form.elements.namedItem(name); }
  // With no name yet (the form cannot be sent), the curl shows the placeholders' write, so it is
  // always one the API accepts; an empty value with a name is a write of "".
  function body (forCurl) {
    var example = forCurl && !field('attr').value;
    var attributes = {};
    attributes[example ? field('attr').placeholder : field('attr').value] = field('clear').checked ? null : example ? field('val').placeholder : field('val').value;
    return JSON.stringify({ attributes: attributes });
  }
  function curl () {
    var url = location.origin + '/participants/' + conversation + '/' + field('participant').value + '/data';
    document.getElementById('curl').textContent = 'curl -s -X POST ' + quote(url) + ' \\\n  -H \'Content-Type: application/json\'' +
      (authOn ? " -H 'Authorization: Bearer YOUR_KEY'" : '') + ' \\\n  -d ' + quote(body(true));
  }
  form.addEventListener('input', curl);
  form.addEventListener('change', function () { field('val').disabled = field('clear').checked; curl(); });
  curl();
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    result.className = 'result';
    result.textContent = 'Sending\u2026';
    fetch(base + '/participants/' + encodeURIComponent(field('participant').value) + '/data', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: body()
    }).then(function (r) {
      return r.json().then(function (answer) { show(r.status, answer); });
    }).catch(function (err) { show(0, { title: 'The request failed', detail: String(err) }); });
  });
  function show (status, answer) {
    result.textContent = '';
    if (status === 200) {
      result.className = 'result ok';
      result.appendChild(el('strong', {}, status + ' OK'));
      result.appendChild(document.createTextNode(': set ' + answer.updated.join(', ') + ' on ' + answer.participantId));
      poll();
      return;
    }
    result.className = 'result problem';
    result.appendChild(el('strong', {}, status + ' ' + (answer.code || '')));
    result.appendChild(document.createTextNode(' ' + (answer.title || '') + ': '));
    result.appendChild(el('span', { 'class': 'detail' }, answer.detail || ''));
    if (answer.errors && answer.errors.length) {
      var ul = el('ul');
      answer.errors.forEach(function (e) { ul.appendChild(el('li', {}, e.in + ' ' + e.path + ': ' + e.message)); });
      result.appendChild(ul);
    }
    result.focus();
  }
})();
`
