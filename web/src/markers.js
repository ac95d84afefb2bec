// The map's markers: buttons (Tab, Enter; the clusters' counts need no
// glyph server) in one layer over the map. Unlike one MapLibre Marker per
// button (its own listeners, its own update per frame), the layer adds a
// redraw's new buttons in one DOM insertion, keeps those that did not
// change, and moves them all in one pass per frame, writing positions
// only, so a view of a few hundred clusters stays within a short task.
export class MarkerLayer {
  constructor(map) {
    this.map = map;
    this.items = new Map(); // key → { el, lngLat }
    this.box = document.createElement('div');
    this.box.className = 'markers';
    map.getCanvasContainer().appendChild(this.box);
    const place = () => this.place();
    map.on('move', place);
    map.on('resize', place);
  }

  // set draws entries ([key, lngLat, make] each, make() building the
  // button): buttons whose key is drawn already stay, the others go.
  set(entries) {
    const next = new Map();
    const added = document.createDocumentFragment();
    for (const [key, lngLat, make] of entries) {
      if (next.has(key)) continue;
      let it = this.items.get(key);
      if (it) {
        this.items.delete(key);
      } else {
        it = { el: make(), lngLat };
        added.appendChild(it.el);
      }
      next.set(key, it);
    }
    for (const it of this.items.values()) it.el.remove();
    this.items = next;
    this.place(added.childNodes);
    this.box.appendChild(added);
  }

  // place moves the buttons (all, or the given ones) to their positions.
  place(only) {
    const els = only ? new Set(only) : null;
    for (const it of this.items.values()) {
      if (els && !els.has(it.el)) continue;
      const p = this.map.project(it.lngLat);
      it.el.style.transform = 'translate(' + p.x.toFixed(1) + 'px,' + p.y.toFixed(1) + 'px) translate(-50%,-50%)';
    }
  }
}
