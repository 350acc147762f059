// TypeScript types for the TrustPay checkout widget's JavaScript API (`/widget/v1/checkout.js`).

/** The events a widget emits (also dispatched as `trustpay:<name>` DOM events on the host). */
export type TrustPayEventName = 'ready' | 'state' | 'error' | 'redirect' | 'close';

/** Widget states, as reported in `state` events. */
export type TrustPayState =
  | 'loading' | 'idle' | 'creating' | 'redirecting' | 'waiting'
  | 'final' | 'still_processing' | 'error';

/**
 * The edge's order state (`checkout-core::state::OrderState`). `underpaid`: TrustPay reported
 * less than the order amount; the order is not paid and the merchant settles the rest.
 */
export type TrustPayOrderStatus =
  | 'pending' | 'paid' | 'underpaid' | 'settled' | 'failed' | 'expired'
  | 'refunding' | 'partially_refunded' | 'refunded' | 'unknown';

/** The `detail` of every event. */
export interface TrustPayEventDetail {
  type: TrustPayEventName;
  /** The widget state when the event fired. */
  state: TrustPayState;
  /** The order status, while waiting and once final. */
  status?: TrustPayOrderStatus;
  /** The order number, once final. */
  order_no?: string;
  /**
   * Once final, when the edge sends one: its signed, short-lived client result
   * (`v1.<payload>.<mac>`). Post it to your backend and verify it there with
   * `CLIENT_RESULT_SECRET`; never trust the browser's word alone.
   */
  result_token?: string;
  /**
   * `error` only: a stable code. `network`, `bad_response`, `load_failed`, or an edge API code
   * such as `intent_expired`, `gateway_rejected`, `rate_limited`.
   */
  code?: string;
  /** `redirect` only: the payment page URL. */
  url?: string;
}

export type TrustPayListener = (detail: TrustPayEventDetail) => void;

export interface TrustPayMountOptions {
  /** The edge base URL, e.g. `https://pay.example.com`. Defaults to the script's `data-edge` or origin. */
  edge?: string;
  /** A checkout intent minted by your backend (`POST /v1/intents`). */
  intent?: string;
  /** Or: fetch one when the shopper clicks pay. */
  fetchIntent?: () => Promise<string> | string;
  /**
   * A BCP 47 tag (`en`, `zh-CN`, `zh-TW`, `es`, `fr`, `de`, `pt-BR`, `ja`, `ko`, `hi`, `ar`, `ru`, `id`, `tr`, `vi`) or `auto` (default: negotiate from `navigator.languages`).
   * English is built in; another locale's texts are fetched on demand (English if that fails).
   */
  locale?: string;
  /** `popup` (default; new tab if blocked, plus a "reopen payment page" link) or `redirect`. */
  mode?: 'popup' | 'redirect';
  /** `auto` (default, follows `prefers-color-scheme`), `light` or `dark`. Colours via `--tp-*` custom properties. */
  theme?: 'auto' | 'light' | 'dark';
  /**
   * Text overrides. Keys: a phrase (`declined`, `paid`, `pay_amount` — keep `{amount}`), or a
   * specific message (`state.paid`, `trustpay.880017`, `api.intent_expired`, `ui.waiting`).
   */
  messages?: Record<string, string>;
  /** Called for every event. */
  onEvent?: TrustPayListener;
}

export interface TrustPayHandle {
  /** Listen to one event. Returns the handle (chainable). */
  on(event: TrustPayEventName, listener: TrustPayListener): TrustPayHandle;
  /** Unmount: removes listeners, stops tracking, timers and requests in flight. */
  destroy(): void;
  /**
   * Current widget state: `loading` until the pay button is drawn (at once, before the wasm is
   * in; a click then is queued and acted on once when it is), `destroyed` after destroy().
   */
  readonly state: TrustPayState | 'destroyed';
  /** Resolves once mounted; rejects (and shows a localized fallback) if the widget can't load. */
  readonly ready: Promise<TrustPayHandle>;
}

export interface TrustPayCheckoutApi {
  mount(target: Element | string, options?: TrustPayMountOptions): TrustPayHandle;
  /** Resolves when the wasm is loaded and has taken over the script tag's widget, if any. */
  readonly ready: Promise<TrustPayCheckoutApi>;
  /** The widget version, once loaded. */
  readonly version: string;
}

declare global {
  interface Window {
    TrustPayCheckout: TrustPayCheckoutApi;
  }
  interface HTMLElementTagNameMap {
    'trustpay-checkout': HTMLElement & { readonly handle: unknown };
  }
  interface HTMLElementEventMap {
    'trustpay:ready': CustomEvent<TrustPayEventDetail>;
    'trustpay:state': CustomEvent<TrustPayEventDetail>;
    'trustpay:error': CustomEvent<TrustPayEventDetail>;
    'trustpay:redirect': CustomEvent<TrustPayEventDetail>;
    'trustpay:close': CustomEvent<TrustPayEventDetail>;
  }
}
