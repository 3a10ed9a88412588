// Live updates: the server pushes rendered section fragments over Server-Sent Events.
(function () {
  "use strict";
  var live = document.getElementById("live");
  function connect() {
    var source = new EventSource("/dashboard/events");
    source.addEventListener("update", function (ev) {
      var data = JSON.parse(ev.data);
      Object.keys(data.sections).forEach(function (id) {
        var el = document.getElementById(id);
        if (el) { el.innerHTML = data.sections[id]; }
      });
      document.body.dataset.version = String(data.version);
      if (live) { live.textContent = "live, updated " + new Date().toISOString().slice(11, 19) + " UTC"; }
    });
    source.onerror = function () {
      if (live) { live.textContent = "reconnecting..."; }
    };
  }
  // Resolving an alert goes through the REST API with the session cookie (SameSite=Strict);
  // the next pushed update removes the row.
  document.addEventListener("click", function (ev) {
    var button = ev.target.closest ? ev.target.closest("button[data-resolve]") : null;
    if (!button) { return; }
    button.disabled = true;
    fetch("/api/v1/alerts/" + encodeURIComponent(button.dataset.resolve) + "/resolve", {
      method: "POST",
      credentials: "same-origin"
    }).then(function (r) {
      button.textContent = r.ok ? "Resolved" : "Failed (" + r.status + ")";
      if (!r.ok) { button.disabled = false; }
    }, function () {
      button.textContent = "Failed (offline)";
      button.disabled = false;
    });
  });
  function api(path, body) {
    return fetch("/api/v1" + path, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body || {})
    }).then(function (r) {
      return r.json().then(function (data) { return {ok: r.ok, status: r.status, data: data}; },
        function () { return {ok: r.ok, status: r.status, data: {}}; });
    });
  }
  function detail(answer) {
    return (answer.data && answer.data.detail) || ("HTTP " + answer.status);
  }
  // Enrolment: create the store (if new) and a one-time token; confirm the code a store shows.
  var form = document.getElementById("enrol-form");
  var result = document.getElementById("enrol-result");
  if (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var id = document.getElementById("enrol-store").value.trim();
      api("/stores", {id: id, name: id}).then(function () {
        return api("/stores/" + encodeURIComponent(id) + "/enrolments", {});
      }).then(function (answer) {
        result.textContent = answer.ok
          ? "On the store's Pi:\nsmartstore agent enrol --cloud " + location.origin + " --token " + answer.data.token +
            "\n(valid until " + answer.data.expires_at + ", once)"
          : "Failed: " + detail(answer);
      });
    });
  }
  document.addEventListener("click", function (ev) {
    var button = ev.target.closest ? ev.target.closest("button[data-confirm], button[data-retire]") : null;
    if (!button) { return; }
    if (button.dataset.confirm) {
      var store = button.dataset.confirm;
      var input = document.querySelector('input[data-code-for="' + CSS.escape(store) + '"]');
      api("/stores/" + encodeURIComponent(store) + "/enrolments/confirm", {code: input ? input.value : ""})
        .then(function (answer) { result.textContent = answer.ok ? answer.data.detail : "Failed: " + detail(answer); });
    } else if (window.confirm("Retire the agent of " + button.dataset.retire + "? Its logins stop working now.")) {
      api("/stores/" + encodeURIComponent(button.dataset.retire) + "/retire", {})
        .then(function (answer) { result.textContent = answer.ok ? answer.data.detail : "Failed: " + detail(answer); });
    }
  });
  connect();
})();
