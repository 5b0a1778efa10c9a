// An import's page follows its progress without a reload: it polls the import's API
// resource every two seconds and reloads once it is done, to show the results list.
(function () {
  "use strict";
  var card = document.querySelector("[data-import-job]");
  if (!card || card.hasAttribute("data-finished")) return;
  var text = card.querySelector("[data-progress-text]");
  var bar = card.querySelector("[data-progress-bar]");

  function render(job) {
    text.textContent = "Importing: " + job.done + " of " + job.total + " done — " +
      job.imported + " imported, " + job.failed + " failed so far.";
    bar.max = job.total;
    bar.value = job.done;
    return job.status === "done";
  }

  function poll() {
    fetch(card.getAttribute("data-status-url"), {credentials: "same-origin",
                                                  headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (job) {
        if (job && render(job)) { window.location.reload(); return; }
        setTimeout(poll, 2000);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 2000);
})();
