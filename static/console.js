// The console works without JavaScript; this only adds comfort: confirmation before a
// destructive action, JSON checked as it is typed, one-click copy of a secret shown once.
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
