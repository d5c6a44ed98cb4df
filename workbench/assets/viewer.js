// The candidate view's pictures: height maps from the server, shaded here under a light the
// examiner moves, in two views that pan and zoom together, with the CMC cells drawn on top.

// Height map as GET .../heights sends it: "IBXH", version 1, width, height (uint32),
// micrometres per pixel, shrink factor (float32), then the heights (float32, micrometres,
// NaN where not measured), all little-endian.
export function decodeHeights(buf) {
  const dv = new DataView(buf);
  const magic = String.fromCharCode(dv.getUint8(0), dv.getUint8(1), dv.getUint8(2), dv.getUint8(3));
  if (buf.byteLength < 24 || magic !== 'IBXH' || dv.getUint32(4, true) !== 1) {
    throw new Error('the server sent something that is not a height map');
  }
  const w = dv.getUint32(8, true), h = dv.getUint32(12, true);
  if (buf.byteLength !== 24 + 4 * w * h) throw new Error('truncated height map');
  const z = new Float32Array(w * h);
  for (let i = 0; i < w * h; i++) z[i] = dv.getFloat32(24 + 4 * i, true);
  return { w, h, umPerPx: dv.getFloat32(16, true), factor: dv.getFloat32(20, true), z };
}

// Lambertian shading of the relief: the normal from central differences of the heights
// (one-sided next to the border and to missing points), heights multiplied by the
// exaggeration; the light comes from `azimuth` degrees clockwise from the top of the picture,
// `elevation` degrees above the surface.
export function shade(hm, light) {
  const { w, h, z, umPerPx } = hm;
  const az = light.azimuth * Math.PI / 180, el = light.elevation * Math.PI / 180;
  const lx = Math.sin(az) * Math.cos(el), ly = -Math.cos(az) * Math.cos(el), lz = Math.sin(el);
  const k = light.exaggeration / (2 * umPerPx);
  const img = new ImageData(w, h);
  const p = img.data;
  const slope = (a, c, b) => {
    if (a === a && b === b) return (b - a) * k;
    if (b === b) return (b - c) * 2 * k;
    if (a === a) return (c - a) * 2 * k;
    return 0;
  };
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x, o = 4 * i, c = z[i];
      p[o + 3] = 255;
      if (c !== c) { // not measured
        p[o] = 170; p[o + 1] = 180; p[o + 2] = 195;
        continue;
      }
      const gx = slope(x > 0 ? z[i - 1] : NaN, c, x < w - 1 ? z[i + 1] : NaN);
      const gy = slope(y > 0 ? z[i - w] : NaN, c, y < h - 1 ? z[i + w] : NaN);
      let v = (-gx * lx - gy * ly + lz) / Math.sqrt(gx * gx + gy * gy + 1);
      if (v < 0) v = 0;
      const s = 0.08 + 0.92 * v;
      p[o] = 255 * s; p[o + 1] = 236 * s; p[o + 2] = 204 * s;
    }
  }
  return img;
}

function cssColour(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

// A nice scale-bar length: 1, 2 or 5 times a power of ten micrometres.
function niceLength(um) {
  const p = Math.pow(10, Math.floor(Math.log10(um)));
  const m = um / p;
  return (m >= 5 ? 5 : m >= 2 ? 2 : 1) * p;
}

export class PairView {
  // canvases [questioned, candidate]; maps [hq, hc] of one size (the candidate is
  // registered onto the questioned grid); cells as GET .../candidates/ROW lists them.
  constructor(canvases, maps, cells, light, onSelect) {
    this.canvases = canvases;
    this.maps = maps;
    this.cells = cells;
    this.light = { ...light };
    this.onSelect = onSelect;
    this.selected = -1;
    this.showCells = true;
    // What paints panel 0 instead of the shaded A when set (compare_views.js: the split
    // view, the difference map, the overlay): paint(ctx, canvas, view) with the canvas's
    // identity transform; relight() when the shading changes.
    this.painter = null;
    this.offscreen = maps.map((m) => {
      const c = document.createElement('canvas');
      c.width = m.w;
      c.height = m.h;
      return c;
    });
    this.view = { s: 1, tx: 0, ty: 0 };
    this.renders = 0;
    this.colours = {
      congruent: cssColour('--congruent', '#1a9641'), high: cssColour('--high', '#f08c00'),
      not: cssColour('--not', '#d7191c'), unused: cssColour('--unused', '#7a8794'),
      selected: cssColour('--selected', '#ffd400'),
    };
    this.resize();
    this.fit();
    this.shadeAll();
    this.listen();
  }

  get dpr() { return window.devicePixelRatio || 1; }

  resize() {
    const m = this.maps[0];
    for (const c of this.canvases) {
      const cssW = Math.max(200, c.clientWidth || 480);
      const cssH = Math.min(Math.round(cssW * m.h / m.w), 720);
      c.style.height = cssH + 'px';
      c.width = Math.round(cssW * this.dpr);
      c.height = Math.round(cssH * this.dpr);
    }
  }

  fit() {
    const m = this.maps[0], c = this.canvases[0];
    const s = Math.min(c.width / m.w, c.height / m.h);
    this.fitScale = s;
    this.view = { s, tx: (c.width - m.w * s) / 2, ty: (c.height - m.h * s) / 2 };
    this.draw();
  }

  setLight(light) {
    this.light = { ...this.light, ...light };
    this.shadeAll();
  }

  shadeAll() {
    this.shaded = this.maps.map((m) => shade(m, this.light));
    this.shaded.forEach((img, k) => this.offscreen[k].getContext('2d').putImageData(img, 0, 0));
    if (this.painter && this.painter.relight) this.painter.relight();
    this.draw();
  }

  select(n) {
    this.selected = n;
    this.draw();
  }

  // The cell's rectangle on panel k in canvas pixels, or null where it is not shown.
  cellRect(cell, k) {
    let x = cell.x, y = cell.y;
    if (k === 1) {
      if (!cell.found) return null;
      x = cell.found.x;
      y = cell.found.y;
    }
    const f = this.maps[0].factor, { s, tx, ty } = this.view;
    return { x: tx + x / f * s, y: ty + y / f * s, w: cell.w / f * s, h: cell.h / f * s };
  }

  cellClass(c) {
    return !c.used ? 'unused' : c.congruent ? 'congruent' : c.congruent_high ? 'high' : 'not';
  }

  draw() {
    const { s, tx, ty } = this.view;
    const order = { unused: 0, not: 1, high: 2, congruent: 3 };
    const cells = [...this.cells].sort((a, b) => order[this.cellClass(a)] - order[this.cellClass(b)]);
    this.canvases.forEach((canvas, k) => {
      const ctx = canvas.getContext('2d');
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.fillStyle = '#30343a';
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.imageSmoothingEnabled = s < 2;
      if (k === 0 && this.painter) {
        this.painter.paint(ctx, canvas, this.view);
      } else {
        ctx.setTransform(s, 0, 0, s, tx, ty);
        ctx.drawImage(this.offscreen[k], 0, 0);
      }
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      if (this.showCells) {
        for (const c of cells) this.drawCell(ctx, c, k, false);
        const sel = this.cells.find((c) => c.n === this.selected);
        if (sel) this.drawCell(ctx, sel, k, true);
      }
      this.drawScaleBar(ctx, canvas);
    });
    this.renders++;
    for (const c of this.canvases) c.dataset.renders = String(this.renders);
  }

  drawCell(ctx, c, k, selected) {
    const r = this.cellRect(c, k);
    if (!r) return;
    const cls = this.cellClass(c), d = this.dpr;
    ctx.save();
    ctx.lineWidth = (selected ? 4 : 2) * d;
    ctx.strokeStyle = selected ? this.colours.selected : this.colours[cls];
    ctx.setLineDash(cls === 'unused' && !selected ? [4 * d, 3 * d] : []);
    ctx.strokeRect(r.x, r.y, r.w, r.h);
    if (r.w > 22 * d && r.h > 16 * d) {
      const label = String(c.n);
      ctx.font = `${11 * d}px system-ui, sans-serif`;
      const tw = ctx.measureText(label).width;
      ctx.fillStyle = selected ? this.colours.selected : this.colours[cls];
      ctx.fillRect(r.x + 2 * d, r.y + 2 * d, tw + 6 * d, 14 * d);
      ctx.fillStyle = selected || cls === 'high' ? '#000' : '#fff';
      ctx.fillText(label, r.x + 5 * d, r.y + 13 * d);
    }
    ctx.restore();
  }

  drawScaleBar(ctx, canvas) {
    const d = this.dpr, umPerCanvasPx = this.maps[0].umPerPx / this.view.s;
    const um = niceLength(110 * d * umPerCanvasPx), len = um / umPerCanvasPx;
    const label = um >= 1000 ? `${um / 1000} mm` : `${um} \u00b5m`;
    const x = 10 * d, y = canvas.height - 12 * d;
    ctx.save();
    ctx.fillStyle = 'rgba(255,255,255,0.85)';
    ctx.fillRect(x - 5 * d, y - 22 * d, len + 10 * d, 29 * d);
    ctx.fillStyle = '#000';
    ctx.fillRect(x, y - 3 * d, len, 4 * d);
    ctx.font = `${11 * d}px system-ui, sans-serif`;
    ctx.fillText(label, x, y - 8 * d);
    ctx.restore();
  }

  // Canvas pixel of a pointer event on canvas c.
  canvasPoint(c, ev) {
    const r = c.getBoundingClientRect();
    return { x: (ev.clientX - r.left) * c.width / r.width, y: (ev.clientY - r.top) * c.height / r.height };
  }

  // The cell under canvas point p of panel k (the one whose centre is nearest), or -1.
  cellAt(k, p) {
    let best = -1, bestD = Infinity;
    for (const c of this.cells) {
      const r = this.cellRect(c, k);
      if (!r || p.x < r.x || p.y < r.y || p.x > r.x + r.w || p.y > r.y + r.h) continue;
      const dd = (p.x - r.x - r.w / 2) ** 2 + (p.y - r.y - r.h / 2) ** 2;
      if (dd < bestD) { bestD = dd; best = c.n; }
    }
    return best;
  }

  // Where to click for cell n on panel k, in client (CSS) coordinates; null when not shown.
  cellClientPoint(n, k) {
    const c = this.cells.find((x) => x.n === n), canvas = this.canvases[k];
    const r = c && this.cellRect(c, k);
    if (!r) return null;
    const b = canvas.getBoundingClientRect();
    return { x: b.left + (r.x + r.w / 2) * b.width / canvas.width, y: b.top + (r.y + r.h / 2) * b.height / canvas.height };
  }

  listen() {
    let drag = null;
    this.canvases.forEach((c, k) => {
      c.addEventListener('pointerdown', (ev) => {
        c.setPointerCapture(ev.pointerId);
        drag = { k, x: ev.clientX, y: ev.clientY, moved: 0 };
        c.classList.add('dragging');
      });
      c.addEventListener('pointermove', (ev) => {
        if (!drag || drag.k !== k) return;
        const r = c.getBoundingClientRect(), sx = c.width / r.width;
        const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
        drag.moved += Math.abs(dx) + Math.abs(dy);
        drag.x = ev.clientX;
        drag.y = ev.clientY;
        this.view.tx += dx * sx;
        this.view.ty += dy * sx;
        this.draw();
      });
      const end = (ev) => {
        if (!drag || drag.k !== k) return;
        c.classList.remove('dragging');
        if (drag.moved < 4 && ev.type === 'pointerup') {
          const n = this.cellAt(k, this.canvasPoint(c, ev));
          if (n >= 0) {
            this.select(n);
            if (this.onSelect) this.onSelect(n);
          }
        }
        drag = null;
      };
      c.addEventListener('pointerup', end);
      c.addEventListener('pointercancel', end);
      c.addEventListener('wheel', (ev) => {
        ev.preventDefault();
        const p = this.canvasPoint(c, ev);
        let f = Math.exp(-ev.deltaY * 0.0015);
        const s = Math.min(Math.max(this.view.s * f, this.fitScale / 4), this.fitScale * 40);
        f = s / this.view.s;
        this.view.tx = p.x - (p.x - this.view.tx) * f;
        this.view.ty = p.y - (p.y - this.view.ty) * f;
        this.view.s = s;
        this.draw();
      }, { passive: false });
    });
    this.onResize = () => {
      const { s, tx, ty } = this.view, w0 = this.canvases[0].width;
      this.resize();
      const g = this.canvases[0].width / w0;
      this.fitScale *= g;
      this.view = { s: s * g, tx: tx * g, ty: ty * g };
      this.draw();
    };
    window.addEventListener('resize', this.onResize);
  }

  destroy() {
    window.removeEventListener('resize', this.onResize);
  }
}
