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
  connect();
})();
