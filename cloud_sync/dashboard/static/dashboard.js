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
      if (live) { live.textContent = "live, updated " + new Date().toLocaleTimeString(); }
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
  connect();
})();
