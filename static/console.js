// The console works without JavaScript; this only adds comfort: confirmation before a
// destructive action, JSON checked as it is typed, one-click copy of a secret shown once,
// line numbers of code fields that follow typing.
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
// Code fields: the line numbers follow what is typed and scroll with the text; the number
// of the line an error was reported on stays marked.
for (const area of document.querySelectorAll("textarea[data-code]")) {
  const gutter = area.previousElementSibling;
  const bad = Number(area.getAttribute("data-error-line") || 0);
  const render = () => {
    const rows = Math.min(Math.max(area.value.split("\n").length + 5, 16), 2000);
    if (area.rows !== rows) {
      area.rows = rows;
    }
    if (gutter.childElementCount !== rows) {
      const numbers = document.createDocumentFragment();
      for (let n = 1; n <= rows; n++) {
        const span = document.createElement("span");
        span.textContent = String(n);
        if (n === bad) {
          span.className = "bad";
        }
        numbers.appendChild(span);
      }
      gutter.replaceChildren(numbers);
    }
    gutter.scrollTop = area.scrollTop;
  };
  area.addEventListener("input", render);
  area.addEventListener("scroll", () => {
    gutter.scrollTop = area.scrollTop;
  });
  render();
}
