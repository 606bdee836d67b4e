// A list that keeps only its visible rows in the DOM: a spacer as tall as every row
// together, and as many row elements as the view shows, moved and refilled as the user
// scrolls. Rows are all
// as tall as the scroller's --row-height (app.css), so any row's place is known.

import { h } from "./dom.js";

const OVERSCAN = 8;

export class VirtualList {
  /**
   * @param scroller the element that scrolls (overflow: auto)
   * @param createRow () => a new row element
   * @param renderRow (row, index) => fills a row with the index'th item
   */
  constructor(scroller, { createRow, renderRow }) {
    this.scroller = scroller;
    this.createRow = createRow;
    this.renderRow = renderRow;
    this.count = 0;
    this.spacer = h("div", { class: "virtual-spacer" });
    scroller.appendChild(this.spacer);
    this.rows = new Map(); // index -> row element
    this.frame = 0;
    this.rowHeight = this.#measure();
    this.onScroll = () => this.schedule();
    scroller.addEventListener("scroll", this.onScroll, { passive: true });
    this.resizer = new ResizeObserver(() => {
      const height = this.#measure();
      if (height !== this.rowHeight) {
        this.rowHeight = height;
        this.#resize();
        this.refresh();
      } else this.schedule();
    });
    this.resizer.observe(scroller);
  }

  #measure() {
    const value = parseFloat(getComputedStyle(this.scroller).getPropertyValue("--row-height"));
    return Number.isFinite(value) && value > 0 ? value : 32;
  }

  #resize() {
    this.spacer.style.height = `${this.count * this.rowHeight}px`;
  }

  /** Set how many rows there are; visible rows are drawn again. */
  setCount(count) {
    this.count = count;
    this.#resize();
    this.refresh();
  }

  /** Draw every visible row again (their items changed). */
  refresh() {
    for (const row of this.rows.values()) row.dataset.index = "";
    this.draw();
  }

  schedule() {
    if (!this.frame) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.draw();
      });
    }
  }

  /** Whether the view shows the last row. */
  atEnd(slack = 2) {
    const { scrollTop, clientHeight, scrollHeight } = this.scroller;
    return scrollTop + clientHeight >= scrollHeight - slack * this.rowHeight;
  }

  scrollToEnd() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.draw();
  }

  /** Scroll so that row `index` shows: "nearest" moves as little as needed, "center" centres it. */
  scrollToIndex(index, mode = "nearest") {
    const top = index * this.rowHeight;
    const { scrollTop, clientHeight } = this.scroller;
    if (mode === "center") {
      this.scroller.scrollTop = Math.max(top - clientHeight / 2 + this.rowHeight / 2, 0);
    } else if (top < scrollTop) {
      this.scroller.scrollTop = top;
    } else if (top + this.rowHeight > scrollTop + clientHeight) {
      this.scroller.scrollTop = top + this.rowHeight - clientHeight;
    }
    this.draw();
  }

  /** The row element of `index`, if it is drawn. */
  rowAt(index) {
    return this.rows.get(index);
  }

  draw() {
    const height = this.rowHeight;
    const { scrollTop, clientHeight } = this.scroller;
    const first = Math.max(Math.floor(scrollTop / height) - OVERSCAN, 0);
    const last = Math.min(
      Math.ceil((scrollTop + clientHeight) / height) + OVERSCAN,
      this.count - 1,
    );
    const free = [];
    for (const [index, row] of this.rows) {
      if (index < first || index > last) {
        this.rows.delete(index);
        free.push(row);
      }
    }
    for (let index = first; index <= last; index += 1) {
      let row = this.rows.get(index);
      if (!row) {
        // A row that left the view is moved and refilled where it is: no node is added.
        row = free.pop() || this.spacer.appendChild(this.createRow());
        this.rows.set(index, row);
      }
      if (row.dataset.index !== String(index)) {
        row.dataset.index = String(index);
        row.style.transform = `translateY(${index * height}px)`;
        this.renderRow(row, index);
      }
    }
    for (const row of free) row.remove(); // more than the view needs now
  }

  destroy() {
    cancelAnimationFrame(this.frame);
    this.resizer.disconnect();
    this.scroller.removeEventListener("scroll", this.onScroll);
  }
}
