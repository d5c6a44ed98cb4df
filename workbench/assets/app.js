// IBEX workbench: the library browser, the questioned scan and its search, the ranked list
// and the candidate view. Plain JavaScript, no framework; every text from the server goes in
// through textContent, never as HTML.
import { decodeHeights, PairView } from './viewer.js';
import { hidePairConclusions, initConclusions, showPairConclusions, showUser, specimenConclusions, trailView, wireSignIn }
  from './conclusions.js';
import { showBullet } from './bullet_view.js';
import { CompareViews } from './compare_views.js';

const $ = (id) => document.getElementById(id);
let session = null;

// Test and automation hooks: the pair view, its split and overlay modes, the bullet view,
// timings of the views (milliseconds).
const hooks = { view: null, compare: null, bullet: null, timings: {} };
window.ibexWorkbench = hooks;

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// One API call: the session's CSRF token on every state-changing request; the server's
// message (the library's own) when it refuses.
async function api(path, opts = {}) {
  const o = { credentials: 'same-origin', ...opts, headers: { ...(opts.headers || {}) } };
  if (o.method && o.method !== 'GET') o.headers[session.csrf_header] = session.csrf;
  const r = await fetch(path, o);
  const ct = r.headers.get('Content-Type') || '';
  if (!r.ok) {
    let msg = `${r.status} ${r.statusText}`;
    if (ct.startsWith('application/json')) {
      const j = await r.json();
      if (j.error) msg = j.error;
    }
    throw new ApiError(r.status, msg);
  }
  return ct.startsWith('application/json') ? r.json() : r.arrayBuffer();
}

// An element with attributes, text and children.
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k.startsWith('data-')) e.dataset[k.slice(5)] = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

const fmt = (x, d = 2) => (x === undefined || x === null ? '' : Number(x).toFixed(d));
const dash = (s) => (s === undefined || s === null || s === '' ? '\u2013' : String(s));
const when = (iso) => (iso ? iso.replace('T', ' ').replace('Z', '') : '');

function showError(id, msg) {
  const e = $(id);
  e.textContent = msg || '';
  e.hidden = !msg;
}

function thumb(row) {
  return el('img', { class: 'thumb', loading: 'lazy', alt: '', src: `/api/specimens/${row}/thumbnail.png` });
}

// ---- views and routing --------------------------------------------------------------------
const views = ['library', 'specimen', 'query', 'job', 'candidate', 'bullet', 'signin', 'conclusions'];
let wanted = ''; // where a visitor was going before signing in
let leave = null; // what the current view stops when another is shown

function show(name) {
  for (const v of views) $(`view-${v}`).hidden = v !== name;
  $('nav-library').classList.toggle('active', name === 'library' || name === 'specimen');
  $('nav-query').classList.toggle('active', ['query', 'job', 'candidate', 'bullet'].includes(name));
  $('nav-conclusions').classList.toggle('active', name === 'conclusions');
}

function route() {
  if (leave) leave();
  leave = null;
  hidePairConclusions();
  const h = location.hash.replace(/^#\/?/, '').split('/');
  if (session.accounts && !session.signed_in && h[0] !== 'signin') {
    wanted = location.hash;
    location.hash = '#/signin';
    return undefined;
  }
  if (h[0] === 'signin') return show('signin');
  if (h[0] === 'conclusions') {
    show('conclusions');
    return trailView();
  }
  if (h[0] === 'job' && /^[0-9a-f]{32}$/.test(h[1] || '')) {
    if (h[2] === 'cand' && /^\d+$/.test(h[3] || '')) return candidateView(h[1], Number(h[3]));
    return jobView(h[1]);
  }
  if (h[0] === 'query') return queryView();
  if (h[0] === 'specimen' && /^\d+$/.test(h[1] || '')) return specimenView(Number(h[1]));
  return libraryView();
}

// ---- library browser ----------------------------------------------------------------------
const lib = { offset: 0, limit: 25, filled: false };

async function loadLibrary() {
  const t0 = performance.now();
  const p = new URLSearchParams({
    offset: lib.offset, limit: lib.limit, kind: $('f-kind').value, set: $('f-set').value,
    q: $('f-q').value.trim(), sort: $('f-sort').value, order: $('f-desc').checked ? 'desc' : 'asc',
  });
  let j;
  try {
    j = await api(`/api/specimens?${p}`);
  } catch (e) {
    showError('boot-error', e.message);
    return;
  }
  if (!lib.filled) { // the choices, once
    for (const k of j.kinds) $('f-kind').append(el('option', { value: k, text: k }));
    for (const s of j.sets) $('f-set').append(el('option', { value: s, text: s }));
    lib.filled = true;
  }
  const tb = $('lib-table').tBodies[0];
  tb.replaceChildren(...j.specimens.map((s) => el('tr', { 'data-row': s.row, 'data-id': s.id },
    el('td', {}, thumb(s.row)), el('td', {}, el('a', { href: `#/specimen/${s.row}`, class: 'spec', text: s.id })),
    el('td', { text: dash(s.kind) }),
    el('td', { text: dash(s.region) }), el('td', { text: dash(s.set) }), el('td', { text: dash(s.firearm_id) }),
    el('td', { text: dash([s.firearm_make, s.firearm_model].filter(Boolean).join(' ')) }),
    el('td', { text: dash(s.calibre) }), el('td', { text: dash(s.case_number) }),
    el('td', { text: when(s.ingest_time) }),
    el('td', {}, el('button', { type: 'button', class: 'pick', text: 'search with it', onclick: () => pick(s) })))));
  const last = Math.min(j.offset + j.specimens.length, j.matched);
  $('lib-count').textContent = j.matched
    ? `specimens ${j.offset + 1}\u2013${last} of ${j.matched}` + (j.matched !== j.total ? ` (of ${j.total} in the library)` : '')
    : (j.total ? 'no specimen matches' : 'the library holds no specimen');
  $('lib-prev').disabled = j.offset === 0;
  $('lib-next').disabled = last >= j.matched;
  hooks.timings.library = performance.now() - t0;
}

// ---- one specimen ------------------------------------------------------------------------
async function specimenView(row) {
  show('specimen');
  showError('sp-error', '');
  let s;
  try {
    s = await api(`/api/specimens/${row}`);
  } catch (e) {
    showError('sp-error', e.message);
    return;
  }
  $('sp-title').textContent = s.id;
  $('sp-picture').src = `/api/specimens/${row}/picture.png`;
  $('sp-caption').textContent = `The stored surface, shaded (light from the upper left); ${s.nx} \u00d7 ${s.ny} points at `
    + `${fmt(s.spacing_um)} \u00b5m.`;
  const rows = [['kind', s.kind], ['region', s.region], ['set', s.set], ['firearm', s.firearm_id],
    ['make / model', [s.firearm_make, s.firearm_model].filter(Boolean).join(' ')], ['calibre', s.calibre],
    ['case number', s.case_number], ['ingested (UTC)', when(s.ingest_time)], ['library row', String(s.row)],
    ['source SHA-256', s.sha256]];
  $('sp-meta').tBodies[0].replaceChildren(...rows.map(([k, v]) => el('tr', {}, el('th', { text: k }), el('td', { text: dash(v) }))));
  $('sp-search').onclick = () => pick(s);
  specimenConclusions(s.sha256, $('sp-conclusions'));
}

async function pick(s) {
  try {
    const j = await api(`/api/jobs?row=${s.row}&shortlist=${shortlistValue()}&exclude_same=1`, { method: 'POST' });
    location.hash = `#/job/${j.id}`;
  } catch (e) {
    showError('boot-error', e.message);
  }
}

function libraryView() {
  show('library');
  loadLibrary();
}

// ---- case and query -----------------------------------------------------------------------
function shortlistValue() {
  const v = Number($('q-shortlist').value);
  return Number.isInteger(v) && v >= 1 ? Math.min(v, session.max_shortlist) : 10;
}

async function queryView() {
  show('query');
  try {
    const j = await api('/api/jobs');
    $('jobs-table').tBodies[0].replaceChildren(...j.jobs.map((x) => el('tr', {},
      el('td', { text: x.query.name }), el('td', { text: x.state }), el('td', { text: when(x.created) }),
      el('td', {}, el('a', { href: `#/job/${x.id}`, text: 'open' })))));
  } catch (e) {
    showError('q-error', e.message);
  }
}

async function startUpload(ev) {
  ev.preventDefault();
  showError('q-error', '');
  const f = $('q-file').files[0];
  if (!f) return showError('q-error', 'Choose a scan (X3P or PNG) first.');
  if (f.size > session.max_upload) {
    return showError('q-error', `${f.name}: ${f.size} bytes is over the upload limit of ${session.max_upload} bytes.`);
  }
  $('q-start').disabled = true;
  try {
    const p = new URLSearchParams({ name: f.name, shortlist: shortlistValue(), exclude_same: $('q-exclude').checked ? 1 : 0 });
    if ($('q-case').value.trim()) p.set('case', $('q-case').value.trim());
    hooks.timings.queryStart = performance.now();
    const j = await api(`/api/jobs?${p}`, { method: 'POST', body: f, headers: { 'Content-Type': 'application/octet-stream' } });
    location.hash = `#/job/${j.id}`;
  } catch (e) {
    showError('q-error', e.message);
  } finally {
    $('q-start').disabled = false;
  }
}

// ---- a search and its ranked list ---------------------------------------------------------
function jobView(id) {
  show('job');
  let stop = false, timer = 0;
  leave = () => { stop = true; clearTimeout(timer); };
  $('job-result').hidden = true;
  showError('job-error', '');
  $('job-progress').hidden = false;
  $('job-cancel').onclick = async () => {
    try { await api(`/api/jobs/${id}/cancel`, { method: 'POST' }); } catch (e) { showError('job-error', e.message); }
  };
  const poll = async () => {
    if (stop) return;
    let j;
    try {
      j = await api(`/api/jobs/${id}`);
    } catch (e) {
      showError('job-error', e.message);
      return;
    }
    if (stop) return;
    renderJob(j);
    if (j.state === 'queued' || j.state === 'running') timer = setTimeout(poll, 400);
  };
  poll();
}

function renderJob(j) {
  const q = j.query;
  $('job-name').textContent = q.name;
  $('job-query').textContent = `${q.source === 'library' ? 'library specimen' : 'uploaded scan'}, ${q.kind}, `
    + `${q.nx} \u00d7 ${q.ny} points at ${fmt(q.spacing_um)} \u00b5m; stage-2 shortlist ${j.shortlist}`
    + (j.exclude_same ? '; its own library copy left out' : '');
  const running = j.state === 'queued' || j.state === 'running';
  $('job-progress').hidden = !running;
  const bar = $('job-bar');
  bar.max = j.total || 1;
  bar.value = j.done;
  const eta = j.eta_s >= 0 ? `, about ${Math.ceil(j.eta_s)} s left` : '';
  $('job-stage').textContent = `${j.stage}: ${j.done} of ${j.total}${eta} (${fmt(j.elapsed_s, 1)} s)`;
  if (j.state === 'failed') showError('job-error', j.error);
  if (j.state === 'cancelled') showError('job-error', 'The search was cancelled.');
  // While stage 2 runs the list so far is shown (stage 1 at once, each pair as it is
  // scored); the final list replaces it.
  const final = j.state === 'done' && j.result;
  const r = final ? j.result : (running && j.partial ? j.partial : null);
  if (!r) return;
  const info = r.info, ref = info.kind === 'cartridge' ? session.reference_cmc : undefined;
  $('job-summary').textContent = final
    ? `${r.candidates.length} candidates of ${info.indexed} indexed ${info.kind} specimens, `
      + `ranked by the combined score; stage 1 ${fmt(info.t_stage1, 2)} s, stage 2 ${fmt(info.t_stage2, 1)} s.`
    : `Provisional: the ${r.candidates.length} candidates of stage 1; ${r.scored} scored by stage 2 so far `
      + '(listed first, by their score), the others by their stage-1 similarity.';
  $('job-result').dataset.final = final ? '1' : '0';
  $('job-report').hidden = !final;
  if (!final && hooks.timings.queryStart && !hooks.timings.stage1) hooks.timings.stage1 = performance.now() - hooks.timings.queryStart;
  const maxCmc = Math.max(ref ? 2 * ref : 1, ...r.candidates.map((c) => c.cmc || 0));
  // The columns name what each kind's stage 2 measures.
  const heads = info.kind === 'cartridge'
    ? [['CMC', 'congruent matching cells, the smaller of the two directions; the mark is the reference threshold'],
      ['High-CMC', 'High-CMC (Tong 2015), the smaller direction'], ['cells used', 'cells with enough measured points, A / B'],
      ['combined score', 'what the list is ranked by: the mean over both directions of the summed CCF of congruent cells']]
    : [['CMS', 'consecutive matching striae of the land pair'], ['', ''], ['', ''],
      ['land score', 'what the list is ranked by: the land score of the pair']];
  ['th-cmc', 'th-high', 'th-cells', 'th-score'].forEach((id, i) => {
    $(id).textContent = heads[i][0];
    $(id).title = heads[i][1];
  });
  const rows = r.candidates.map((c) => {
    const bar = el('span', { class: 'bar' }, el('span', { class: 'fill' }));
    bar.firstChild.style.width = `${100 * (c.cmc || 0) / maxCmc}%`;
    if (ref) {
      const m = el('span', { class: 'mark', title: `reference mark: CMC ${ref}` });
      m.style.left = `${100 * ref / maxCmc}%`;
      bar.append(m);
    }
    const cartridge = info.kind === 'cartridge';
    return el('tr', { 'data-rank': c.rank, 'data-row': c.row, 'data-firearm': c.firearm_id || '', 'data-id': c.id || '' },
      el('td', { class: 'num', text: c.rank }), el('td', {}, thumb(c.row)), el('td', { text: dash(c.id) }),
      el('td', { text: dash(c.firearm_id || [c.firearm_make, c.firearm_model].filter(Boolean).join(' ')) }),
      el('td', { text: dash(c.set) }), el('td', { class: 'num', text: fmt(c.stage1, 3) }),
      el('td', { class: 'num' }, c.stage2 ? String(c.cmc) : '\u2013', c.stage2 && cartridge ? bar : null),
      el('td', { class: 'num', text: c.stage2 && cartridge ? String(c.cmc_high) : '' }),
      el('td', { class: 'num', text: c.stage2 && cartridge ? `${c.cells_a} / ${c.cells_b}` : '' }),
      el('td', { class: 'num', text: c.stage2 ? fmt(c.score, 3) : c.screened_out ? `screened out (NCC ${fmt(c.screen, 2)})` : dash(c.error) }),
      el('td', { class: 'num', title: c.log10_lr !== undefined ? `likelihood ratio ${lrText(c.log10_lr)}` : '',
        text: c.log10_lr !== undefined ? fmt(c.log10_lr, 1) : '' }),
      el('td', {}, final && c.stage2 ? el('a', { href: `#/job/${j.id}/cand/${c.row}`, class: 'open', text: 'compare' }) : null));
  });
  $('rank-table').tBodies[0].replaceChildren(...rows);
  $('ref-note').textContent = ref
    ? `The mark on each CMC bar is at ${ref}, ${session.reference_note}; it is shown for orientation. `
      + 'The workbench ranks and measures; the examiner draws the conclusions.'
    : 'The workbench ranks and measures; the examiner draws the conclusions.';
  // Downloads (the session cookie authenticates GETs): the report holds the pairs compared
  // by the time it is asked for.
  // Without accounts the report is written for the name typed in the conclusions panel.
  const who = session.accounts ? '' : `?examiner=${encodeURIComponent(localStorage.getItem('ibex-workbench-examiner') || '')}`;
  $('report-html').href = `/api/jobs/${j.id}/report.html${who}`;
  $('report-pdf').href = `/api/jobs/${j.id}/report.pdf${who}`;
  $('job-result').hidden = false;
  if (final && hooks.timings.queryStart) {
    hooks.timings.query = performance.now() - hooks.timings.queryStart;
    hooks.timings.queryStart = 0;
  }
}

// A likelihood ratio from its log10, as a number (no verbal scale: the examiner weighs it).
function lrText(l) {
  const v = 10 ** l;
  return v >= 1 ? `${v < 1e6 ? Math.round(v) : v.toExponential(1)} : 1` : `1 : ${1 / v < 1e6 ? Math.round(1 / v) : (1 / v).toExponential(1)}`;
}

// ---- the candidate view -------------------------------------------------------------------
function lightFromControls() {
  return { azimuth: Number($('light-az').value), elevation: Number($('light-el').value), exaggeration: Number($('exag').value) };
}

function showControlValues() {
  $('light-az-v').textContent = `${$('light-az').value}\u00b0`;
  $('light-el-v').textContent = `${$('light-el').value}\u00b0`;
  $('exag-v').textContent = `\u00d7${$('exag').value}`;
}

function selectRow(n, scroll) {
  for (const tr of $('cell-table').tBodies[0].rows) tr.classList.toggle('selected', Number(tr.dataset.cell) === n);
  const tr = $('cell-table').querySelector(`tr[data-cell="${n}"]`);
  if (tr && scroll) tr.scrollIntoView({ block: 'nearest' });
}

async function candidateView(id, row) {
  show('candidate');
  const t0 = performance.now();
  let stop = false;
  leave = () => {
    stop = true;
    if (hooks.compare) hooks.compare.destroy();
    if (hooks.view) hooks.view.destroy();
    hooks.view = null;
    hooks.compare = null;
  };
  $('cand-back').href = `#/job/${id}`;
  hidePairConclusions();
  $('cand-title').textContent = '';
  $('cand-wait').hidden = false;
  $('cand-body').hidden = true;
  showError('cand-error', '');
  let p, hq, hc;
  try {
    p = await api(`/api/jobs/${id}/candidates/${row}`);
    if (p.kind === 'bullet') { // bullets: their own view (bullet_view.js)
      if (stop) return;
      show('bullet');
      const stopBullet = showBullet(p, { api, hooks });
      leave = () => { stop = true; stopBullet(); };
      hooks.timings.candidate = performance.now() - t0;
      showPairConclusions(id, row);
      return;
    }
    const [bq, bc] = await Promise.all([api(`/api/jobs/${id}/candidates/${row}/heights?side=q`),
      api(`/api/jobs/${id}/candidates/${row}/heights?side=c`)]);
    hq = decodeHeights(bq);
    hc = decodeHeights(bc);
  } catch (e) {
    $('cand-wait').hidden = true;
    showError('cand-error', e.message);
    return;
  }
  if (stop) return;
  const cand = p.candidate, a = p.cmc.a_in_b, b = p.cmc.b_in_a, pose = p.pose, th = p.thresholds;
  $('cand-title').textContent = `${p.questioned.name} and ${dash(cand.id)} (rank ${p.rank})`;
  $('cand-summary').textContent = `CMC ${p.cmc.cmc} (A\u2192B ${a.cmc} of ${a.cells_used} cells used, `
    + `B\u2192A ${b.cmc} of ${b.cells_used}); High-CMC ${p.cmc.cmc_high}; combined score ${fmt(p.cmc.score, 3)}. `
    + `Candidate firearm ${dash(cand.firearm_id)}${cand.set ? `, set ${cand.set}` : ''}. `
    + `Consensus registration of B on A: \u03b8 ${fmt(pose.theta_deg, 1)}\u00b0, dx ${fmt(pose.dx_um, 0)} \u00b5m, `
    + `dy ${fmt(pose.dy_um, 0)} \u00b5m (whole-scan CCF ${fmt(pose.full_ccf, 3)}). A cell is congruent when its CCF is at `
    + `least ${th.ccf} and its registration lies within ${th.theta_deg}\u00b0 and ${th.xy_um} \u00b5m of the consensus. `
    + `Compared at ${fmt(p.spacing_um)} \u00b5m in ${fmt(p.seconds.total, 1)} s.`;
  $('cap-q').textContent = `A, questioned: ${p.questioned.name}, its ${p.cells.length} cells numbered as in the table`;
  $('cap-c').textContent = `B, candidate ${dash(cand.id)}, turned ${fmt(pose.theta_deg, 1)}\u00b0 and shifted onto A; `
    + 'A\u2019s cells where they were found';
  $('cell-table').tBodies[0].replaceChildren(...p.cells.map((c) => el('tr', { 'data-cell': c.n, onclick: () => {
    if (hooks.view) hooks.view.select(c.n);
    selectRow(c.n, false);
  } },
  el('td', { class: 'num', text: c.n }), el('td', { text: `${c.row}, ${c.col}` }),
  el('td', { class: 'num', text: `${Math.round(100 * c.valid_frac)}%` }),
  el('td', { class: 'num', text: c.used ? fmt(c.ccf, 3) : '' }),
  el('td', { class: 'num', text: c.used ? fmt(c.ddx_um, 0) : '' }),
  el('td', { class: 'num', text: c.used ? fmt(c.ddy_um, 0) : '' }),
  el('td', { class: 'num', text: c.used ? fmt(c.theta_deg, 0) : '' }),
  el('td', { class: c.congruent ? 'yes' : '', text: !c.used ? 'not used' : c.congruent ? 'yes' : c.congruent_high ? 'High-CMC only' : 'no' }),
  el('td', { class: 'why', text: c.why }))));
  $('cand-wait').hidden = true;
  $('cand-body').hidden = false;
  showControlValues();
  if (hooks.compare) hooks.compare.destroy();
  if (hooks.view) hooks.view.destroy();
  hooks.view = new PairView([$('canvas-q'), $('canvas-c')], [hq, hc], p.cells, lightFromControls(),
    (n) => selectRow(n, true));
  hooks.view.showCells = $('show-cells').checked;
  const t1 = performance.now();
  hooks.compare = new CompareViews(hooks.view, {
    figure: $('fig-q'), other: $('fig-c'), caption: $('cap-q'), handle: $('split-handle'),
    bar: $('colour-bar'), barRamp: $('colour-bar-ramp'), barLo: $('colour-bar-lo'), barMid: $('colour-bar-mid'),
    barHi: $('colour-bar-hi'), barNote: $('colour-bar-note'), overlayLegend: $('overlay-legend'),
    overlayOpts: $('overlay-opts'), splitOpts: $('split-opts'),
  });
  setViewMode();
  hooks.timings.compareViews = performance.now() - t1; // the difference map, made once
  hooks.timings.candidate = performance.now() - t0;
  showPairConclusions(id, row);
}

function wireCandidateControls() {
  let pending = false;
  const relight = () => {
    showControlValues();
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      if (hooks.view) hooks.view.setLight(lightFromControls());
    });
  };
  for (const id of ['light-az', 'light-el', 'exag']) $(id).addEventListener('input', relight);
  $('show-cells').addEventListener('change', () => {
    if (!hooks.view) return;
    hooks.view.showCells = $('show-cells').checked;
    hooks.view.draw();
  });
  $('view-fit').addEventListener('click', () => hooks.view && hooks.view.fit());
  for (const r of document.querySelectorAll('input[name="view-mode"], input[name="overlay-kind"], #split-colour')) {
    r.addEventListener('change', setViewMode);
  }
}

// Side by side, split or overlay, as the radio buttons say: drawn here, no server request.
function setViewMode() {
  if (!hooks.compare) return;
  const t0 = performance.now();
  hooks.compare.setMode(document.querySelector('input[name="view-mode"]:checked').value,
    document.querySelector('input[name="overlay-kind"]:checked').value, $('split-colour').checked);
  hooks.timings.mode = performance.now() - t0;
}

// ---- start --------------------------------------------------------------------------------
async function boot() {
  try {
    session = await api('/api/session');
  } catch (e) {
    showError('boot-error', `${e.message}. Open the address that ibex serve printed (it ends in /?token=...).`);
    return;
  }
  initConclusions({ api, el, $, session: () => session, afterSignIn: () => wanted,
    onSession: async () => { session = await api('/api/session'); showUser(); } });
  showUser();
  wireSignIn();
  $('trail-filter').addEventListener('submit', (ev) => { ev.preventDefault(); trailView(); });
  $('lib-name').textContent = `library ${session.library}`;
  $('footer').textContent = `IBEX ${session.version} workbench; uploads up to ${Math.round(session.max_upload / 1048576)} MiB.`;
  $('q-shortlist').max = session.max_shortlist;
  let typing = 0;
  const refilter = () => { lib.offset = 0; loadLibrary(); };
  $('f-q').addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(refilter, 250); });
  for (const id of ['f-kind', 'f-set', 'f-sort', 'f-desc']) $(id).addEventListener('change', refilter);
  $('lib-filter').addEventListener('submit', (ev) => ev.preventDefault());
  $('lib-prev').addEventListener('click', () => { lib.offset = Math.max(0, lib.offset - lib.limit); loadLibrary(); });
  $('lib-next').addEventListener('click', () => { lib.offset += lib.limit; loadLibrary(); });
  $('query-form').addEventListener('submit', startUpload);
  wireCandidateControls();
  window.addEventListener('hashchange', route);
  route();
}

boot();
