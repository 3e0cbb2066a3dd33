// OAuth 2.0 Form Post Response Mode: send the response to the application as soon as the
// page is ready. The page keeps a Continue button for when this script cannot run.
(function () {
  "use strict";
  function submit() {
    var form = document.forms[0];
    if (form) {
      // The prototype's method, in case a field is named "submit" and shadows it.
      HTMLFormElement.prototype.submit.call(form);
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", submit);
  } else {
    submit();
  }
})();
