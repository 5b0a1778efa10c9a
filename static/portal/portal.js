// The portal's two live bits: the password checklist that ticks while the user types
// (the server checks the same rules again), and the connected-services rows that
// refresh while a push is in progress.
(function () {
  "use strict";

  function classesIn(text) {
    var n = 0;
    if (/[a-z]/.test(text)) n++;
    if (/[A-Z]/.test(text)) n++;
    if (/[0-9]/.test(text)) n++;
    if (/[^A-Za-z0-9\s]/.test(text)) n++;
    return n;
  }

  var checks = {
    min_length: function (p, r) { return p.length >= r.value; },
    max_length: function (p, r) { return p.length <= r.value; },
    lowercase: function (p) { return /[a-z]/.test(p); },
    uppercase: function (p) { return /[A-Z]/.test(p); },
    digit: function (p) { return /[0-9]/.test(p); },
    symbol: function (p) { return /[^A-Za-z0-9\s]/.test(p); },
    min_classes: function (p, r) { return classesIn(p) >= r.value; },
    not_contains: function (p, r) {
      var lower = p.toLowerCase();
      return (r.values || []).every(function (v) {
        return !v || v.length < 3 || lower.indexOf(String(v).toLowerCase()) === -1;
      });
    }
  };

  function setupChecklist(form) {
    var data = document.getElementById("password-rules");
    var list = form.querySelector("[data-password-checklist]");
    var input = form.querySelector("[data-password-new]");
    var confirm = form.querySelector("[data-password-confirm]");
    var button = form.querySelector("button[type=submit]");
    if (!data || !list || !input) return;
    var rules = JSON.parse(data.textContent);

    function update() {
      var password = input.value;
      var allOk = true;
      rules.forEach(function (rule) {
        var item = list.querySelector('[data-rule="' + rule.code + '"]');
        var check = checks[rule.kind];
        if (!item) return;
        if (!check) { item.className = "server"; return; }
        var ok = check(password, rule);
        item.className = password ? (ok ? "ok" : "bad") : "pending";
        if (!ok) allOk = false;
      });
      var same = list.querySelector('[data-rule="confirm"]');
      var matches = confirm && password && confirm.value === password;
      if (same) same.className = !confirm || !confirm.value ? "pending" : (matches ? "ok" : "bad");
      if (confirm && !matches) allOk = false;
      button.disabled = !allOk;
      list.setAttribute("data-complete", allOk ? "yes" : "no");
    }

    input.addEventListener("input", update);
    if (confirm) confirm.addEventListener("input", update);
    update();
  }

  function setupServices(section) {
    var url = section.getAttribute("data-url");
    function pending() { return section.querySelector(".state-pending") !== null; }
    function render(rows) {
      var list = section.querySelector(".services");
      list.textContent = "";
      rows.forEach(function (row) {
        var li = document.createElement("li");
        li.className = "service state-" + row.state;
        var name = document.createElement("strong");
        name.textContent = row.service;
        var parts = [name];
        if (row.where) parts.push(document.createTextNode(" · " + row.where + " "));
        var account = document.createElement("span");
        account.className = "muted";
        account.textContent = " " + row.account;
        parts.push(account);
        if (row.state_label) {
          var badge = document.createElement("span");
          badge.className = "badge";
          badge.setAttribute("data-service-state", "");
          badge.textContent = row.state_label;
          parts.push(document.createTextNode(" "), badge);
        }
        var message = document.createElement("p");
        message.setAttribute("data-service-message", "");
        message.textContent = row.message;
        parts.push(message);
        li.append.apply(li, parts);
        list.appendChild(li);
      });
    }
    function poll() {
      if (!pending()) return;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) { if (body) render(body.services); })
        .finally(function () { setTimeout(poll, 2000); });
    }
    setTimeout(poll, 2000);
  }

  document.querySelectorAll("[data-password-form]").forEach(setupChecklist);
  document.querySelectorAll("[data-services]").forEach(setupServices);
})();
