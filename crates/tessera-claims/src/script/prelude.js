// Installed once in every sandbox before the admin's script: `console`, `Headers` and `fetch`.
// It receives the two native functions and keeps them private; scripts see only the wrappers.
(function (nativeFetch, nativeLog) {
  "use strict";

  const describe = (value) => {
    if (typeof value === "string") return value;
    if (value instanceof Error) {
      try {
        return String(value);
      } catch {}
    }
    try {
      const json = JSON.stringify(value);
      if (json !== undefined) return json;
    } catch {}
    try {
      return String(value);
    } catch {
      return Object.prototype.toString.call(value);
    }
  };
  const writer = (level) =>
    function (...values) {
      nativeLog(level, values.map(describe).join(" "));
    };
  const console = Object.freeze({
    log: writer("log"),
    info: writer("info"),
    warn: writer("warn"),
    error: writer("error"),
    debug: writer("debug"),
  });

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
    console: fixed(console),
    fetch: fixed(fetch),
    Headers: fixed(Headers),
  });
})
