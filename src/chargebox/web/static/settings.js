// Settings pages: "set from the browser once" sends the browser's clock with the form.
(function () {
  "use strict";
  var form = document.getElementById("settings-form");
  if (!form) return;
  var now = document.getElementById("browser-now");
  if (now) now.textContent = new Date().toString();
  form.addEventListener("submit", function () {
    var epoch = form.querySelector("input[name=browser_epoch_ms]");
    if (epoch) epoch.value = String(Date.now());
  });
})();
