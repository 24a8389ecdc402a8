import { get, call, enc, ALL } from './api.js';
import { h, table } from './dom.js';

const C = '/api/engine/v2';
const KINDS = ['repositories', 'drivers', 'modules', 'systems', 'zones'];

// #/model: the kinds, export and apply; #/model/<kind>: its entities; #/model/<kind>/<id>: one
// entity as JSON, editable by admins (the API validates; its refusal is shown under the editor).
// Protected settings arrive redacted above the caller's clearance, and writing "[redacted]" back
// keeps the stored value, so an edit never loses a secret it could not see.
export function modelPage(view, ctx, args) {
  const [kind, id] = args;
  if (kind && !KINDS.includes(kind)) {
    view.append(h('p', { class: 'error' }, `no such kind ${kind}`));
    return null;
  }
  if (kind) return id !== undefined ? entityPage(view, ctx, kind, id) : kindPage(view, ctx, kind);
  view.append(h('h1', null, 'Model'),
    h('p', null, KINDS.map((k) => [h('a', { href: `#/model/${k}` }, k), ' '])));
  const exported = h('span', { id: 'export-link' });
  view.append(h('h2', null, 'Export'),
    h('p', { class: 'row' }, h('button', { type: 'button', id: 'export', onclick: () => exportModel(exported) }, 'Export model file'), exported));
  if (ctx.admin) view.append(applyForm());
  else view.append(h('p', { class: 'muted' }, 'Applying a model file needs admin clearance.'));
  return null;
}

async function exportModel(where) {
  const m = await get(`${C}/model`);
  const text = JSON.stringify(m, null, 2) + '\n';
  const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  where.replaceChildren(h('a', { href: url, download: 'model.json' }, `model.json (${text.length} bytes)`));
}

function applyForm() {
  const text = h('textarea', { id: 'apply-text', placeholder: '{"modules": [ … ]} (JSON; `engine apply` takes YAML)' });
  const file = h('input', { type: 'file', accept: '.json,application/json' });
  const result = h('div', { id: 'apply-result', role: 'status' });
  file.addEventListener('change', async () => {
    if (file.files[0]) text.value = await file.files[0].text();
  });
  const form = h('form', { id: 'apply-form' }, h('h2', null, 'Apply a model file'),
    h('p', { class: 'muted' }, 'Every entity in the file is created or replaced in one validated write (PUT /model).'),
    file, text, h('p', null, h('button', { type: 'submit', class: 'primary' }, 'Apply')), result);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    result.replaceChildren(h('span', { class: 'muted' }, 'applying…'));
    try {
      const r = await call('PUT', `${C}/model`, text.value, { quiet: true });
      result.replaceChildren(`✓ applied: model version ${r.version}`);
    } catch (e) {
      result.replaceChildren(h('span', { class: 'error' }, '✗ ' + e.message));
    }
  });
  return form;
}

function kindPage(view, ctx, kind) {
  const list = h('div');
  view.append(h('p', null, h('a', { href: '#/model' }, '← model')), h('h1', null, kind), list);
  if (ctx.admin) view.append(h('p', null, h('a', { href: `#/model/${kind}/` }, `New ${kind.replace(/s$/, '').replace(/ie$/, 'y')}`)));
  get(`${C}/${kind}${ALL}`).then((items) => {
    list.replaceChildren(table(['id', 'name'], items.map((e) => [
      h('a', { href: `#/model/${kind}/${enc(e.id)}` }, e.id), e.name || e.module_name || '']), { id: 'entities' }));
  }).catch(() => {});
  return null;
}

function entityPage(view, ctx, kind, id) {
  const isNew = id === '';
  const text = h('textarea', { id: 'entity-json', readonly: !ctx.admin, 'aria-describedby': 'entity-error' });
  const error = h('div', { id: 'entity-error', class: 'error', role: 'alert' });
  const ok = h('div', { id: 'entity-result', role: 'status' });
  view.append(h('p', null, h('a', { href: `#/model/${kind}` }, `← ${kind}`)), h('h1', null, isNew ? `new in ${kind}` : `${kind} / ${id}`));
  const form = h('form', null, h('label', { for: 'entity-json' }, 'JSON (docs/protocol.md §2.1)'), text, error, ok);
  if (ctx.admin) form.append(h('p', null, h('button', { type: 'submit', class: 'primary', id: 'save' }, isNew ? 'Create' : 'Save')));
  else form.append(h('p', { class: 'muted' }, 'Read-only: editing the model needs admin clearance.'));
  view.append(form);
  if (isNew) text.value = '{\n  "id": ""\n}\n';
  else get(`${C}/${kind}/${enc(id)}`).then((e) => { text.value = JSON.stringify(e, null, 2); }).catch(() => {});
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.replaceChildren();
    ok.replaceChildren();
    let body;
    try {
      body = JSON.parse(text.value);
    } catch (e) {
      error.textContent = 'not JSON: ' + e.message;
      return;
    }
    try {
      const saved = isNew
        ? await call('POST', `${C}/${kind}`, body, { quiet: true })
        : await call('PUT', `${C}/${kind}/${enc(id)}`, body, { quiet: true });
      text.value = JSON.stringify(saved, null, 2);
      ok.textContent = '✓ saved';
      if (isNew) location.hash = `#/model/${kind}/${enc(saved.id)}`;
    } catch (e) {
      error.textContent = '✗ ' + e.message;
    }
  });
  return null;
}
