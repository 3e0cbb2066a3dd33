// The console works without JavaScript; this only adds comfort: confirmation before a
// destructive action, JSON checked as it is typed, one-click copy of a secret shown once,
// line numbers of code fields that follow typing, and their JavaScript coloured.
"use strict";
document.addEventListener("submit", (event) => {
  const question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
for (const area of document.querySelectorAll("textarea[data-json]")) {
  const check = () => {
    const text = area.value.trim();
    let message = "";
    if (text !== "") {
      try {
        const value = JSON.parse(text);
        if (value === null || typeof value !== "object" || Array.isArray(value)) {
          message = "This must be a JSON object: { … }";
        }
      } catch (error) {
        message = "Not valid JSON: " + error.message;
      }
    }
    area.setCustomValidity(message);
    area.setAttribute("aria-invalid", message ? "true" : "false");
    area.title = message;
  };
  area.addEventListener("input", check);
}
for (const pre of document.querySelectorAll("pre[data-copy]")) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "button quiet";
  button.textContent = "Copy";
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(pre.textContent);
      button.textContent = "Copied";
    } catch (_) {
      button.textContent = "Select and press Ctrl+C";
    }
  });
  pre.insertAdjacentElement("afterend", button);
}
for (const input of document.querySelectorAll("input[data-copy]")) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "button quiet";
  button.textContent = "Copy";
  button.addEventListener("click", async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
      button.textContent = "Copied";
    } catch (_) {
      button.textContent = "Press Ctrl+C";
    }
  });
  input.insertAdjacentElement("afterend", button);
}
// Code fields (the custom-claims script editor). In a block: nothing here is a global.
{
  // JavaScript, cut into the tokens the script editor colours. A small scanner, not one
  // regular expression: it keeps the state a regular expression cannot (open braces and
  // template substitutions, whether a `/` may start a regular expression here). It never
  // fails: text it does not understand is left plain, an unterminated string, comment or
  // template runs to the end of its line or of the text. Returns [start, end, kind, ...]:
  // ascending, never overlapping; what lies between is plain.
  const JS_KEYWORDS = new Set(
    ("const let var function async await return if else for while do switch case break continue new " +
      "typeof instanceof in of try catch finally throw class extends super this yield delete void " +
      "import export default static get set").split(" "),
  );
  const JS_LITERALS = new Set(["null", "undefined", "true", "false"]);
  // The names a custom-claims script is given or calls.
  const JS_NAMES = new Set([
    "getCustomJwtClaims", "token", "context", "environmentVariables", "api", "denyAccess", "fetch", "console",
  ]);
  // After these an expression starts, so a `/` begins a regular expression, not a division.
  const JS_BEFORE_EXPRESSION = new Set(
    "return typeof instanceof in of new delete void throw case do else yield await extends".split(" "),
  );
  const JS_IDENTIFIER = /[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*/uy;
  const JS_NUMBER =
    /(?:0[xX][\da-fA-F_]*|0[oO][0-7_]*|0[bB][01_]*|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?[\d_]+)?)n?/y;

  function isDigit(c) {
    return c >= "0" && c <= "9";
  }

  function isWordChar(c) {
    return (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || isDigit(c) || c === "_" || c === "$";
  }

  function tokenizeJs(text) {
    const n = text.length;
    const marks = [];
    const mark = (start, end, kind) => {
      if (end > start) {
        marks.push(start, Math.min(end, n), kind);
      }
    };
    // One entry per open `{` ("{") or template substitution ("${"), so that a `}` knows
    // whether it closes a block or returns into a template's text.
    const open = [];
    let regexAllowed = true; // at the start of an expression: `/` begins a regex
    let property = false; // just after `.` or `?.`: a name here is a property, not a keyword
    // Template text from `i` (an opening "`", or just after the `}` of a substitution) to
    // the closing "`", or to the next "${", or to the end of the text.
    const template = (i, opening) => {
      let j = opening ? i + 1 : i;
      while (j < n) {
        const c = text[j];
        if (c === "\\") {
          j += 2;
        } else if (c === "`") {
          mark(i, j + 1, "string");
          regexAllowed = false;
          return j + 1;
        } else if (c === "$" && text[j + 1] === "{") {
          mark(i, j, "string");
          mark(j, j + 2, "punct");
          open.push("${");
          regexAllowed = true;
          return j + 2;
        } else {
          j++;
        }
      }
      mark(i, n, "string");
      return n;
    };
    // The end of a regular expression literal starting at `i`, or -1 if there is none
    // (a regex cannot span lines).
    const regexEnd = (i) => {
      let inClass = false;
      for (let j = i + 1; j < n; j++) {
        const c = text[j];
        if (c === "\n" || (c === "\\" && text[j + 1] === "\n")) {
          return -1;
        } else if (c === "\\") {
          j++;
        } else if (c === "[") {
          inClass = true;
        } else if (c === "]") {
          inClass = false;
        } else if (c === "/" && !inClass) {
          j++;
          while (j < n && isWordChar(text[j])) {
            j++; // flags
          }
          return j;
        }
      }
      return -1;
    };
    let i = 0;
    while (i < n) {
      const c = text[i];
      const next = text[i + 1];
      if (c === " " || c === "\t" || c === "\n" || c === "\r") {
        i++;
      } else if (c === "/" && next === "/") {
        const end = text.indexOf("\n", i);
        const stop = end < 0 ? n : end;
        mark(i, stop, "comment");
        i = stop;
      } else if (c === "/" && next === "*") {
        const end = text.indexOf("*/", i + 2);
        const stop = end < 0 ? n : end + 2;
        mark(i, stop, "comment");
        i = stop;
      } else if (c === '"' || c === "'") {
        let j = i + 1;
        while (j < n && text[j] !== c && text[j] !== "\n") {
          j += text[j] === "\\" ? 2 : 1;
        }
        j = Math.min(j < n && text[j] === c ? j + 1 : j, n);
        mark(i, j, "string");
        i = j;
        regexAllowed = property = false;
      } else if (c === "`") {
        i = template(i, true);
        property = false;
      } else if (c === "}" && open.length > 0 && open[open.length - 1] === "${") {
        open.pop();
        mark(i, i + 1, "punct");
        i = template(i + 1, false);
        property = false;
      } else if (c === "/") {
        const end = regexAllowed ? regexEnd(i) : -1;
        if (end > 0) {
          mark(i, end, "regex");
          i = end;
          regexAllowed = false;
        } else {
          i++; // a division
          regexAllowed = true;
        }
        property = false;
      } else if (isDigit(c) || (c === "." && isDigit(next))) {
        JS_NUMBER.lastIndex = i;
        const end = JS_NUMBER.exec(text) ? JS_NUMBER.lastIndex : i + 1;
        mark(i, end, "number");
        i = end;
        regexAllowed = property = false;
      } else if (isWordChar(c) || c > "\u007f") {
        JS_IDENTIFIER.lastIndex = i;
        if (!JS_IDENTIFIER.exec(text)) {
          i++; // not a letter: a space such as U+00A0, or a character JavaScript rejects
          continue;
        }
        const end = JS_IDENTIFIER.lastIndex;
        const word = text.slice(i, end);
        let kind = "";
        if (JS_NAMES.has(word)) {
          kind = "name";
        } else if (property) {
          kind = ""; // `promise.catch`, `options.default`: properties, not keywords
        } else if (JS_KEYWORDS.has(word)) {
          kind = "keyword";
        } else if (JS_LITERALS.has(word)) {
          kind = "literal";
        }
        if (kind !== "") {
          mark(i, end, kind);
        }
        regexAllowed = kind === "keyword" && JS_BEFORE_EXPRESSION.has(word);
        property = false;
        i = end;
      } else if (c === "." && next === "." && text[i + 2] === ".") {
        i += 3; // spread: an expression follows
        regexAllowed = true;
        property = false;
      } else if (c === "." || (c === "?" && next === "." && !isDigit(text[i + 2]))) {
        i += c === "." ? 1 : 2;
        property = true;
      } else {
        if (c === "{") {
          open.push("{");
        } else if (c === "}") {
          open.pop();
        }
        // After `)`, `]` or a postfix `++`/`--` a value ends: `/` divides. After any other
        // punctuation (including `}`, which usually ends a block) an expression may start.
        const twice = (c === "+" || c === "-") && next === c;
        i += twice ? 2 : 1;
        regexAllowed = !(twice || c === ")" || c === "]");
        property = false;
      }
    }
    return marks;
  }

  // The coloured copy of a code field: one inline element per line (its text and its line
  // break), so an edit rebuilds only the lines that changed, not a 2,000-line script.
  function highlightLines(text) {
    const marks = tokenizeJs(text);
    const lines = [];
    let k = 0;
    let start = 0;
    for (;;) {
      const newline = text.indexOf("\n", start);
      const end = newline < 0 ? text.length : newline;
      const parts = []; // kind, text, kind, text…; kind "" is plain text
      let shape = ""; // the kinds and lengths of the parts: with the text, the line's key
      let at = start;
      while (k < marks.length && marks[k] < end) {
        const from = Math.max(marks[k], start);
        const to = Math.min(marks[k + 1], end);
        if (from > at) {
          parts.push("", text.slice(at, from));
          shape += `,${from - at}`;
        }
        if (to > from) {
          parts.push(marks[k + 2], text.slice(from, to));
          shape += `,${marks[k + 2]}${to - from}`;
        }
        at = to;
        if (marks[k + 1] > end) {
          break; // the token goes on on the next line
        }
        k += 3;
      }
      if (end > at) {
        parts.push("", text.slice(at, end));
        shape += `,${end - at}`;
      }
      if (newline >= 0) {
        parts.push("", "\n");
      }
      lines.push({ key: `${shape}|${text.slice(start, newline + 1 || text.length)}`, parts, node: null });
      if (newline < 0) {
        return lines;
      }
      start = newline + 1;
    }
  }

  function lineNode(parts) {
    const line = document.createElement("span");
    for (let p = 0; p < parts.length; p += 2) {
      if (parts[p] === "") {
        line.appendChild(document.createTextNode(parts[p + 1]));
      } else {
        const token = document.createElement("span");
        token.className = "tok-" + parts[p];
        token.textContent = parts[p + 1];
        line.appendChild(token);
      }
    }
    return line;
  }

  // The editor: the line numbers follow what is typed and scroll with the text; the number
  // of the line an error was reported on stays marked. Behind the textarea, whose own text
  // is made transparent, a copy of the text in colour, scrolled with it. The copy is hidden
  // from assistive technology; the textarea stays the labelled control.
  for (const area of document.querySelectorAll("textarea[data-code]")) {
    const editor = area.parentElement;
    const gutter = editor.querySelector(".code-gutter");
    const bad = Number(area.getAttribute("data-error-line") || 0);
    const overlay = document.createElement("pre");
    overlay.className = "code-highlight";
    overlay.setAttribute("aria-hidden", "true");
    const code = document.createElement("code");
    overlay.appendChild(code);
    area.insertAdjacentElement("beforebegin", overlay);
    editor.classList.add("highlighted");
    let shown = [];
    const scroll = () => {
      gutter.scrollTop = area.scrollTop;
      code.style.transform = `translate(${-area.scrollLeft}px, ${-area.scrollTop}px)`;
    };
    const render = () => {
      const text = area.value;
      const lines = highlightLines(text);
      const rows = Math.min(Math.max(lines.length + 5, 16), 2000);
      if (area.rows !== rows) {
        area.rows = rows;
      }
      const numbers = Math.max(rows, lines.length + 5);
      if (gutter.childElementCount !== numbers) {
        const fragment = document.createDocumentFragment();
        for (let n = 1; n <= numbers; n++) {
          const span = document.createElement("span");
          span.textContent = String(n);
          if (n === bad) {
            span.className = "bad";
          }
          fragment.appendChild(span);
        }
        gutter.replaceChildren(fragment);
      }
      // Keep the unchanged lines at both ends; rebuild the ones between.
      let same = 0;
      while (same < shown.length && same < lines.length && shown[same].key === lines[same].key) {
        lines[same].node = shown[same].node;
        same++;
      }
      let tail = 0;
      while (
        tail < shown.length - same && tail < lines.length - same &&
        shown[shown.length - 1 - tail].key === lines[lines.length - 1 - tail].key
      ) {
        lines[lines.length - 1 - tail].node = shown[shown.length - 1 - tail].node;
        tail++;
      }
      for (let l = same; l < shown.length - tail; l++) {
        shown[l].node.remove();
      }
      const fresh = document.createDocumentFragment();
      for (let l = same; l < lines.length - tail; l++) {
        lines[l].node = lineNode(lines[l].parts);
        fresh.appendChild(lines[l].node);
      }
      code.insertBefore(fresh, tail > 0 ? lines[lines.length - tail].node : null);
      shown = lines;
      scroll();
    };
    // Typing renders at most once a frame, however fast the keys come.
    let pending = false;
    const schedule = () => {
      if (!pending) {
        pending = true;
        requestAnimationFrame(() => {
          pending = false;
          render();
        });
      }
    };
    area.addEventListener("input", schedule);
    area.addEventListener("scroll", scroll);
    area.form?.addEventListener("reset", schedule);
    window.addEventListener("pageshow", schedule); // a value the browser restored
    render();
  }
}
