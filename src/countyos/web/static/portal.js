// CountyOS portal: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  // A form submitted once cannot be submitted twice by a double click.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.hasAttribute("hx-post")) { return; }
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (button) { button.disabled = true; });
    }, 0);
  });

  // Import preview: a changed type must be checked before importing.
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.matches || !select.matches("table.preview select[name=types]")) { return; }
    var start = document.getElementById("start-import");
    var check = document.getElementById("check-types");
    if (start) { start.disabled = true; }
    if (check) { check.classList.add("primary"); }
  });
})();
