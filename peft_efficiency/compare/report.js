/* peft-efficiency comparison page: per group a sortable, filterable table, a Pareto plot (SVG) of quality against
   a chosen cost with hover details and 95% error bars of repeats, and a CSV download of the rows shown.
   Reads the JSON in #report-data; sets data-ready="1" on <html> when every group is drawn. No network. */
(function () {
  'use strict';
  var W = 900, H = 430, M = {l: 70, r: 24, t: 20, b: 50};
  var MAX_POINT_LABELS = 12, MAX_NAMED = 10;
  var data = JSON.parse(document.getElementById('report-data').textContent);

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function svgEl(ns, tag, attrs, text) {
    var node = document.createElementNS(ns, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function trim(v) { return String(Number(v.toPrecision(3))); }
  function compact(v) {
    var a = Math.abs(v);
    if (a >= 1e9) return trim(v / 1e9) + 'B';
    if (a >= 1e6) return trim(v / 1e6) + 'M';
    if (a >= 1e3) return trim(v / 1e3) + 'k';
    return trim(v);
  }
  function finite(v) { return typeof v === 'number' && isFinite(v); }

  function linearTicks(lo, hi) {
    var raw = (hi - lo) / 5, power = Math.pow(10, Math.floor(Math.log10(raw))), step = power;
    [2, 5, 10].forEach(function (f) { if (raw / step > 1.5) step = power * f; });
    var ticks = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
    return ticks;
  }
  function logTicks(lo, hi) {
    var ticks = [], first = Math.floor(Math.log10(lo)), last = Math.ceil(Math.log10(hi));
    var factors = last - first <= 2 ? [1, 2, 5] : [1];
    for (var e = first; e <= last; e++) {
      factors.forEach(function (f) { var v = f * Math.pow(10, e); if (v >= lo && v <= hi) ticks.push(Number(v.toPrecision(12))); });
    }
    return ticks;
  }
  /* A scale over `values` (display units): pixel(v) between `from` and `to`, and its ticks. */
  function scale(values, log, from, to) {
    var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values), pad;
    if (log) { lo = Math.log10(lo); hi = Math.log10(hi); }
    pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.1 || 0.5;
    lo -= pad; hi += pad;
    var s = function (v) { return from + ((log ? Math.log10(v) : v) - lo) / (hi - lo) * (to - from); };
    s.ticks = log ? logTicks(Math.pow(10, lo), Math.pow(10, hi)) : linearTicks(lo, hi);
    return s;
  }
  /* Indices of the points no other point beats on both axes (cost lower, quality per `higher`). */
  function frontier(points, higher) {
    var sorted = points.slice().sort(function (a, b) { return a.x - b.x || (higher ? b.y - a.y : a.y - b.y); });
    var front = [], best = null, i = 0;
    while (i < sorted.length) {
      var j = i, top = sorted[i].y;
      while (j < sorted.length && sorted[j].x === sorted[i].x) j++;
      if (best === null || (higher ? top > best : top < best)) {
        for (var k = i; k < j; k++) if (sorted[k].y === top) front.push(sorted[k]);
        best = top;
      }
      i = j;
    }
    return front;
  }
  function csvField(v) {
    if (v === null || v === undefined) return '';
    var text = typeof v === 'boolean' ? (v ? 'true' : 'false') : String(v);
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function Group(section, g) {
    this.section = section; this.g = g;
    this.tbody = section.querySelector('table.comparison tbody');
    this.trs = [];
    Array.prototype.forEach.call(this.tbody.children, function (tr) { this.trs[+tr.dataset.index] = tr; }, this);
    this.order = g.rows.map(function (_, i) { return i; });
    this.sortColumn = -1; this.sortDirection = 1; this.text = ''; this.method = '';
    this.quality = g.columns.map(function (c) { return c.key; }).indexOf(g.ranked_by);
    var keys = g.columns.map(function (c) { return c.key; });
    this.costs = g.costs.filter(function (c) { return keys.indexOf(c.key) >= 0; });
    this.cost = this.costs.length ? this.costs[0].key : null;
    this.controls(); this.headers(); this.update();
  }
  Group.prototype.controls = function () {
    var self = this, box = this.section.querySelector('div.controls'), g = this.g;
    var filter = el('input', {type: 'search', class: 'filter', placeholder: 'label or method', 'aria-label': 'filter rows'});
    filter.addEventListener('input', function () { self.text = filter.value.trim().toLowerCase(); self.update(); });
    var method = el('select', {class: 'method', 'aria-label': 'method'});
    method.appendChild(el('option', {value: ''}, 'all methods'));
    g.rows.map(function (r) { return r.method; }).filter(function (m, i, all) { return all.indexOf(m) === i; })
      .forEach(function (m) { method.appendChild(el('option', {value: m}, m)); });
    method.addEventListener('change', function () { self.method = method.value; self.update(); });
    var label = el('label', {}, 'Filter '); label.appendChild(filter); box.appendChild(label);
    label = el('label', {}, 'Method '); label.appendChild(method); box.appendChild(label);
    if (this.quality >= 0 && this.costs.length) {
      var cost = el('select', {class: 'cost', 'aria-label': 'cost axis'});
      this.costs.forEach(function (c) { cost.appendChild(el('option', {value: c.key}, c.title)); });
      cost.addEventListener('change', function () { self.cost = cost.value; self.draw(); });
      label = el('label', {}, 'Cost axis '); label.appendChild(cost); box.appendChild(label);
    }
    var download = el('button', {type: 'button', class: 'download'}, 'Download CSV');
    download.addEventListener('click', function () { self.download(); });
    box.appendChild(download);
    this.count = box.appendChild(el('span', {class: 'count'}));
    this.tip = this.section.appendChild(el('div', {class: 'tooltip', role: 'tooltip', hidden: ''}));
  };
  Group.prototype.headers = function () {
    var self = this;
    this.ths = Array.prototype.slice.call(this.section.querySelectorAll('table.comparison thead th'));
    this.ths.forEach(function (th, column) {
      th.setAttribute('data-sort', ''); th.tabIndex = 0;
      var sort = function () { self.sortBy(column); };
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sort(); } });
    });
  };
  /* Sort by a column: ascending, then descending on the next click; missing values last either way. */
  Group.prototype.sortBy = function (column) {
    this.sortDirection = this.sortColumn === column ? -this.sortDirection : 1;
    this.sortColumn = column;
    var rows = this.g.rows, direction = this.sortDirection, text = this.g.columns[column].kind === 'text';
    var value = function (i) {
      var v = rows[i].values[column];
      if (v === null || v === undefined) return null;
      return text ? String(v) : (typeof v === 'boolean' ? +v : v);
    };
    this.order.sort(function (a, b) {
      var va = value(a), vb = value(b);
      if (va === null || vb === null) return (va === null) - (vb === null) || a - b;
      var c = text ? va.localeCompare(vb) : va - vb;
      return c * direction || a - b;
    });
    this.ths.forEach(function (th, i) {
      if (i === column) th.setAttribute('aria-sort', direction > 0 ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
    });
    var fragment = document.createDocumentFragment(), trs = this.trs;
    this.order.forEach(function (i) { fragment.appendChild(trs[i]); });
    this.tbody.appendChild(fragment);
    this.update();
  };
  Group.prototype.shown = function (i) {
    var r = this.g.rows[i];
    if (this.method && r.method !== this.method) return false;
    return !this.text || r.label.toLowerCase().indexOf(this.text) >= 0 || r.method.toLowerCase().indexOf(this.text) >= 0;
  };
  Group.prototype.visible = function () { return this.order.filter(this.shown, this); };
  Group.prototype.update = function () {
    var self = this, visible = 0;
    this.order.forEach(function (i) { var on = self.shown(i); self.trs[i].hidden = !on; visible += on; });
    this.count.textContent = visible + ' of ' + this.g.rows.length + ' rows';
    this.draw();
  };
  Group.prototype.cell = function (i, key) {
    var td = this.trs[i].querySelector('td[data-key="' + key + '"]');
    return td ? td.textContent : null;
  };

  Group.prototype.draw = function () {
    var box = this.section.querySelector('div.plot-box'), g = this.g, self = this;
    box.textContent = '';
    if (this.quality < 0 || !this.cost) {
      box.appendChild(el('p', {class: 'plot-note'}, g.ranked_by ? 'No cost figure to plot.' : 'No quality metric: no Pareto plot.'));
      return;
    }
    var axis = this.costs.filter(function (c) { return c.key === self.cost; })[0];
    var column = g.columns.map(function (c) { return c.key; }).indexOf(axis.key);
    var points = [], skipped = [];
    this.visible().forEach(function (i) {
      var r = g.rows[i], x = r.values[column], y = r.values[self.quality];
      if (!finite(y)) return;
      if (!finite(x) || (axis.log && x <= 0)) { skipped.push(r.short + (finite(x) ? ' (' + compact(x * axis.factor) + ', log axis)' : ' (n/a)')); return; }
      var cx = r.ci[axis.key], cy = r.ci[g.ranked_by];
      points.push({i: i, x: x * axis.factor, y: y, xs: cx ? [cx[0] * axis.factor, cx[1] * axis.factor] : null, ys: cy || null});
    });
    box.innerHTML = '<svg class="pareto" role="img"></svg>';
    var svg = box.firstChild, ns = svg.namespaceURI;
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.setAttribute('data-cost', axis.key);
    svg.setAttribute('aria-label', (g.quality_title || '') + ' against ' + axis.title);
    var add = function (parent, tag, attrs, text) { return parent.appendChild(svgEl(ns, tag, attrs, text)); };
    add(svg, 'text', {class: 'axis-title x', x: (M.l + W - M.r) / 2, y: H - 8, 'text-anchor': 'middle'}, axis.title);
    add(svg, 'text', {class: 'axis-title y', transform: 'translate(14,' + (M.t + H - M.b) / 2 + ') rotate(-90)',
      'text-anchor': 'middle'}, g.quality_title + (g.higher ? ' (higher is better)' : ' (lower is better)'));
    if (points.length) this.plot(svg, add, axis, points);
    else add(svg, 'text', {x: W / 2, y: H / 2, 'text-anchor': 'middle'}, 'no shown row has both figures');
    var note = 'Dashed line and black-edged points: the Pareto frontier of the rows shown. '
      + (points.some(function (p) { return p.xs || p.ys; }) ? 'Bars: 95% intervals of repeated runs. ' : '');
    if (skipped.length) {
      note += 'Not drawn: ' + skipped.slice(0, MAX_NAMED).join(', ')
        + (skipped.length > MAX_NAMED ? ' and ' + (skipped.length - MAX_NAMED) + ' more' : '') + '.';
    }
    box.appendChild(el('p', {class: 'plot-note'}, note));
    var legend = box.appendChild(el('div', {class: 'legend-methods'})), seen = {};
    points.forEach(function (p) {
      var r = g.rows[p.i];
      if (!seen[r.method]) { seen[r.method] = 1; legend.appendChild(el('span', {style: '--c: ' + r.color}, r.method)); }
    });
    svg.addEventListener('mouseover', function (e) { self.hover(e.target); });
    svg.addEventListener('focusin', function (e) { self.hover(e.target); });
    svg.addEventListener('mouseout', function () { self.unhover(); });
    svg.addEventListener('focusout', function () { self.unhover(); });
  };
  Group.prototype.plot = function (svg, add, axis, points) {
    var g = this.g, xv = [], yv = [];
    points.forEach(function (p) { xv.push(p.x); yv.push(p.y); if (p.xs) xv.push(p.xs[0], p.xs[1]); if (p.ys) yv.push(p.ys[0], p.ys[1]); });
    if (axis.log) xv = xv.filter(function (v) { return v > 0; });
    var sx = scale(xv, axis.log, M.l, W - M.r), sy = scale(yv, false, H - M.b, M.t);
    var ticks = add(svg, 'g', {class: 'axis'});
    sx.ticks.forEach(function (v) {
      var t = add(ticks, 'g', {class: 'tick x', 'data-value': v}), x = sx(v).toFixed(1);
      add(t, 'line', {class: 'grid', x1: x, x2: x, y1: M.t, y2: H - M.b});
      add(t, 'text', {x: x, y: H - M.b + 16, 'text-anchor': 'middle'}, compact(v));
    });
    sy.ticks.forEach(function (v) {
      var t = add(ticks, 'g', {class: 'tick y', 'data-value': v}), y = sy(v).toFixed(1);
      add(t, 'line', {class: 'grid', x1: M.l, x2: W - M.r, y1: y, y2: y});
      add(t, 'text', {x: M.l - 6, y: +y + 4, 'text-anchor': 'end'}, trim(v));
    });
    add(ticks, 'path', {d: 'M' + M.l + ',' + M.t + 'V' + (H - M.b) + 'H' + (W - M.r), fill: 'none'});
    var front = frontier(points, g.higher), onFront = {};
    front.forEach(function (p) { onFront[p.i] = 1; });
    if (front.length > 1) {
      var d = 'M' + sx(front[0].x).toFixed(1) + ',' + sy(front[0].y).toFixed(1);
      front.slice(1).forEach(function (p) { d += 'H' + sx(p.x).toFixed(1) + 'V' + sy(p.y).toFixed(1); });
      add(svg, 'path', {class: 'frontier', d: d});
    }
    points.forEach(function (p) {
      var color = g.rows[p.i].color, x = sx(p.x), y = sy(p.y), d = '';
      if (p.xs) d += 'M' + sx(p.xs[0]).toFixed(1) + ',' + (y - 4).toFixed(1) + 'v8M' + sx(p.xs[0]).toFixed(1) + ',' + y.toFixed(1)
        + 'H' + sx(p.xs[1]).toFixed(1) + 'M' + sx(p.xs[1]).toFixed(1) + ',' + (y - 4).toFixed(1) + 'v8';
      if (p.ys) d += 'M' + (x - 4).toFixed(1) + ',' + sy(p.ys[0]).toFixed(1) + 'h8M' + x.toFixed(1) + ',' + sy(p.ys[0]).toFixed(1)
        + 'V' + sy(p.ys[1]).toFixed(1) + 'M' + (x - 4).toFixed(1) + ',' + sy(p.ys[1]).toFixed(1) + 'h8';
      if (d) add(svg, 'path', {class: 'err', d: d, stroke: color, 'data-index': p.i});
    });
    var placed = [];
    points.forEach(function (p) {
      var r = g.rows[p.i], front = onFront[p.i] === 1;
      add(svg, 'circle', {class: 'point' + (front ? ' front' : ''), cx: sx(p.x).toFixed(1), cy: sy(p.y).toFixed(1),
        r: front ? 6 : 4, fill: r.color, 'fill-opacity': 0.85, tabindex: 0, 'data-index': p.i, 'aria-label': r.short});
      if (front && placed.length < MAX_POINT_LABELS) placeLabel(svg, add, placed, sx(p.x), sy(p.y), r.short);
    });
  };
  /* A frontier point's label at the first of four spots beside it that stays inside the plot and overlaps no label
     placed before; none when all four are taken. */
  function placeLabel(svg, add, placed, x, y, text) {
    var w = text.length * 6.6, h = 14;
    var spots = [[8, -7, 'start'], [8, 16, 'start'], [-8, -7, 'end'], [-8, 16, 'end']];
    for (var k = 0; k < spots.length; k++) {
      var left = spots[k][2] === 'start' ? x + spots[k][0] : x + spots[k][0] - w, top = y + spots[k][1] - h + 3;
      var box = [left, top, left + w, top + h];
      if (box[0] < M.l || box[2] > W - M.r || box[1] < 0 || box[3] > H - M.b) continue;
      if (placed.some(function (b) { return box[0] < b[2] && b[0] < box[2] && box[1] < b[3] && b[1] < box[3]; })) continue;
      placed.push(box);
      add(svg, 'text', {class: 'point-label', x: (x + spots[k][0]).toFixed(1), y: (y + spots[k][1]).toFixed(1),
        'text-anchor': spots[k][2]}, text);
      return;
    }
  }
  Group.prototype.hover = function (target) {
    if (!target.classList || !target.classList.contains('point')) return;
    var i = +target.getAttribute('data-index'), r = this.g.rows[i], tip = this.tip, self = this;
    tip.textContent = '';
    tip.appendChild(el('b', {}, r.short));
    var keys = [this.g.ranked_by].concat(this.costs.map(function (c) { return c.key; }));
    this.g.columns.forEach(function (c) {
      if (keys.indexOf(c.key) >= 0 || c.key === 'n') tip.appendChild(el('div', {}, c.title + ': ' + self.cell(i, c.key)));
    });
    tip.appendChild(el('div', {class: 'folder'}, 'folder: ' + r.folder));
    tip.hidden = false;
    target.classList.add('hover');
    var box = this.section.getBoundingClientRect(), point = target.getBoundingClientRect();
    var left = point.right - box.left + 10;
    if (left + tip.offsetWidth > this.section.clientWidth) left = point.left - box.left - tip.offsetWidth - 10;
    tip.style.left = Math.max(0, left) + 'px';
    tip.style.top = (point.bottom - box.top + 6) + 'px';
  };
  Group.prototype.unhover = function () {
    this.tip.hidden = true;
    Array.prototype.forEach.call(this.section.querySelectorAll('circle.hover'), function (c) { c.classList.remove('hover'); });
  };
  /* The rows shown, in the order shown, as CSV: raw values in the units the column keys name, the 95% interval
     bounds of merged rows, and each run's folder. */
  Group.prototype.csv = function () {
    var g = this.g, header = g.columns.map(function (c) { return c.key; });
    g.intervals.forEach(function (k) { header.push(k + '_ci_low', k + '_ci_high'); });
    header.push('folder');
    var lines = [header.map(csvField).join(',')];
    this.visible().forEach(function (i) {
      var r = g.rows[i], cells = r.values.slice();
      g.intervals.forEach(function (k) { var ci = r.ci[k] || [null, null]; cells.push(ci[0], ci[1]); });
      cells.push(r.folder);
      lines.push(cells.map(csvField).join(','));
    });
    return lines.join('\r\n') + '\r\n';
  };
  Group.prototype.download = function () {
    var url = URL.createObjectURL(new Blob([this.csv()], {type: 'text/csv;charset=utf-8'}));
    var link = el('a', {href: url, download: this.g.file});
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
  };

  data.groups.forEach(function (g, index) {
    new Group(document.querySelector('section.group[data-group="' + index + '"]'), g);
  });
  document.documentElement.setAttribute('data-ready', '1');
  window.addEventListener('load', function () {
    var images = Array.prototype.slice.call(document.images);
    var loaded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; }).length;
    document.documentElement.setAttribute('data-images-loaded', loaded + '/' + images.length);
  });
})();
