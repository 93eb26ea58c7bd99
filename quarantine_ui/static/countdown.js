// Live countdown to the release of held mail. Progressive enhancement: without this script the
// page shows the release time and the minutes left as rendered by the server.
(function () {
  "use strict";
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function tick() {
    var now = Date.now() / 1000;
    var items = document.querySelectorAll(".countdown[data-release]");
    for (var i = 0; i < items.length; i++) {
      var el = items[i];
      var left = Math.max(0, Math.round(Number(el.getAttribute("data-release")) - now));
      if (left === 0) {
        el.textContent = el.getAttribute("data-done") || "";
        continue;
      }
      var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
      var clock = (h ? h + ":" + pad(m) : String(m)) + ":" + pad(s);
      el.textContent = (el.getAttribute("data-left") || "{time}").replace(/\{\{?time\}\}?/, clock);
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    window.setInterval(tick, 1000);
  });
})();
