// The tenant page's provisioning card follows a bulk bind without a reload: it polls
// the tenant's status.json every two seconds until the latest bulk bind is finished.
(function () {
  "use strict";
  var card = document.querySelector("[data-provisioning]");
  if (!card) return;
  var progress = card.querySelector("[data-progress]");
  if (!progress || progress.hasAttribute("data-finished")) return;

  function render(data) {
    Object.keys(data.counts || {}).forEach(function (state) {
      var cell = card.querySelector('[data-count="' + state + '"]');
      if (cell) cell.textContent = data.counts[state];
    });
    var run = data.progress;
    if (!run) return true;
    var text = "Bulk bind: " + run.done + " of " + run.total + " done" +
      (run.failed ? ", " + run.failed + " failed" : "") + (run.finished ? " — finished." : ".");
    progress.querySelector("[data-progress-text]").textContent = text;
    var bar = progress.querySelector("[data-progress-bar]");
    bar.max = run.total;
    bar.value = run.done + run.failed;
    return run.finished;
  }

  function poll() {
    fetch(card.getAttribute("data-status-url"), {credentials: "same-origin",
                                                  headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data && render(data)) return;
        setTimeout(poll, 2000);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 2000);
})();
