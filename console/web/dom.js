// h builds an element. Text is always set as text, never parsed as HTML: a status value or a
// compiler message cannot turn into markup (and the Content-Security-Policy forbids inline script
// besides).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// table builds a table of rows (arrays of cells) under a header row, in a scrolling box so a
// phone scrolls the table rather than the page.
export function table(head, rows, attrs) {
  return h('div', { class: 'scroll' },
    h('table', attrs, h('thead', null, h('tr', null, head.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, rows.map((r) => h('tr', null, r.map((c) => h('td', null, c)))))));
}

// state shows a state as a word with a symbol, so it reads without colour.
export function state(text, good) {
  return h('span', { class: good ? 'state-good' : 'state-bad' }, (good ? '✓ ' : '✗ ') + text);
}

export function when(seconds) {
  if (!seconds) return '';
  const d = typeof seconds === 'number' ? new Date(seconds * 1000) : new Date(seconds);
  return isNaN(d) ? String(seconds) : d.toLocaleString();
}

// plural counts n things: "1 module", "2 modules".
export function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function short(commit) {
  return commit ? String(commit).slice(0, 7) : '';
}

// poll runs fn now and then every ms after each run ends, until the function it answers is
// called (a page leaving). A failing run is shown by the API layer and retried at the next tick.
export function poll(fn, ms) {
  let stopped = false;
  let timer;
  const tick = async () => {
    try {
      await fn();
    } catch {
      // shown in the notice by api.js
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// details is a collapsible block of preformatted text (compiler output).
export function details(summary, text, open) {
  return h('details', { open }, h('summary', null, summary), h('pre', null, text));
}
