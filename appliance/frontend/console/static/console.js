// Ironvisor console: progressive enhancement only. Every page works
// without this script; with it, the parts marked data-live refresh every
// few seconds, and an instance's serial console follows new output.
(function () {
  "use strict";
  var period = 3000;

  // refresh re-fetches this page and swaps each [data-live] element for
  // the fresh one with the same id. The server escaped every value, and
  // DOMParser never runs scripts.
  function refresh() {
    if (document.hidden) { return Promise.resolve(); }
    return fetch(location.href, { credentials: "same-origin", headers: { "X-Ironvisor-Live": "1" } }).then(function (r) {
      if (!r.ok || r.redirected) { throw new Error("refresh: " + r.status); }
      return r.text();
    }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      document.querySelectorAll("[data-live]").forEach(function (el) {
        var fresh = el.id && doc.getElementById(el.id);
        if (fresh) { el.replaceWith(document.importNode(fresh, true)); }
      });
    });
  }

  // follow appends the console's new output from its data-next offset.
  function follow(pre) {
    var url = pre.getAttribute("data-follow") + "?offset=" + encodeURIComponent(pre.getAttribute("data-next"));
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok || r.redirected) { throw new Error("console: " + r.status); }
      return r.json();
    }).then(function (c) {
      if (!c.output) { return; }
      var atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.appendChild(document.createTextNode(c.output));
      // Keep the page bounded: drop the oldest text past 1 MiB.
      var text = pre.textContent;
      if (text.length > (1 << 20)) { pre.textContent = text.slice(text.length - (1 << 20)); }
      pre.setAttribute("data-next", String(c.next));
      if (atEnd) { pre.scrollTop = pre.scrollHeight; }
      if (c.more) { return follow(pre); }
    });
  }

  function loop(fn) {
    var again = function () { setTimeout(function () { loop(fn); }, period); };
    fn().then(again, again);
  }

  // loadTerminal brings in the vendored xterm.js and terminal.js, which
  // turn the serial console into an interactive terminal (same origin,
  // so the CSP allows them).
  function loadTerminal() {
    var css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = "/console/static/xterm/xterm.css";
    document.head.appendChild(css);
    var lib = document.createElement("script");
    lib.src = "/console/static/xterm/xterm.js";
    lib.onload = function () {
      var term = document.createElement("script");
      term.src = "/console/static/terminal.js";
      document.head.appendChild(term);
    };
    document.head.appendChild(lib);
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (document.querySelector("[data-live]")) { loop(refresh); }
    var pre = document.querySelector("pre[data-follow]");
    if (pre && pre.hasAttribute("data-terminal")) {
      loadTerminal();
    } else if (pre) {
      pre.scrollTop = pre.scrollHeight;
      loop(function () { return document.hidden ? Promise.resolve() : follow(pre); });
    }
  });
})();
