/* chargebox web UI: the firmware upload (XHR with progress events). */
(function () {
  "use strict";
  var form = document.getElementById("fw-form");
  if (!form) return;
  var bar = document.getElementById("fw-progress");
  var percent = document.getElementById("fw-percent");
  var result = document.getElementById("fw-result");
  var text = {};
  try { text = JSON.parse(document.getElementById("fw-text").textContent); } catch (_) { /* none */ }
  function csrf() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"]; } catch (_) { return ""; }
  }
  function show(value) {
    bar.hidden = false;
    bar.value = value;
    percent.textContent = value + " %";
    bar.setAttribute("data-percent", String(value));
  }
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var file = document.getElementById("fw-file").files[0];
    if (!file) return;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.getAttribute("data-upload") + "?name=" + encodeURIComponent(file.name));
    xhr.setRequestHeader("X-CSRF-Token", csrf());
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.addEventListener("progress", function (ev) {
      if (ev.lengthComputable) show(Math.floor(ev.loaded / ev.total * 100));
    });
    xhr.upload.addEventListener("load", function () {
      show(100);
      result.textContent = text.installing || "…";
      result.className = "flash";
    });
    xhr.addEventListener("load", function () {
      var body = {};
      try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      var ok = xhr.status >= 200 && xhr.status < 300;
      if (ok) show(100);
      result.textContent = ok ? body.message : xhr.status + ": " + (body.detail || xhr.statusText);
      result.className = "flash " + (ok ? "ok" : "bad");
      result.setAttribute("data-outcome", ok ? "installed" : "refused");
    });
    xhr.addEventListener("error", function () {
      result.textContent = text.failed || "failed";
      result.className = "flash bad";
      result.setAttribute("data-outcome", "error");
    });
    show(0);
    result.textContent = text.uploading || "…";
    xhr.send(file);
  });
})();
