// The candidate view's other two modes, drawn in the browser from the same two height maps
// as the side-by-side views (A, and B registered onto A's grid, so one pixel is one place on
// both), under the same pan, zoom, light and exaggeration:
//  - split: one canvas, A left of a vertical divider and B right of it, as in a comparison
//    microscope; the divider is dragged by its handle or moved with the arrow keys;
//  - overlay: one canvas, either the difference of heights B - A (each about its mean over
//    the area measured on both) in a diverging colour map with a colour bar in micrometres,
//    or the two shadings in two colours (A magenta, B green: where they agree, grey).
// The split view can also show the heights themselves in colour, on one scale for A and B.
// They paint panel 0 of the PairView (viewer.js) in place of the shaded A, so the cells,
// the scale bar, pan, zoom and a click on a cell work there as in the side-by-side view.
// Diverging colour map, blue (B lower than A) through near-white (equal) to red (B higher):
// t in [-1, 1], clamped; piecewise linear between five stops.
const STOPS = [[-1, 33, 102, 172], [-0.5, 103, 169, 207], [0, 247, 247, 247], [0.5, 239, 138, 98], [1, 178, 24, 43]];

export function diverging(t) {
  if (!(t > -1)) t = -1;
  if (t > 1) t = 1;
  let i = 0;
  while (i < STOPS.length - 2 && t > STOPS[i + 1][0]) i++;
  const a = STOPS[i], b = STOPS[i + 1], f = (t - a[0]) / (b[0] - a[0]);
  return [a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2]), a[3] + f * (b[3] - a[3])];
}

// Sequential colour map of heights, dark violet (low) through blue, teal and green to pale
// yellow (high): t in [0, 1], clamped.
const HSTOPS = [[0, 40, 20, 80], [0.25, 40, 90, 170], [0.5, 30, 160, 150], [0.75, 150, 205, 70], [1, 250, 235, 120]];

export function sequential(t) {
  if (!(t > 0)) t = 0;
  if (t > 1) t = 1;
  let i = 0;
  while (i < HSTOPS.length - 2 && t > HSTOPS[i + 1][0]) i++;
  const a = HSTOPS[i], b = HSTOPS[i + 1], f = (t - a[0]) / (b[0] - a[0]);
  return [a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2]), a[3] + f * (b[3] - a[3])];
}

// B - A after removing each one's mean over the points measured on both; NaN where either
// is not measured. range: the 98th percentile of |B - A| (the colour map's +-limit).
export function heightDifference(hq, hc) {
  const n = hq.w * hq.h, a = hq.z, b = hc.z;
  let sa = 0, sb = 0, m = 0;
  for (let i = 0; i < n; i++) {
    if (a[i] === a[i] && b[i] === b[i]) { sa += a[i]; sb += b[i]; m++; }
  }
  const d = new Float32Array(n).fill(NaN);
  if (!m) return { d, range: 0, common: 0, ma: 0, mb: 0, w: hq.w, h: hq.h };
  const ma = sa / m, mb = sb / m, abs = new Float32Array(m);
  let j = 0;
  for (let i = 0; i < n; i++) {
    if (a[i] === a[i] && b[i] === b[i]) {
      d[i] = (b[i] - mb) - (a[i] - ma);
      abs[j++] = Math.abs(d[i]);
    }
  }
  abs.sort();
  return { d, range: abs[Math.floor(0.98 * (m - 1))], common: m / n, ma, mb, w: hq.w, h: hq.h };
}

// The heights of A and B in colour on one scale: each about its mean over the points measured
// on both (as for the difference), from the 1st to the 99th percentile of both together.
function heightImages(hq, hc, diff) {
  const all = [];
  for (const [h, mean] of [[hq, diff.ma], [hc, diff.mb]]) {
    for (const v of h.z) if (v === v) all.push(v - mean);
  }
  const sorted = Float32Array.from(all).sort();
  const lo = sorted.length ? sorted[Math.floor(0.01 * (sorted.length - 1))] : -1;
  const hi = sorted.length ? sorted[Math.floor(0.99 * (sorted.length - 1))] : 1;
  const images = [[hq, diff.ma], [hc, diff.mb]].map(([h, mean]) => {
    const img = new ImageData(h.w, h.h), p = img.data;
    for (let i = 0; i < h.z.length; i++) {
      const v = h.z[i], o = 4 * i;
      if (v !== v) continue; // not measured: transparent
      const c = sequential((v - mean - lo) / (hi - lo || 1));
      p[o] = c[0]; p[o + 1] = c[1]; p[o + 2] = c[2]; p[o + 3] = 255;
    }
    return img;
  });
  return { images, lo, hi };
}

function differenceImage(diff) {
  const img = new ImageData(diff.w, diff.h), p = img.data, r = diff.range || 1;
  for (let i = 0; i < diff.d.length; i++) {
    const v = diff.d[i], o = 4 * i;
    if (v !== v) continue; // not measured on both: transparent, the canvas's dark grey shows
    const c = diverging(v / r);
    p[o] = c[0]; p[o + 1] = c[1]; p[o + 2] = c[2]; p[o + 3] = 255;
  }
  return img;
}

// The two shadings (viewer.js shade(): red channel = 255 x the shade) as A in red and blue
// (magenta), B in green: equal shades give grey. Not measured on either: transparent.
function overlayImage(ia, ib) {
  const img = new ImageData(ia.width, ia.height), p = img.data, a = ia.data, b = ib.data;
  const missing = (q, o) => q[o] === 170 && q[o + 1] === 180 && q[o + 2] === 195;
  for (let o = 0; o < p.length; o += 4) {
    if (missing(a, o) && missing(b, o)) continue;
    const va = missing(a, o) ? 0 : a[o], vb = missing(b, o) ? 0 : b[o];
    p[o] = va; p[o + 1] = vb; p[o + 2] = va; p[o + 3] = 255;
  }
  return img;
}

const fmtUm = (x) => {
  const d = x >= 10 ? 0 : x >= 1 ? 1 : 2;
  return x.toFixed(d);
};
const fmtSigned = (x) => `${x < 0 ? '\u2212' : x > 0 ? '+' : ''}${fmtUm(Math.abs(x))} \u00b5m`;

// The mode control and the pictures of the split and overlay modes for one PairView.
// els: figure (panel 0's figure, wider in the one-canvas modes), handle (the divider's handle, a
// focusable slider), other (the figure of panel 1, hidden in the one-canvas modes),
// caption (panel 0's caption), bar, barRamp, barLo, barMid, barHi, barNote (the colour bar),
// overlayLegend, overlayOpts (the overlay's choice, shown in overlay mode), splitOpts (the
// split view's choice of heights in colour, shown in split mode).
export class CompareViews {
  constructor(pair, els) {
    this.pair = pair;
    this.els = els;
    this.mode = 'side';
    this.overlay = 'diff';
    this.divider = 0.5; // fraction of the canvas width
    this.sideCaption = els.caption.textContent;
    this.diff = heightDifference(pair.maps[0], pair.maps[1]);
    this.diffCanvas = this.imageCanvas(differenceImage(this.diff));
    this.overlayCanvas = null;
    this.heightColours = false;
    this.heights = null; // made the first time the split view shows heights in colour
    this.painter = {
      paint: (ctx, canvas, view) => this.paint(ctx, canvas, view),
      relight: () => { this.overlayCanvas = null; },
    };
    this.abort = new AbortController();
    this.listen();
  }

  imageCanvas(img) {
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    c.getContext('2d').putImageData(img, 0, 0);
    return c;
  }

  // mode: side | split | overlay; overlay: diff | colour; heightColours: the split view
  // shows the heights in colour instead of the shadings.
  setMode(mode, overlay, heightColours) {
    const e = this.els, one = mode !== 'side';
    this.mode = mode;
    if (overlay) this.overlay = overlay;
    this.heightColours = !!heightColours;
    if (mode === 'split' && this.heightColours && !this.heights) {
      const h = heightImages(this.pair.maps[0], this.pair.maps[1], this.diff);
      this.heights = { lo: h.lo, hi: h.hi, canvases: h.images.map((img) => this.imageCanvas(img)) };
    }
    this.pair.painter = one ? this.painter : null;
    e.other.hidden = one;
    e.figure.classList.toggle('single', one);
    e.handle.hidden = mode !== 'split';
    e.overlayOpts.hidden = mode !== 'overlay';
    e.splitOpts.hidden = mode !== 'split';
    const bar = mode === 'overlay' && this.overlay === 'diff' ? 'diff' : mode === 'split' && this.heightColours ? 'heights' : '';
    e.bar.hidden = !bar;
    if (bar) this.paintBar(bar);
    e.overlayLegend.hidden = !(mode === 'overlay' && this.overlay === 'colour');
    e.caption.textContent = mode === 'split'
      ? `Split: A, questioned, left of the divider; B, candidate registered onto A, right of it (one pixel, one place)${
        this.heightColours ? ', heights in colour' : ''}. A\u2019s cells outlined.`
      : mode === 'overlay' && this.overlay === 'diff'
        ? 'Difference of heights B \u2212 A, each about its mean over the area measured on both; A\u2019s cells outlined.'
        : mode === 'overlay' ? 'Overlay of the two shadings: A magenta, B green; where they agree, grey. A\u2019s cells outlined.'
          : this.sideCaption;
    this.relayout();
    this.placeHandle();
  }

  // Panel 0's canvas is wider alone than beside panel 1: size the canvases again, keeping
  // the place at the centre of the view and the zoom relative to the fitted one.
  relayout() {
    const p = this.pair, c = p.canvases[0], m = p.maps[0], v = p.view;
    const rel = v.s / p.fitScale, cx = (c.width / 2 - v.tx) / v.s, cy = (c.height / 2 - v.ty) / v.s;
    p.resize();
    p.fitScale = Math.min(c.width / m.w, c.height / m.h);
    const s = rel * p.fitScale;
    p.view = { s, tx: c.width / 2 - cx * s, ty: c.height / 2 - cy * s };
    p.draw();
  }

  paint(ctx, canvas, view) {
    const { s, tx, ty } = view, p = this.pair;
    if (this.mode === 'split') {
      const xd = Math.round(this.divider * canvas.width);
      [[0, 0, xd], [1, xd, canvas.width - xd]].forEach(([k, x0, w]) => {
        ctx.save();
        ctx.beginPath();
        ctx.rect(x0, 0, w, canvas.height);
        ctx.clip();
        ctx.setTransform(s, 0, 0, s, tx, ty);
        ctx.drawImage(this.heightColours ? this.heights.canvases[k] : p.offscreen[k], 0, 0);
        ctx.restore();
      });
      // the divider, and which side is which just above the bottom edge
      const d = p.dpr, y = canvas.height - 24 * d;
      ctx.fillStyle = 'rgba(255,255,255,0.9)';
      ctx.fillRect(xd - d, 0, 2 * d, canvas.height);
      ctx.font = `bold ${12 * d}px system-ui, sans-serif`;
      for (const [t, x] of [['A', xd - 20 * d], ['B', xd + 6 * d]]) {
        ctx.fillStyle = 'rgba(0,0,0,0.65)';
        ctx.fillRect(x, y, 14 * d, 16 * d);
        ctx.fillStyle = '#fff';
        ctx.fillText(t, x + 3 * d, y + 12 * d);
      }
      return;
    }
    if (this.overlay === 'colour' && !this.overlayCanvas) {
      this.overlayCanvas = this.imageCanvas(overlayImage(p.shaded[0], p.shaded[1]));
    }
    ctx.setTransform(s, 0, 0, s, tx, ty);
    ctx.drawImage(this.overlay === 'colour' ? this.overlayCanvas : this.diffCanvas, 0, 0);
  }

  setDivider(f) {
    this.divider = Math.min(Math.max(f, 0), 1);
    this.placeHandle();
    this.pair.draw();
  }

  placeHandle() {
    const h = this.els.handle, c = this.pair.canvases[0];
    h.style.left = `${c.offsetLeft + this.divider * c.clientWidth}px`;
    h.style.top = `${c.offsetTop}px`;
    h.style.height = `${c.offsetHeight}px`;
    const v = Math.round(100 * this.divider);
    h.setAttribute('aria-valuenow', String(v));
    h.setAttribute('aria-valuetext', `divider at ${v}% of the width`);
  }

  listen() {
    const h = this.els.handle, c = this.pair.canvases[0], signal = this.abort.signal;
    let drag = false;
    h.addEventListener('pointerdown', (ev) => {
      ev.preventDefault();
      h.setPointerCapture(ev.pointerId);
      h.focus();
      drag = true;
      h.classList.add('dragging');
    }, { signal });
    h.addEventListener('pointermove', (ev) => {
      if (!drag) return;
      const r = c.getBoundingClientRect();
      this.setDivider((ev.clientX - r.left) / r.width);
    }, { signal });
    const end = () => { drag = false; h.classList.remove('dragging'); };
    h.addEventListener('pointerup', end, { signal });
    h.addEventListener('pointercancel', end, { signal });
    h.addEventListener('keydown', (ev) => {
      const step = ev.shiftKey ? 0.1 : 0.01;
      const to = { ArrowLeft: this.divider - step, ArrowDown: this.divider - step, ArrowRight: this.divider + step,
        ArrowUp: this.divider + step, Home: 0, End: 1 }[ev.key];
      if (to === undefined) return;
      ev.preventDefault();
      this.setDivider(to);
    }, { signal });
    // the wheel over the handle zooms the picture under it, as anywhere else on the canvas
    h.addEventListener('wheel', (ev) => {
      ev.preventDefault();
      c.dispatchEvent(new WheelEvent('wheel', { deltaY: ev.deltaY, deltaMode: ev.deltaMode, clientX: ev.clientX,
        clientY: ev.clientY, cancelable: true }));
    }, { passive: false, signal });
    window.addEventListener('resize', () => this.placeHandle(), { signal });
  }

  // The colour bar, of the difference map (kind 'diff': symmetric about 0) or of the heights
  // ('heights'): the ramp and its labels in micrometres.
  paintBar(kind) {
    const e = this.els, r = e.barRamp, ctx = r.getContext('2d'), img = ctx.createImageData(r.width, r.height);
    const map = kind === 'diff' ? (t) => diverging(2 * t - 1) : sequential;
    e.bar.dataset.kind = kind;
    for (let x = 0; x < r.width; x++) {
      const col = map(x / (r.width - 1));
      for (let y = 0; y < r.height; y++) {
        const o = 4 * (y * r.width + x);
        img.data[o] = col[0]; img.data[o + 1] = col[1]; img.data[o + 2] = col[2]; img.data[o + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
    if (kind === 'heights') {
      const { lo, hi } = this.heights;
      e.barLo.textContent = fmtSigned(lo);
      e.barMid.textContent = fmtSigned((lo + hi) / 2);
      e.barHi.textContent = fmtSigned(hi);
      e.barNote.textContent = 'Heights of A and B on one scale, each about its mean over the area measured on both; '
        + 'the limits are the 1st and 99th percentiles of both (beyond them the colour saturates); not measured: dark grey.';
      e.bar.dataset.range = String(hi - lo);
      return;
    }
    const lim = fmtUm(this.diff.range);
    e.barLo.textContent = `\u2212${lim} \u00b5m`;
    e.barMid.textContent = '0 \u00b5m';
    e.barHi.textContent = `+${lim} \u00b5m`;
    e.barNote.textContent = `B \u2212 A, blue where B is lower, red where it is higher; the limits are \u00b1 the 98th percentile `
      + `of |B \u2212 A| (beyond them the colour saturates); measured on both over ${Math.round(100 * this.diff.common)}% `
      + 'of the picture, the rest (not measured on one or both) dark grey.';
    e.bar.dataset.range = String(this.diff.range);
  }

  destroy() {
    this.abort.abort();
    this.pair.painter = null;
  }
}
