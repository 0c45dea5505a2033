// Live countdowns ("in 3 hr 12 min") and the reader's time zone; no framework, no build.
(function () {
  "use strict";
  var units = JSON.parse(document.body.getAttribute("data-units") || "{}");
  function unit(name, n) {
    var pair = units[name] || ["{n}", "{n}"];
    return (n === 1 ? pair[0] : pair[1]).replace("{n}", String(n));
  }
  // The two largest units, as the server's i18n.format_duration writes them.
  function duration(ms) {
    var s = Math.max(Math.floor(ms / 1000), 0);
    var parts = [["day", Math.floor(s / 86400)], ["hour", Math.floor((s % 86400) / 3600)], ["minute", Math.floor((s % 3600) / 60)]];
    while (parts.length > 1 && parts[0][1] === 0) { parts.shift(); }
    return parts.slice(0, 2).filter(function (p, i) { return p[1] || i === 0; })
      .map(function (p) { return unit(p[0], p[1]); }).join(" ");
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-deadline]").forEach(function (el) {
      el.textContent = duration(Date.parse(el.getAttribute("data-deadline")) - now);
    });
  }
  tick();
  setInterval(tick, 30000);
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && zone !== document.body.getAttribute("data-time-zone")) {
      document.cookie = "wb_tz=" + encodeURIComponent(zone) + "; path=/workbench; max-age=31536000; samesite=lax";
    }
  } catch (e) { /* keep the server's zone */ }
})();
