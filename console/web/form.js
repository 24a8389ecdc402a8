import { h } from './dom.js';

// A function's form, generated from its listing (docs/protocol.md §6.6): one field per parameter
// in binding order, typed by its JSON schema, with its default, whether it is required, its
// limits and description, and the function's security level. run(args) executes it and answers
// {status, data}; the result, or the error with its code, is shown under the form.
export function functionForm(id, name, fn, run) {
  const fields = (fn.order || []).map((p) => field(id, p, (fn.params || {})[p] || {}));
  const result = h('div', { class: 'result', id: `${id}-result`, role: 'status' });
  // novalidate: the engine is the one judge of arguments, and its refusal names the rule broken
  // with its error code (the min/max attributes still guide the number spinner).
  const form = h('form', { class: 'fn', id, novalidate: true },
    h('div', { class: 'row' }, h('strong', null, name),
      fn.security ? h('span', { class: 'muted' }, `security: ${fn.security}`) : h('span', { class: 'muted' }, 'open to every user'),
      h('button', { type: 'submit', class: 'primary' }, 'Execute')),
    fields.map((f) => f.el), result);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const args = {};
    try {
      for (const f of fields) {
        const v = f.value();
        if (v !== undefined) args[f.name] = v;
      }
    } catch (e) {
      result.replaceChildren(h('span', { class: 'error' }, e.message));
      return;
    }
    result.replaceChildren(h('span', { class: 'muted' }, 'running…'));
    try {
      const r = await run(args);
      result.replaceChildren(h('span', null, `✓ ${r.status}: `), h('code', null, JSON.stringify(r.data)));
    } catch (e) {
      result.replaceChildren(h('span', { class: 'error' }, '✗ ' + e.message));
    }
  });
  return form;
}

function typeOf(schema) {
  const t = Array.isArray(schema.type) ? schema.type.find((x) => x !== 'null') : schema.type;
  return t || '';
}

// field is one parameter's input and how its text becomes a JSON value; an empty field is left
// out of the arguments, so the function's default applies (or the API says it is required).
function field(formID, name, schema) {
  const type = typeOf(schema);
  const hasDefault = 'default' in schema;
  const inputID = `${formID}-${name}`;
  const notes = [type || 'any JSON', hasDefault ? `default ${JSON.stringify(schema.default)}` : 'required'];
  if ('minimum' in schema) notes.push(`min ${schema.minimum}`);
  if ('maximum' in schema) notes.push(`max ${schema.maximum}`);
  let input;
  let read;
  if (type === 'boolean' || Array.isArray(schema.enum)) {
    const options = type === 'boolean' ? ['true', 'false'] : schema.enum.map((v) => JSON.stringify(v));
    input = h('select', { id: inputID, name },
      h('option', { value: '' }, hasDefault ? `(default ${JSON.stringify(schema.default)})` : '(choose)'),
      options.map((o) => h('option', { value: o }, o)));
    read = (v) => JSON.parse(v);
  } else if (type === 'integer' || type === 'number') {
    input = h('input', { id: inputID, name, type: 'number', step: type === 'integer' ? '1' : 'any',
      min: schema.minimum, max: schema.maximum, placeholder: hasDefault ? String(schema.default) : '' });
    read = (v) => Number(v);
  } else if (type === 'string') {
    input = h('input', { id: inputID, name, type: 'text', placeholder: hasDefault ? String(schema.default) : '' });
    read = (v) => v;
  } else {
    input = h('textarea', { id: inputID, name, rows: '2', placeholder: 'JSON' });
    read = (v) => {
      try {
        return JSON.parse(v);
      } catch (e) {
        throw new Error(`${name}: not JSON: ${e.message}`);
      }
    };
  }
  const el = h('div', null, h('label', { for: inputID }, h('code', null, name), ` (${notes.join(', ')})`,
    schema.description ? h('span', { class: 'muted' }, ' — ' + schema.description) : ''), input);
  return { name, el, value: () => (input.value === '' ? undefined : read(input.value)) };
}
