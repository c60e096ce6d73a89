// Window registration: the credit records of the unified social credit code typed in (staff only; the server
// answers nothing to anyone else). Text only, never HTML from the server.
(function () {
  "use strict";
  var box = document.getElementById("credit-check");
  var input = document.getElementById("applicant_credit_code");
  if (!box || !input || !window.fetch) { return; }
  var shown = "";
  var render = function (records) {
    box.textContent = "";
    if (!records.length) { return; }
    var card = document.createElement("section");
    card.className = "card credit-panel";
    card.id = "credit-records";
    var h = document.createElement("h2");
    h.textContent = box.getAttribute("data-title") + " (" + records.length + ")";
    card.appendChild(h);
    var list = document.createElement("ul");
    list.className = "guide-list";
    records.forEach(function (r) {
      var li = document.createElement("li");
      li.textContent = r.kind + ": " + r.finding + " · " + r.source + " · " + r.recorded_on + " – " + r.expires_on;
      list.appendChild(li);
    });
    card.appendChild(list);
    var note = document.createElement("p");
    note.className = "muted";
    note.textContent = box.getAttribute("data-note");
    card.appendChild(note);
    box.appendChild(card);
  };
  var check = function () {
    var code = (input.value || "").trim().toUpperCase();
    if (code.length !== 18 || code === shown) { return; }
    shown = code;
    fetch(box.getAttribute("data-url") + "?code=" + encodeURIComponent(code), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { records: [] }; })
      .then(function (body) { if (shown === code) { render(body.records || []); } })
      .catch(function () { /* the page still shows the records after submitting */ });
  };
  input.addEventListener("change", check);
  input.addEventListener("input", check);
})();
