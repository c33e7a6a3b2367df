// Ironvisor console: the instance page's serial console as a terminal.
// console.js loads this after the vendored xterm.js (static/xterm/). The
// <pre> it replaces stays in the page, hidden, for the no-script view.
// Output is long-polled from data-follow; keys go to data-input as the
// raw body of a POST carrying the session's anti-forgery token in
// X-Ironvisor-CSRF.
(function () {
  "use strict";
  var pre = document.querySelector("pre[data-terminal]");
  if (!pre || typeof Terminal !== "function") { return; }
  var nonce = pre.getAttribute("data-style-nonce");
  var csrf = pre.getAttribute("data-csrf");
  var inputURL = pre.getAttribute("data-input");
  var followURL = pre.getAttribute("data-follow");
  var next = Number(pre.getAttribute("data-offset")) || 0;

  // xterm.js writes its geometry and colours into <style> elements; the
  // page's CSP admits them only with this page's nonce.
  if (nonce) {
    var create = document.createElement;
    document.createElement = function (tag, opts) {
      var el = create.call(document, tag, opts);
      if (String(tag).toLowerCase() === "style") { el.nonce = nonce; }
      return el;
    };
  }

  var box = document.createElement("div");
  box.className = "serial-terminal";
  box.setAttribute("role", "application");
  box.setAttribute("aria-labelledby", "console-title");
  pre.parentNode.insertBefore(box, pre);
  pre.hidden = true;
  var nav = document.querySelector(".console-nav");
  if (nav) { nav.hidden = true; }
  var mode = document.getElementById("console-mode");
  if (mode) { mode.textContent = "(interactive: click and type; the instance must be running)"; }

  var term = new Terminal({ scrollback: 5000, cursorBlink: true, screenReaderMode: false });
  term.open(box);

  function note(text) { term.write("\r\n\x1b[2m[" + text + "]\x1b[0m\r\n"); }

  // follow long-polls the output and writes it; on failure it rests.
  function follow() {
    var url = followURL + "?offset=" + encodeURIComponent(String(next)) + "&wait=20s";
    fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok || r.redirected) { throw new Error("console output: HTTP " + r.status); }
      return r.json();
    }).then(function (c) {
      if (c.output) { term.write(c.output); }
      var idle = !c.output && c.next === next;
      next = c.next;
      // An instance that is not running answers at once: don't spin.
      setTimeout(follow, idle ? 2000 : 0);
    }, function () {
      setTimeout(follow, 3000);
    });
  }

  // Keys are sent in order, each batch after the last was answered.
  var pending = "";
  var sending = false;
  function send() {
    if (sending || !pending) { return; }
    var body = pending;
    pending = "";
    sending = true;
    fetch(inputURL, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/octet-stream", "X-Ironvisor-CSRF": csrf },
      body: body
    }).then(function (r) {
      if (r.status === 409) { note("the instance is not running: keys not sent"); }
      else if (!r.ok) { note("keys not sent: HTTP " + r.status); }
    }, function () {
      note("keys not sent: no connection");
    }).then(function () {
      sending = false;
      send();
    });
  }
  term.onData(function (d) { pending += d; send(); });

  follow();
})();
