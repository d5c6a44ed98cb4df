// The candidate view of bullets: the land-score matrix of the questioned bullet (A, rows)
// against the candidate's bullet (B, columns), the pairs of the best cyclic phase outlined;
// a click on a cell shows that land pair: its two signatures aligned by the comparison's lag
// and the two land surfaces, shaded here from their heights (viewer.js). Scores only: no
// conclusion is written. Every text from the server goes in through textContent.
import { decodeHeights, PairView } from './viewer.js';

const $ = (id) => document.getElementById(id);
const fmt = (x, d = 2) => (x === undefined || x === null ? '\u2013' : Number(x).toFixed(d));

// A land position's label: its land number when it has one, else its position.
const landLabel = (side, land, p) => `${side}${land && land.number ? land.number : p + 1}`;

// The cell colour of a land score (0..1): pale to dark along one hue.
function scoreColour(s) {
  const t = Math.max(0, Math.min(1, s));
  const l = 96 - 62 * t;
  return { bg: `hsl(28, ${35 + 40 * t}%, ${l}%)`, ink: l < 55 ? '#fff' : '#1d1f22' };
}

// One land surface, with the crosscut (dashed) and the groove shoulders (solid) drawn on it.
class LandView extends PairView {
  constructor(canvas, hm, land, light) {
    super([canvas], [hm], [], light, null);
    this.land = land;
    this.draw();
  }

  draw() {
    super.draw();
    const g = this.land && this.land.signature;
    if (!g) return;
    const ctx = this.canvases[0].getContext('2d'), m = this.maps[0], { s, tx, ty } = this.view, d = this.dpr;
    const px = (um) => um / m.umPerPx;
    const alongY = g.striae_along === 'y'; // land width along x: grooves are columns, the crosscut a row
    const line = (v, vertical, dash) => {
      ctx.save();
      ctx.strokeStyle = dash ? '#00b4d8' : '#ff4fa0';
      ctx.lineWidth = 2 * d;
      ctx.setLineDash(dash ? [6 * d, 4 * d] : []);
      ctx.beginPath();
      if (vertical) {
        const x = tx + px(v) * s;
        ctx.moveTo(x, ty);
        ctx.lineTo(x, ty + m.h * s);
      } else {
        const y = ty + px(v) * s;
        ctx.moveTo(tx, y);
        ctx.lineTo(tx + m.w * s, y);
      }
      ctx.stroke();
      ctx.restore();
    };
    line(g.groove_left_um, alongY, false);
    line(g.groove_right_um, alongY, false);
    line(g.crosscut_um, !alongY, true);
  }
}

// The two signatures, A above B, on one x axis (micrometres along A's land: B shifted by the
// lag), one height scale; the grid and labels in micrometres.
function drawTraces(canvas, t) {
  const d = window.devicePixelRatio || 1;
  const cssW = Math.max(320, canvas.clientWidth || 960), cssH = 300;
  canvas.width = Math.round(cssW * d);
  canvas.height = Math.round(cssH * d);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const sa = t.a.spacing_um, sb = t.b.spacing_um;
  const xa = (i) => i * sa, xb = (k) => (k + t.lag) * sb; // b[k] lies over a[k + lag]
  const x0 = Math.min(0, xb(0)), x1 = Math.max(xa(t.a.n - 1), xb(t.b.n - 1));
  let zmax = 0;
  for (const v of [...t.a.values_um, ...t.b.values_um]) if (v !== null && Math.abs(v) > zmax) zmax = Math.abs(v);
  zmax = zmax || 1;
  const left = 58 * d, right = 12 * d, top = 14 * d, bottom = 34 * d, gap = 18 * d;
  const ph = (canvas.height - top - bottom - gap) / 2, pw = canvas.width - left - right;
  const X = (um) => left + (um - x0) / (x1 - x0) * pw;
  const panels = [
    { y: top, v: t.a.values_um, x: xa, colour: '#6b5330', name: `A ${t.a.id}` },
    { y: top + ph + gap, v: t.b.values_um, x: xb, colour: '#1f6fb2', name: `B ${t.b.id}` },
  ];
  ctx.font = `${11 * d}px system-ui, sans-serif`;
  for (const p of panels) {
    const Y = (z) => p.y + ph / 2 - z / zmax * (ph / 2 - 4 * d);
    ctx.strokeStyle = '#d5d8dc';
    ctx.lineWidth = d;
    ctx.strokeRect(left, p.y, pw, ph);
    ctx.beginPath();
    ctx.moveTo(left, Y(0));
    ctx.lineTo(left + pw, Y(0));
    ctx.stroke();
    ctx.fillStyle = '#5b6168';
    ctx.textAlign = 'right';
    for (const z of [zmax, 0, -zmax]) ctx.fillText(`${z.toFixed(2)} \u00b5m`, left - 4 * d, Y(z) + 4 * d);
    ctx.textAlign = 'left';
    ctx.fillText(p.name, left + 6 * d, p.y + 13 * d);
    ctx.strokeStyle = p.colour;
    ctx.lineWidth = 1.3 * d;
    ctx.beginPath();
    let pen = false;
    p.v.forEach((z, i) => {
      if (z === null) { pen = false; return; }
      const x = X(p.x(i)), y = Y(z);
      if (pen) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      pen = true;
    });
    ctx.stroke();
  }
  // x axis: ticks every nice step of micrometres
  const span = x1 - x0, raw = span / 8, pw10 = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = (raw / pw10 >= 5 ? 5 : raw / pw10 >= 2 ? 2 : 1) * pw10;
  ctx.fillStyle = '#5b6168';
  ctx.textAlign = 'center';
  for (let u = Math.ceil(x0 / step) * step; u <= x1; u += step) {
    const x = X(u);
    ctx.fillRect(x, canvas.height - bottom, d, 5 * d);
    ctx.fillText(`${Math.round(u)}`, x, canvas.height - bottom + 17 * d);
  }
  ctx.textAlign = 'right';
  ctx.fillText('\u00b5m along land A', canvas.width - right, canvas.height - 4 * d);
  canvas.dataset.renders = String(Number(canvas.dataset.renders || 0) + 1);
}

// Shows candidate p (GET /api/jobs/ID/candidates/ROW of a bullet); returns what stops the view.
export function showBullet(p, ctx) {
  const { api, hooks } = ctx;
  const base = `/api/jobs/${p.job}/candidates/${p.row}`;
  const state = { views: [], sel: null, stop: false, seq: 0 };
  hooks.bullet = state;
  const A = p.a.lands, B = p.b.lands;
  $('bul-back').href = `#/job/${p.job}`;
  $('bul-title').textContent = `${p.questioned.name} (bullet ${p.questioned.bullet}) and ${p.candidate.id} (bullet `
    + `${p.candidate.bullet}), rank ${p.rank}`;
  $('bul-error').hidden = true;
  $('bul-pair').hidden = true;
  let sum;
  if (p.mode === 'bullet') {
    sum = `Bullet score ${fmt(p.bullet_score, 3)}: the mean land score of the best phase, ${p.best_phase} `
      + `(land position i of A with position i + ${p.best_phase} of B); the best other phase ${fmt(p.runner_up, 3)}. `
      + `${p.lands_high} of the ${p.lands_compared} land pairs of that phase score ${p.land_reference} or more.`;
  } else if (p.mode === 'land') {
    sum = `One land against one land: land score ${fmt(p.best_land && p.best_land.score, 3)}.`;
  } else {
    sum = `${p.a.positions === 1 ? 'The questioned land against the candidate\'s bullet' : 'The questioned bullet against the candidate\'s one land'}: `
      + `the highest land score is ${fmt(p.best_land && p.best_land.score, 3)}`
      + (p.best_land ? ` (${landLabel('A', A[p.best_land.a], p.best_land.a)} with ${landLabel('B', B[p.best_land.b], p.best_land.b)}, outlined).` : '.');
  }
  sum += ` ${p.a.scans} land scan(s) of A, ${p.b.scans} of B; candidate firearm ${p.candidate.firearm_id || '\u2013'}`
    + `${p.candidate.set ? `, set ${p.candidate.set}` : ''}. Compared in ${fmt(p.seconds.total, 2)} s.`;
  if (p.same_bullet) sum += ' The candidate is a land of the questioned bullet itself.';
  const unusable = [...A, ...B].filter((l) => l && !l.usable);
  if (unusable.length) sum += ` No signature: ${unusable.map((l) => `${l.id} (${l.problem})`).join('; ')}.`;
  $('bul-summary').textContent = sum;
  $('bul-phases').textContent = p.phases.length
    ? 'Mean land score by phase: ' + p.phases.map((x) => `${x.phase}: ${fmt(x.sam, 3)}`).join(', ') + '.'
    : '';

  // the matrix
  const head = document.createElement('tr');
  head.append(document.createElement('th'));
  B.forEach((l, j) => {
    const th = document.createElement('th');
    th.textContent = landLabel('B', l, j);
    if (l) th.title = l.id;
    head.append(th);
  });
  $('bul-matrix').tHead.replaceChildren(head);
  const rows = p.matrix.map((r, i) => {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.textContent = landLabel('A', A[i], i);
    if (A[i]) th.title = A[i].id;
    tr.append(th);
    r.forEach((c, j) => {
      const td = document.createElement('td');
      td.dataset.a = i;
      td.dataset.b = j;
      if (!c) {
        td.className = 'none';
        td.textContent = '\u2013';
        td.title = !A[i] || !B[j] ? 'no scan of this land' : 'no signature';
      } else {
        const col = scoreColour(c.score);
        td.style.background = col.bg;
        td.style.color = col.ink;
        td.textContent = fmt(c.score, 2);
        const s = document.createElement('span');
        s.className = 'ccf';
        s.textContent = `CCF ${fmt(c.ccf, 2)}`;
        td.append(s);
        if (c.best) td.classList.add('best');
        td.title = `${landLabel('A', A[i], i)} with ${landLabel('B', B[j], j)}: land score ${fmt(c.score, 3)}, `
          + `CCF ${fmt(c.ccf, 3)}, lag ${fmt(c.lag_um, 1)} \u00b5m`;
        td.addEventListener('click', () => selectPair(i, j));
      }
      tr.append(td);
    });
    return tr;
  });
  $('bul-matrix').tBodies[0].replaceChildren(...rows);

  const light = () => ({ azimuth: Number($('bl-az').value), elevation: Number($('bl-el').value),
    exaggeration: Number($('bl-exag').value) });
  const showValues = () => {
    $('bl-az-v').textContent = `${$('bl-az').value}\u00b0`;
    $('bl-el-v').textContent = `${$('bl-el').value}\u00b0`;
    $('bl-exag-v').textContent = `\u00d7${$('bl-exag').value}`;
  };
  showValues();
  let pending = false;
  const relight = () => {
    showValues();
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      for (const v of state.views) v.setLight(light());
    });
  };
  for (const id of ['bl-az', 'bl-el', 'bl-exag']) $(id).oninput = relight;
  $('bl-fit').onclick = () => { for (const v of state.views) v.fit(); };

  async function selectPair(i, j) {
    const seq = ++state.seq;
    state.sel = [i, j];
    for (const td of $('bul-matrix').querySelectorAll('td')) {
      td.classList.toggle('selected', Number(td.dataset.a) === i && Number(td.dataset.b) === j);
    }
    const t0 = performance.now();
    let t, hq, hc;
    try {
      [t, hq, hc] = await Promise.all([api(`${base}/signatures?a=${i}&b=${j}`),
        api(`${base}/heights?side=q&land=${i}`).then(decodeHeights),
        api(`${base}/heights?side=c&land=${j}`).then(decodeHeights)]);
    } catch (e) {
      if (seq !== state.seq || state.stop) return;
      $('bul-error').textContent = e.message;
      $('bul-error').hidden = false;
      return;
    }
    if (seq !== state.seq || state.stop) return;
    $('bul-error').hidden = true;
    const la = landLabel('A', A[i], i), lb = landLabel('B', B[j], j);
    $('bul-pair').hidden = false;
    $('bul-pair-title').textContent = `${la} (${t.a.id}) with ${lb} (${t.b.id})`;
    $('bul-pair-info').textContent = `Land score ${fmt(t.score, 3)}; CCF ${fmt(t.ccf, 3)} at a lag of ${fmt(t.lag_um, 1)} \u00b5m `
      + `(B shifted by ${t.lag} samples of ${fmt(t.a.spacing_um, 1)} \u00b5m); overlap ${Math.round(100 * t.overlap)}%; `
      + `RMS difference ${fmt(t.distance_um, 3)} \u00b5m (${fmt(t.distance_rel, 2)} of the RMS); longest run of `
      + `consecutive striae found in both ${t.cms}; striae in both ${t.matches}, in one only ${t.mismatches}`
      + `${t.best ? '; a pair of the best phase' : ''}.`;
    const cv = $('bul-traces');
    cv.dataset.pair = `${i},${j}`;
    drawTraces(cv, t);
    for (const v of state.views) v.destroy();
    $('cap-land-q').textContent = `${la}: ${t.a.id} (questioned), ${hq.w} \u00d7 ${hq.h} px at ${fmt(hq.umPerPx, 2)} \u00b5m`;
    $('cap-land-c').textContent = `${lb}: ${t.b.id} (candidate), ${hc.w} \u00d7 ${hc.h} px at ${fmt(hc.umPerPx, 2)} \u00b5m`;
    state.views = [new LandView($('bul-land-q'), hq, A[i], light()), new LandView($('bul-land-c'), hc, B[j], light())];
    for (const id of ['bul-land-q', 'bul-land-c']) $(id).dataset.pair = `${i},${j}`;
    hooks.timings.bulletPair = performance.now() - t0;
  }
  state.select = selectPair;

  // open on the highest-scoring land pair
  if (p.best_land) selectPair(p.best_land.a, p.best_land.b);
  return () => {
    state.stop = true;
    for (const v of state.views) v.destroy();
    state.views = [];
    hooks.bullet = null;
  };
}
