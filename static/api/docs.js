// "Try it" on the API reference page (templates/api/docs.html).
(function () {
  // The CSRF cookie is HttpOnly, so the token comes from the page itself.
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  document.querySelectorAll("details.try").forEach(function (box) {
    box.querySelector("button").addEventListener("click", function () {
      var path = box.dataset.path, output = box.querySelector("[data-output]");
      box.querySelectorAll("[data-param]").forEach(function (input) {
        path = path.replace("{" + input.dataset.param + "}", encodeURIComponent(input.value.trim()));
      });
      var query = box.querySelector("[data-query]");
      if (query && query.value.trim()) { path += "?" + query.value.trim().replace(/^\?/, ""); }
      var headers = {"Accept": "application/json"}, key = document.getElementById("api-key").value.trim();
      if (key) { headers["Authorization"] = "Bearer " + key; } else { headers["X-CSRFToken"] = csrf; }
      var init = {method: box.dataset.method, headers: headers, credentials: "same-origin"};
      var body = box.querySelector("[data-body]");
      if (body) { headers["Content-Type"] = "application/json"; init.body = body.value; }
      output.hidden = false;
      output.textContent = "…";
      fetch(path, init).then(function (response) {
        return response.text().then(function (text) {
          try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (e) {}
          output.textContent = response.status + " " + response.statusText + "\n" + text;
        });
      }).catch(function (error) { output.textContent = String(error); });
    });
  });
})();
