// <trustpay-checkout intent="..." locale="..." mode="..." theme="..." edge="...">
//
// Rust can't extend HTMLElement without eval, so the element class is this file. The build
// appends it (with `export` dropped) to the wasm-bindgen output; tests import it as a module.
// It only forwards the lifecycle: mount on connect / attribute change, destroy on disconnect.
export function defineElement(mountElement) {
  if (!window.customElements || customElements.get('trustpay-checkout')) return;
  customElements.define('trustpay-checkout', class extends HTMLElement {
    static get observedAttributes() { return ['intent', 'locale', 'mode', 'theme', 'edge']; }
    connectedCallback() { this._mount(); }
    disconnectedCallback() { this._destroy(); }
    attributeChangedCallback() { if (this.isConnected && this._h) this._mount(); }
    _destroy() { if (this._h) { this._h.destroy(); this._h = null; } }
    _mount() { this._destroy(); this._h = mountElement(this); }
    get handle() { return this._h || null; }
  });
}
