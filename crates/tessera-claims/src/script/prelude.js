// `fetch` and `Headers`, compiled into a run's context the first time its script touches one of
// them (most scripts never do). It receives the native fetch and keeps it private; scripts see
// only the wrapper.
(function (nativeFetch) {
  "use strict";

  class Headers {
    #map = new Map();
    constructor(init) {
      if (init instanceof Headers) {
        for (const [name, value] of init) this.append(name, value);
      } else if (Array.isArray(init)) {
        for (const [name, value] of init) this.append(name, value);
      } else if (init !== undefined && init !== null) {
        for (const name of Object.keys(init)) this.append(name, init[name]);
      }
    }
    append(name, value) {
      const key = String(name).toLowerCase();
      const previous = this.#map.get(key);
      this.#map.set(key, previous === undefined ? String(value) : previous + ", " + String(value));
    }
    set(name, value) {
      this.#map.set(String(name).toLowerCase(), String(value));
    }
    get(name) {
      const value = this.#map.get(String(name).toLowerCase());
      return value === undefined ? null : value;
    }
    has(name) {
      return this.#map.has(String(name).toLowerCase());
    }
    delete(name) {
      this.#map.delete(String(name).toLowerCase());
    }
    forEach(callback, thisArg) {
      for (const [name, value] of this.#map) callback.call(thisArg, value, name, this);
    }
    entries() {
      return this.#map.entries();
    }
    keys() {
      return this.#map.keys();
    }
    values() {
      return this.#map.values();
    }
    [Symbol.iterator]() {
      return this.#map.entries();
    }
  }

  class Response {
    #body;
    constructor(raw) {
      this.status = raw.status;
      this.statusText = raw.statusText;
      this.ok = raw.status >= 200 && raw.status < 300;
      this.url = raw.url;
      this.redirected = false;
      this.headers = new Headers(raw.headers);
      this.#body = raw.body;
    }
    async text() {
      return this.#body;
    }
    async json() {
      return JSON.parse(this.#body);
    }
  }

  async function fetch(resource, init) {
    const options = init === undefined || init === null ? {} : init;
    const method = options.method === undefined ? "GET" : String(options.method);
    const headers = [];
    for (const [name, value] of new Headers(options.headers)) headers.push(name, value);
    const body = options.body;
    if (body !== undefined && body !== null && typeof body !== "string") {
      throw new TypeError("fetch: only string bodies are supported (use JSON.stringify)");
    }
    return new Response(nativeFetch(String(resource), method, headers, body ?? undefined));
  }

  const fixed = (value) => ({ value, writable: false, enumerable: false, configurable: false });
  Object.defineProperties(globalThis, {
    fetch: fixed(fetch),
    Headers: fixed(Headers),
  });
})
