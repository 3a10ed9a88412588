// One store's page: live sections over Server-Sent Events; commands and acknowledgements go
// through the REST API with the session cookie (the operator's token), so roles and audit apply.
(function () {
  "use strict";
  var store = document.body.dataset.storeId;
  var base = "/api/v1";
  var live = document.getElementById("live");
  var result = document.getElementById("command-result");
  var ackResult = document.getElementById("ack-result");
  var POLL_MS = 1000;
  var GRACE_MS = 2000;
  var zone = document.body.dataset.timeZone || "UTC";

  function clock() {
    try {
      return new Date().toLocaleTimeString("en-GB", {timeZone: zone, hour12: false}) + " " + zone;
    } catch (e) {
      return new Date().toISOString().slice(11, 19) + " UTC";
    }
  }

  function connect() {
    var source = new EventSource("/dashboard/stores/" + encodeURIComponent(store) + "/events");
    source.addEventListener("update", function (ev) {
      var data = JSON.parse(ev.data);
      Object.keys(data.sections).forEach(function (id) {
        var el = document.getElementById(id);
        if (el) { el.innerHTML = data.sections[id]; }
      });
      document.body.dataset.version = String(data.version);
      if (live) { live.textContent = "live, updated " + clock(); }
    });
    source.onerror = function () {
      if (live) { live.textContent = "reconnecting..."; }
    };
  }

  function call(method, path, body) {
    var init = {method: method, credentials: "same-origin", headers: {}};
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(base + path, init).then(function (r) {
      return r.json().then(function (data) { return {ok: r.ok, status: r.status, data: data}; },
        function () { return {ok: r.ok, status: r.status, data: {}}; });
    }, function () { return {ok: false, status: 0, data: {detail: "the cloud did not answer (offline?)"}}; });
  }

  // One clear line for any refusal: 422 lists become "field: message".
  function explain(answer) {
    var d = answer.data && answer.data.detail;
    if (Array.isArray(d)) {
      return d.map(function (e) {
        var loc = (e.loc || []).filter(function (x) { return x !== "body"; }).join(".");
        return (loc ? loc + ": " : "") + e.msg;
      }).join("; ");
    }
    if (typeof d === "string") { return d; }
    if (answer.status === 403) { return "your token may not do this (operator needed)"; }
    return "HTTP " + answer.status;
  }

  function number(form, name) {
    var v = form.elements[name] ? form.elements[name].value.trim() : "";
    return v === "" ? null : Number(v);
  }

  function argsOf(name, form) {
    switch (name) {
      case "unlock": return {duration_s: number(form, "duration_s")};
      case "lockdown": return {active: form.elements.active.value === "true"};
      case "set_mode": return {mode: form.elements.mode.value};
      case "reset_occupancy": return {count: number(form, "count")};
      case "resolve_review": return {
        station_id: form.elements.station_id.value.trim(),
        product_id: form.elements.product_id.value.trim() || null,
        quantity: number(form, "quantity")
      };
      default: return {};
    }
  }

  function describe(cmd) {
    var line = cmd.name + ": " + cmd.status;
    if (cmd.latency_ms !== null && cmd.latency_ms !== undefined) { line += " in " + Math.round(cmd.latency_ms) + " ms"; }
    if (cmd.reply_error) { line += " - " + cmd.reply_error; }
    return line;
  }

  function show(text, state) {
    result.textContent = text;
    result.dataset.state = state;
  }

  // Poll the command until the store answers or its lifetime is over.
  function follow(cmd) {
    var expires = Date.parse(cmd.expires_at);
    function tick() {
      call("GET", "/commands/" + encodeURIComponent(cmd.correlation_id)).then(function (answer) {
        if (!answer.ok) {
          var passing = answer.status === 0 || answer.status >= 500;  // the cloud hiccuped: ask again
          if (passing && (isNaN(expires) || Date.now() <= expires + GRACE_MS)) {
            show(cmd.name + ": sent; the cloud did not answer, asking again...", "sent");
            window.setTimeout(tick, POLL_MS);
          } else {
            show(cmd.name + ": sent; status unknown (" + explain(answer) + ")", "unknown");
          }
          return;
        }
        var now = answer.data;
        if (now.status !== "sent") {
          show(describe(now), now.status);
        } else if (!isNaN(expires) && Date.now() > expires + GRACE_MS) {
          show(cmd.name + ": unanswered (no reply before it expired)", "unanswered");
        } else {
          show(cmd.name + ": sent, waiting for the store's reply...", "sent");
          window.setTimeout(tick, POLL_MS);
        }
      });
    }
    tick();
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target.closest ? ev.target.closest("form[data-command]") : null;
    if (!form) { return; }
    ev.preventDefault();
    var name = form.dataset.command;
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    show(name + ": sending...", "sending");
    call("POST", "/stores/" + encodeURIComponent(store) + "/commands", {
      name: name,
      reason: form.elements.reason.value.trim(),
      args: argsOf(name, form)
    }).then(function (answer) {
      button.disabled = false;
      if (!answer.ok) {
        show(name + ": refused - " + explain(answer), "refused");
        result.scrollIntoView({block: "nearest"});
        return;
      }
      form.elements.reason.value = "";
      var details = form.closest("details");
      if (details) { details.open = false; }  // fold the form so the reply line is in view
      result.scrollIntoView({block: "nearest"});
      follow(answer.data);
    });
  });

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest ? ev.target.closest("button[data-ack-alarm]") : null;
    if (!button) { return; }
    button.disabled = true;
    call("POST", "/alarms/acknowledge", {
      store_id: store, alarm: button.dataset.ackAlarm, source: button.dataset.ackSource
    }).then(function (answer) {
      if (answer.ok) {
        ackResult.textContent = answer.data.alarm + " acknowledged by " + answer.data.acknowledged_by;
      } else {
        ackResult.textContent = "Acknowledge failed: " + explain(answer);
        button.disabled = false;
      }
    });
  });

  connect();
})();
