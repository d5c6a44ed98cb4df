// Examiners' conclusions in the workbench: the panel of a candidate (record a conclusion, or
// verify another examiner's), the library's trail (#/conclusions), signing in and out.
// Blind verification: the server leaves out what another examiner concluded on a pair until
// this viewer has recorded their own on it; the page only shows what it is given.
const LABEL = {
  identification: 'Identification', 'inconclusive-a': 'Inconclusive A', 'inconclusive-b': 'Inconclusive B',
  'inconclusive-c': 'Inconclusive C', elimination: 'Elimination', unsuitable: 'Unsuitable',
};
const NAME_KEY = 'ibex-workbench-examiner';

let ctx = null; // { api, el, $, session: () => session, onSession }

export function initConclusions(c) {
  ctx = c;
}

const when = (iso) => (iso ? iso.replace('T', ' ').replace('Z', ' UTC') : '');

// Without accounts a conclusion names its examiner as typed (kept in this browser).
function typedName() {
  const i = ctx.$('concl-examiner');
  const v = (i && i.value.trim()) || localStorage.getItem(NAME_KEY) || '';
  return v;
}

function recordRows(records) {
  const { el } = ctx;
  return records.map((x) => {
    const what = x.visible
      ? el('span', { class: 'concl', text: LABEL[x.conclusion] || x.conclusion })
      : el('span', { class: 'hidden-concl', text: 'hidden until you record your own (blind verification)' });
    const agree = x.type === 'verification' && x.agrees !== undefined ? (x.agrees ? 'agrees' : 'disagrees') : '';
    return el('tr', { 'data-seq': x.seq, 'data-type': x.type, 'data-visible': x.visible ? '1' : '0' },
      el('td', { class: 'num', text: x.seq }),
      el('td', { text: x.type === 'verification' ? `verification of #${x.verifies}` : 'conclusion' }),
      el('td', { text: `${x.examiner}${x.role ? ` (${x.role})` : ''}` }),
      el('td', { text: when(x.time) }), el('td', {}, what), el('td', { class: 'agree', text: agree }),
      el('td', { class: 'notes', text: x.visible && x.notes ? x.notes : '' }),
      el('td', { class: 'hash', title: x.sha256 || '', text: x.sha256 ? x.sha256.slice(0, 12) : '' }));
  });
}

function recordTable(records, withPair) {
  const { el } = ctx;
  const head = ['#', 'record', 'examiner', 'recorded', 'conclusion', '', 'notes', 'SHA-256'];
  if (withPair) head.splice(1, 0, 'questioned / candidate', 'case');
  const rows = recordRows(records);
  if (withPair) {
    rows.forEach((tr, i) => {
      const x = records[i];
      tr.children[0].after(el('td', { text: `${x.questioned.name || x.questioned.sha256.slice(0, 12)} / `
        + `${x.candidate.name || x.candidate.sha256.slice(0, 12)}` }), el('td', { text: x.case || '' }));
    });
  }
  return el('table', { class: 'list concl-table' }, el('thead', {}, el('tr', {}, ...head.map((h) => el('th', { text: h })))),
    el('tbody', {}, ...rows));
}

// The panel of one candidate: its records, and a form when this session may record.
export async function showPairConclusions(jobId, row) {
  const { $, el, api } = ctx;
  const box = $('concl-panel');
  box.hidden = false;
  const session = ctx.session();
  const q = session.accounts ? '' : `?examiner=${encodeURIComponent(typedName())}`;
  let p;
  try {
    p = await api(`/api/jobs/${jobId}/candidates/${row}/conclusions${q}`);
  } catch (e) {
    box.replaceChildren(el('h3', { text: 'Examiners\u2019 conclusions' }), el('p', { class: 'error', text: e.message }));
    return;
  }
  renderPanel(jobId, row, p);
}

function renderPanel(jobId, row, p) {
  const { $, el, api } = ctx;
  const box = $('concl-panel');
  const parts = [el('h3', { text: 'Examiners\u2019 conclusions' }),
    el('p', { class: 'muted', text: 'The scores above are the software\u2019s; a conclusion is an examiner\u2019s, '
      + 'recorded in the library with who, when, both scans\u2019 SHA-256 and the scores shown. Records are never '
      + 'changed or removed. Another examiner\u2019s conclusion on this pair stays hidden until you have recorded your own.' })];
  parts.push(p.records.length ? recordTable(p.records, false) : el('p', { id: 'concl-none', class: 'muted', text: 'No conclusion recorded on this pair yet.' }));
  const open = p.open_for_verification;
  const canVerify = p.can_verify && open.length > 0;
  if (!p.can_conclude && !canVerify) {
    parts.push(el('p', { id: 'concl-readonly', class: 'muted', text: p.role === 'read-only'
      ? 'This session only reads. Sign in as an examiner or verifier to record.'
      : 'There is no conclusion of another examiner on this pair to verify.' }));
    box.replaceChildren(...parts);
    return;
  }
  const sel = el('select', { id: 'concl-value' }, el('option', { value: '', text: 'choose\u2026' }),
    ...p.afte.map((a) => el('option', { value: a, text: LABEL[a] || a })));
  const kind = el('select', { id: 'concl-kind' });
  if (p.can_conclude) kind.append(el('option', { value: '0', text: 'my own conclusion' }));
  if (p.can_verify) for (const s of open) kind.append(el('option', { value: String(s), text: `verification of record #${s}` }));
  if (canVerify) kind.value = String(open[0]);
  const notes = el('textarea', { id: 'concl-notes', rows: 3, cols: 60, maxlength: 60000,
    placeholder: 'what you observed (optional)' });
  const err = el('p', { id: 'concl-error', class: 'error', hidden: true });
  const form = el('form', { id: 'concl-form', class: 'concl-form' },
    !p.accounts ? el('label', {}, 'Your name ', el('input', { id: 'concl-examiner', value: localStorage.getItem(NAME_KEY) || '',
      maxlength: 64, required: true })) : el('span', { class: 'muted', text: `Recording as ${p.viewer} (${p.role}). ` }),
    el('label', {}, ' Record ', kind), el('label', {}, ' Conclusion ', sel), el('br'), notes, el('br'),
    el('button', { id: 'concl-submit', type: 'submit', text: 'Record' }), err);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.hidden = true;
    if (!sel.value) {
      err.textContent = 'Choose a conclusion.';
      err.hidden = false;
      return;
    }
    const verifies = Number(kind.value);
    const body = { type: verifies ? 'verification' : 'conclusion', conclusion: sel.value, notes: notes.value };
    if (verifies) body.verifies = verifies;
    if (!p.accounts) {
      body.examiner = typedName();
      localStorage.setItem(NAME_KEY, body.examiner);
    }
    ctx.$('concl-submit').disabled = true;
    try {
      const a = await api(`/api/jobs/${jobId}/candidates/${row}/conclusions`, {
        method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
      renderPanel(jobId, row, a);
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
      ctx.$('concl-submit').disabled = false;
    }
  });
  parts.push(form);
  box.replaceChildren(...parts);
}

export function hidePairConclusions() {
  const b = ctx.$('concl-panel');
  if (b) b.hidden = true;
}

// #/conclusions: the library's trail, newest first, as this viewer may see it.
export async function trailView() {
  const { $, api } = ctx;
  const session = ctx.session();
  const p = new URLSearchParams();
  for (const [k, id] of [['sha256', 'tr-sha'], ['case', 'tr-case']]) if ($(id).value.trim()) p.set(k, $(id).value.trim());
  if (!session.accounts) p.set('examiner', typedName());
  try {
    const j = await api(`/api/conclusions?${p}`);
    $('tr-count').textContent = `${j.matched} of ${j.total} records${j.listed < j.matched ? ` (newest ${j.listed} shown)` : ''}.`;
    $('tr-list').replaceChildren(recordTable(j.records, true));
    $('tr-error').hidden = true;
  } catch (e) {
    $('tr-error').textContent = e.message;
    $('tr-error').hidden = false;
  }
}

// The records on one specimen (either side of the pair), newest first.
export async function specimenConclusions(sha, box) {
  const { api, el } = ctx;
  const session = ctx.session();
  const p = new URLSearchParams({ sha256: sha });
  if (!session.accounts) p.set('examiner', typedName());
  try {
    const j = await api(`/api/conclusions?${p}`);
    box.replaceChildren(j.records.length ? recordTable(j.records, true)
      : el('p', { class: 'muted', text: 'None yet.' }));
  } catch (e) {
    box.replaceChildren(el('p', { class: 'error', text: e.message }));
  }
}

// The sign-in form (with accounts) and the user shown in the header.
export function showUser() {
  const { $ } = ctx;
  const s = ctx.session();
  $('who').textContent = s.signed_in ? (s.user ? `${s.user} (${s.role})` : `token session (${s.role})`) : '';
  $('sign-in').hidden = !s.accounts || Boolean(s.user);
  $('sign-out').hidden = !s.accounts || !s.signed_in;
}

export function wireSignIn() {
  const { $, api } = ctx;
  $('signin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('si-error').hidden = true;
    $('si-submit').disabled = true;
    try {
      const r = await fetch('/api/login', { method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: $('si-name').value.trim(), password: $('si-password').value }) });
      const j = await r.json();
      if (!r.ok) throw new Error(j.error || `${r.status}`);
      $('si-password').value = '';
      await ctx.onSession();
      location.hash = ctx.afterSignIn() || '#/library';
    } catch (e) {
      $('si-error').textContent = e.message;
      $('si-error').hidden = false;
    } finally {
      $('si-submit').disabled = false;
    }
  });
  $('sign-out').addEventListener('click', async () => {
    try { await api('/api/logout', { method: 'POST' }); } catch (e) { /* signed out anyway */ }
    await ctx.onSession();
    location.hash = '#/signin';
  });
}
