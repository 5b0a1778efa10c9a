// An import's page follows its progress without a reload: it polls the import's API
// resource every two seconds and reloads once its users are in, to show the results
// list; then it follows the photo step ("photos x of y") until that is done too.
(function () {
  "use strict";
  var card = document.querySelector("[data-import-job]");
  if (!card || card.hasAttribute("data-finished")) return;
  var text = card.querySelector("[data-progress-text]");
  var bar = card.querySelector("[data-progress-bar]");
  var photos = card.querySelector("[data-photos-text]");
  var usersDone = card.hasAttribute("data-users-done");

  // "reload" when the users have just finished, "done" when the photos have too.
  function render(job) {
    if (!usersDone) {
      text.textContent = "Importing: " + job.done + " of " + job.total + " done — " +
        job.imported + " imported, " + job.failed + " failed so far.";
      bar.max = job.total;
      bar.value = job.done;
      return job.status === "done" ? "reload" : "";
    }
    var p = job.photos;
    if (photos) {
      photos.textContent = "Photos: " + p.done + " of " + p.total + " read" +
        (p.status === "done" ? " — finished" : "") + "; " + p.found + " stored" +
        (p.failed ? ", " + p.failed + " refused." : ".");
    }
    return p.status === "done" ? "done" : "";
  }

  function poll() {
    fetch(card.getAttribute("data-status-url"), {credentials: "same-origin",
                                                  headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (job) {
        var state = job ? render(job) : "";
        if (state === "reload") { window.location.reload(); return; }
        if (state === "done") return;
        setTimeout(poll, 2000);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 2000);
})();
