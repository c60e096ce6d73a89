// The process editor: the bpmn-js modeler, a small properties panel, "检查" (check only) and "保存并部署".
// The server validates everything (the same compile as an upload). A save names the version it was based on;
// when someone deployed in between the server refuses it (409) and the diagram stays here, with a download.
(function () {
  "use strict";
  var app = document.getElementById("modeler-app");
  if (!app || typeof BpmnJS === "undefined") { return; }
  var T = JSON.parse(document.getElementById("modeler-texts").textContent);
  var canvasEl = document.getElementById("modeler-canvas");
  var propsEl = document.getElementById("modeler-props");
  var messageEl = document.getElementById("modeler-message");
  var dirtyEl = document.getElementById("dirty-state");
  var baseEl = document.getElementById("base-version");
  var noteEl = document.getElementById("modeler-note");
  var buttons = {
    check: document.getElementById("modeler-check"),
    deploy: document.getElementById("modeler-deploy")
  };

  // In Chinese pages modeler-zh.js provides the translate module (palette, context pad, menus, messages).
  var modeler = new BpmnJS({ container: canvasEl,
                             additionalModules: window.runonceTranslate ? [window.runonceTranslate] : [] });
  window.runonceModeler = modeler; // for the console and the browser tests

  var state = {
    mode: app.getAttribute("data-mode"),
    base: parseInt(app.getAttribute("data-base-version"), 10) || 0,
    deployUrl: app.getAttribute("data-deploy-url"),
    checkUrl: app.getAttribute("data-check-url"),
    fileName: app.getAttribute("data-file-name") || "diagram.bpmn",
    dirty: false,
    busy: false,
    marked: []
  };

  function fill(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (_, key) { return values[key] === undefined ? "" : values[key]; });
  }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") { node.textContent = attrs[key]; } else { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) { if (child) { node.appendChild(child); } });
    return node;
  }

  // --- state shown in the page ----------------------------------------------------------------------
  function setDirty(dirty) {
    state.dirty = dirty;
    app.setAttribute("data-dirty", dirty ? "true" : "false");
    if (dirtyEl) {
      dirtyEl.textContent = dirty ? T.unsaved : (state.deployed ? T.saved : "");
      dirtyEl.className = "badge " + (dirty ? "dirty" : "clean");
      dirtyEl.hidden = !dirtyEl.textContent;
    }
  }
  function setBase(version) {
    state.base = version;
    app.setAttribute("data-base-version", String(version));
    if (baseEl) {
      baseEl.setAttribute("data-version", String(version));
      baseEl.textContent = fill(T.based_on, { version: version });
      baseEl.hidden = false;
    }
  }
  function setBusy(busy) {
    state.busy = busy;
    buttons.check.disabled = busy;
    buttons.deploy.disabled = busy;
    app.setAttribute("data-busy", busy ? "true" : "false");
  }
  function showMessage(kind, nodes, outcome) {
    messageEl.innerHTML = "";
    messageEl.className = "modeler-message flash flash-" + kind;
    messageEl.setAttribute("role", kind === "error" ? "alert" : "status");
    messageEl.setAttribute("data-outcome", outcome || kind);
    nodes.forEach(function (node) { messageEl.appendChild(node); });
    messageEl.hidden = false;
  }
  function p(text, cls) { return el("p", cls ? { "class": cls, text: text } : { text: text }); }

  // --- loading ----------------------------------------------------------------------------------------
  // The whole diagram in view, to the right of the palette (which floats over the canvas's left edge and would
  // otherwise cover the pool's and lanes' labels).
  function fitBesidePalette() {
    var canvas = modeler.get("canvas");
    canvas.zoom("fit-viewport", "auto");
    var palette = canvasEl.querySelector(".djs-palette");
    if (!palette) { return; }
    var covered = palette.getBoundingClientRect().right - canvasEl.getBoundingClientRect().left + 12;
    var width = canvasEl.clientWidth;
    if (covered <= 0 || covered >= width / 2) { return; }
    canvas.zoom(canvas.zoom() * (width - covered) / width);
    var box = canvas.viewbox();
    canvas.viewbox({ x: box.inner.x - covered / box.scale, y: box.y, width: box.width, height: box.height });
  }
  function importXml(xml) {
    return modeler.importXML(xml).then(function () {
      fitBesidePalette();
      clearMark();
      renderProps(null);
      canvasEl.setAttribute("data-state", "ready");
    });
  }
  fetch(app.getAttribute("data-xml-url"), { credentials: "same-origin" })
    .then(function (r) {
      if (!r.ok) { throw new Error(r.status); }
      return r.text();
    })
    .then(function (xml) {
      if (state.mode !== "new") { state.deployedXml = xml; }
      return importXml(xml);
    })
    .then(function () { setDirty(false); })
    .catch(function (err) {
      canvasEl.setAttribute("data-state", "error");
      canvasEl.textContent = T.load_failed;
      if (window.console) { console.error(err); }
    });

  modeler.on("commandStack.changed", function (event) {
    if (event.trigger === "clear") { return; } // a new diagram was imported
    setDirty(true);
    // Refresh the panel (undo, redo, edits on the canvas), unless the designer is typing in it.
    if (!(document.activeElement && propsEl.contains(document.activeElement))) { renderProps(currentElement()); }
  });
  modeler.on("selection.changed", function (event) {
    renderProps(event.newSelection.length === 1 ? event.newSelection[0] : null);
  });
  window.addEventListener("beforeunload", function (event) {
    if (state.dirty) { event.preventDefault(); event.returnValue = ""; }
  });

  // --- marking the element a rejection names ----------------------------------------------------------
  function findElement(id) {
    var registry = modeler.get("elementRegistry");
    var found = registry.get(id);
    if (found) { return found; }
    // a process inside a participant is shown by the participant
    return registry.filter(function (e) {
      var bo = e.businessObject;
      return bo && bo.processRef && bo.processRef.id === id;
    })[0] || null;
  }
  function clearMark() {
    state.marked.forEach(function (element) {
      try { modeler.get("canvas").removeMarker(element, "runonce-error"); } catch (e) { /* gone */ }
    });
    state.marked = [];
    app.removeAttribute("data-marked");
  }
  // Zoom to a readable size (a whole matter fitted to the screen is small) with the element in the middle.
  function centre(element) {
    var canvas = modeler.get("canvas");
    var xs = [], ys = [];
    (element.waypoints || [{ x: element.x, y: element.y }, { x: element.x + element.width, y: element.y + element.height }])
      .forEach(function (point) { xs.push(point.x); ys.push(point.y); });
    var cx = (Math.min.apply(null, xs) + Math.max.apply(null, xs)) / 2;
    var cy = (Math.min.apply(null, ys) + Math.max.apply(null, ys)) / 2;
    if (isNaN(cx) || isNaN(cy)) { return; }
    if (canvas.zoom() < 1) { canvas.zoom(1); }
    var box = canvas.viewbox();
    canvas.viewbox({ x: cx - box.width / 2, y: cy - box.height / 2, width: box.width, height: box.height });
  }
  function addMark(element) {
    var canvas = modeler.get("canvas");
    if (element !== canvas.getRootElement() && state.marked.indexOf(element) < 0) {
      canvas.addMarker(element, "runonce-error");
      state.marked.push(element);
    }
  }
  function markElement(id) {
    clearMark();
    var element = id ? findElement(id) : null;
    if (!element) { return false; }
    addMark(element);
    if (element !== modeler.get("canvas").getRootElement()) {
      modeler.get("selection").select(element);
      centre(element);
    }
    app.setAttribute("data-marked", element.id);
    return true;
  }
  // The deploy gate reports several problems: every element is marked, the first one is shown.
  function markElements(ids) {
    clearMark();
    var found = [];
    ids.forEach(function (id) {
      var element = id ? findElement(id) : null;
      if (element) { addMark(element); if (found.indexOf(element.id) < 0) { found.push(element.id); } }
    });
    if (!found.length) { return false; }
    var first = findElement(found[0]);
    if (first !== modeler.get("canvas").getRootElement()) {
      modeler.get("selection").select(first);
      centre(first);
    }
    app.setAttribute("data-marked", found.join(" "));
    return true;
  }
  function showElement(id) {
    var element = id ? findElement(id) : null;
    if (!element || element === modeler.get("canvas").getRootElement()) { return; }
    modeler.get("selection").select(element);
    centre(element);
  }

  // --- talking to the server --------------------------------------------------------------------------
  function post(url, xml, overrideReason) {
    var body = { xml: xml, base_version: state.base, note: noteEl ? noteEl.value : "" };
    if (overrideReason) { body.override_reason = overrideReason; }
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRFToken": app.getAttribute("data-csrf")
      },
      body: JSON.stringify(body)
    }).then(function (r) {
      var type = r.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") === 0) {
        return r.json().then(function (data) { data.status = r.status; return data; });
      }
      if (r.redirected && r.url.indexOf("/login") >= 0) {
        return { ok: false, error: "signed_out", message: T.signed_out, status: r.status };
      }
      return { ok: false, error: "http", status: r.status };
    });
  }

  function downloadXml(xml) {
    var blob = new Blob([xml], { type: "application/xml" });
    var link = el("a", { href: URL.createObjectURL(blob), download: state.fileName });
    document.body.appendChild(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
  }
  function downloadButton() {
    var button = el("button", { type: "button", "class": "small", id: "modeler-download-mine", text: T.download });
    button.addEventListener("click", function () {
      modeler.saveXML({ format: true }).then(function (result) { downloadXml(result.xml); });
    });
    return button;
  }

  function where(data) {
    var parts = [T.file + ": " + (data.file || state.fileName)];
    if (data.line) { parts.push(T.line + ": " + data.line); }
    if (data.element_id) { parts.push(T.element + ": " + data.element_id); }
    return parts.join(" · ");
  }

  function handle(data, deploying) {
    if (data.ok) {
      if (!deploying) {
        clearMark();
        showMessage("success", [p(data.message)], "checked");
        return;
      }
      clearMark();
      state.deployed = true;
      state.deployedXml = state.sentXml; // the next deploy is compared with this one
      if (data.created && noteEl) { noteEl.value = ""; }
      setBase(data.version);
      setDirty(false);
      if (data.deploy_url && state.mode === "new") {
        // from now on this is an edit of the process just created
        state.mode = "edit";
        state.deployUrl = data.deploy_url;
        state.checkUrl = data.check_url;
        state.fileName = data.process_id + ".bpmn";
        app.setAttribute("data-mode", "edit");
        app.setAttribute("data-process-id", data.process_id);
        if (window.history && data.edit_url) { window.history.replaceState(null, "", data.edit_url); }
      }
      var link = el("a", { href: data.versions_url, text: data.process_id + " v" + data.version });
      showMessage(data.created ? "success" : "info", [el("p", {}, [document.createTextNode(data.message + " "), link])],
        data.created ? "deployed" : "unchanged");
      return;
    }
    if (data.error === "conflict") {
      var actions = [downloadButton()];
      if (data.latest_url) {
        actions.push(el("a", { "class": "button small", href: data.latest_url, target: "_blank", rel: "noopener",
          text: T.open_latest }));
      }
      showMessage("error", [el("p", {}, [el("strong", { text: T.conflict })]), p(data.message), p(T.kept),
        el("div", { "class": "actions" }, actions)], "conflict");
      return;
    }
    if (data.error === "rejected" && data.problems) {
      showProblems(data, deploying);
      return;
    }
    if (data.error === "rejected") {
      var nodes = [el("p", {}, [el("strong", { text: deploying ? T.rejected : T.rejected_check })]), p(data.message),
        p(where(data), "mono")];
      var marked = data.in_editor === false ? false : markElement(data.element_id);
      if (!marked) { clearMark(); }
      if (data.element_id && data.in_editor === false) { nodes.push(p(T.not_in_editor, "muted")); }
      showMessage("error", nodes, "rejected");
      return;
    }
    var nodes2 = [p(data.message || fill(T.failed, { status: data.status }))];
    if (deploying) { nodes2.push(el("div", { "class": "actions" }, [downloadButton()])); }
    showMessage("error", nodes2, data.error || "failed");
  }

  // The deploy gate's answer: every problem listed and marked; data-flow findings alone may be overridden.
  function showProblems(data, deploying) {
    var list = el("ul", { "class": "gate-problems", id: "gate-problems" });
    data.problems.forEach(function (problem) {
      var item = el("li", { "data-element": problem.element_id || "", "data-kind": problem.kind }, [
        document.createTextNode(problem.message + " "),
        el("span", { "class": "mono", text: where(problem) })
      ]);
      if (problem.element_id && problem.in_editor) {
        item.className = "clickable";
        item.addEventListener("click", function () { showElement(problem.element_id); });
      } else if (problem.element_id) {
        item.appendChild(p(T.not_in_editor, "muted"));
      }
      list.appendChild(item);
    });
    var ids = data.problems.filter(function (problem) { return problem.in_editor; })
      .map(function (problem) { return problem.element_id; });
    if (!markElements(ids)) { clearMark(); }
    var nodes = [el("p", {}, [el("strong", { text: deploying ? T.rejected : T.rejected_check })]), p(data.message),
      p(T.problems), list];
    if (data.overridable) {
      var reason = el("textarea", { id: "modeler-override-reason", rows: 2, maxlength: 500 });
      var button = el("button", { type: "button", id: "modeler-override", "class": "small", text: T.override_button });
      var hint = p(T.override_label, "muted");
      button.addEventListener("click", function () {
        if (!reason.value.trim()) { reason.focus(); hint.textContent = T.override_missing; return; }
        run(true, reason.value.trim());
      });
      nodes.push(el("div", { "class": "override" }, [hint, reason, el("div", { "class": "actions" }, [button])]));
    }
    showMessage("error", nodes, "rejected");
  }

  function run(deploying, overrideReason) {
    if (state.busy) { return; }
    setBusy(true);
    showMessage("info", [p(deploying ? T.saving : T.checking)], "busy");
    modeler.saveXML({ format: true })
      .then(function (result) {
        state.sentXml = result.xml;
        return post(deploying ? state.deployUrl : state.checkUrl, result.xml, deploying ? overrideReason : null);
      })
      .then(function (data) { handle(data, deploying); })
      .catch(function (err) {
        showMessage("error", [p(T.offline), el("div", { "class": "actions" }, [downloadButton()])], "failed");
        if (window.console) { console.error(err); }
      })
      .then(function () { setBusy(false); });
  }
  buttons.check.addEventListener("click", function () { run(false); });
  buttons.deploy.addEventListener("click", function () { confirmDeploy(); });

  // --- deploying asks first, showing what changed against the deployed version ---------------------------
  var BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL";
  function signature(node) {
    // The element's own attributes and its children that are not elements of their own (documentation,
    // conditions, scripts, properties, lane members): a change in any of them is a change of the element.
    var parts = [node.localName];
    Array.prototype.slice.call(node.attributes).filter(function (a) { return a.name !== "id"; })
      .map(function (a) { return a.name + "=" + a.value; }).sort().forEach(function (a) { parts.push(a); });
    var serializer = new XMLSerializer();
    Array.prototype.forEach.call(node.children, function (child) {
      if (!child.getAttribute("id")) { parts.push(serializer.serializeToString(child).replace(/\s+/g, " ")); }
    });
    return parts.join("|");
  }
  function elementsOf(xml) {
    var out = {};
    if (!xml) { return out; }
    var doc = new DOMParser().parseFromString(xml, "application/xml");
    Array.prototype.forEach.call(doc.getElementsByTagNameNS(BPMN_NS, "*"), function (node) {
      var id = node.getAttribute("id");
      if (id && node.localName !== "definitions") {
        out[id] = { name: node.getAttribute("name") || "", type: node.localName, sig: signature(node) };
      }
    });
    return out;
  }
  function changesAgainstDeployed(xml) {
    var before = elementsOf(state.deployedXml), after = elementsOf(xml);
    var diff = { added: [], removed: [], changed: [] };
    Object.keys(after).forEach(function (id) {
      if (!before[id]) { diff.added.push([id, after[id]]); }
      else if (before[id].sig !== after[id].sig) { diff.changed.push([id, after[id]]); }
    });
    Object.keys(before).forEach(function (id) { if (!after[id]) { diff.removed.push([id, before[id]]); } });
    return diff;
  }
  function changeList(kind, entries) {
    if (!entries.length) { return null; }
    var items = entries.slice(0, 30).map(function (entry) {
      return el("li", { "data-element-id": entry[0] }, [
        document.createTextNode(entry[1].name || entry[0]), el("code", { text: " " + entry[0] })]);
    });
    if (entries.length > 30) { items.push(el("li", { text: "…" })); }
    return el("div", { "class": "deploy-diff", "data-kind": kind }, [
      el("strong", { text: T["diff_" + kind] + " (" + entries.length + ")" }), el("ul", {}, items)]);
  }
  function confirmDeploy() {
    if (state.busy) { return; }
    modeler.saveXML({ format: true }).then(function (result) {
      var diff = changesAgainstDeployed(result.xml);
      var nodes = [p(state.deployedXml ? T.confirm_deploy.replace("%(version)s", String(state.base + 1))
                                       : T.confirm_deploy_new)];
      if (state.deployedXml && !diff.added.length && !diff.removed.length && !diff.changed.length) {
        nodes.push(p(T.diff_none, "muted"));
      }
      ["added", "removed", "changed"].forEach(function (kind) {
        var list = changeList(kind, diff[kind]);
        if (list) { nodes.push(list); }
      });
      var yes = el("button", { type: "button", id: "modeler-deploy-confirm", "class": "primary", text: T.confirm_yes });
      var no = el("button", { type: "button", id: "modeler-deploy-cancel", text: T.confirm_no });
      yes.addEventListener("click", function () { run(true); });
      no.addEventListener("click", function () { messageEl.hidden = true; });
      nodes.push(el("div", { "class": "actions" }, [yes, no]));
      showMessage("info", nodes, "confirm");
      yes.focus();
    });
  }
  document.getElementById("modeler-download").addEventListener("click", function () {
    modeler.saveXML({ format: true }).then(function (result) { downloadXml(result.xml); });
  });
  document.getElementById("modeler-open").addEventListener("change", function (event) {
    var file = event.target.files && event.target.files[0];
    if (!file) { return; }
    var reader = new FileReader();
    reader.onload = function () {
      importXml(String(reader.result)).then(function () {
        setDirty(true);
        messageEl.hidden = true;
      }).catch(function (err) {
        var why = err.message || String(err);
        if (window.runonceTranslateMessage) { why = window.runonceTranslateMessage(why); }
        showMessage("error", [p(fill(T.open_failed, { error: why }))], "open-failed");
      });
    };
    reader.readAsText(file);
    event.target.value = "";
  });

  // --- properties panel ---------------------------------------------------------------------------------
  var ID_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
  var selected = null;

  function currentElement() {
    if (!selected) { return null; }
    return modeler.get("elementRegistry").get(selected.id) || null;
  }
  function documentationOf(bo) {
    var docs = bo.get ? bo.get("documentation") : bo.documentation;
    return docs && docs.length ? docs[0].text || "" : "";
  }
  function textField(label, value, opts, onChange) {
    var id = "prop-" + opts.key;
    var input = opts.multiline
      ? el("textarea", { id: id, rows: opts.rows || 4, "class": opts.prose ? "prose" : "code", spellcheck: "false" })
      : el("input", { id: id, type: "text", autocomplete: "off", spellcheck: "false" });
    input.value = value || "";
    if (opts.readonly) { input.readOnly = true; input.className += " readonly"; }
    var error = el("p", { "class": "error", hidden: "hidden" });
    input.addEventListener("change", function () {
      var problem = onChange(input.value);
      error.textContent = problem || "";
      error.hidden = !problem;
    });
    return el("div", { "class": "field" }, [el("label", { "for": id, text: label }), input, error]);
  }

  function renderProps(element) {
    selected = element;
    var canvas = modeler.get("canvas");
    var modeling = modeler.get("modeling");
    var target = element;
    if (!target) {
      try { target = canvas.getRootElement(); } catch (e) { return; }
    }
    if (!target || !target.businessObject) { propsEl.innerHTML = ""; return; }
    var bo = target.businessObject;
    // The main process: the root itself, or the process of the (single) participant.
    var process = null;
    if (bo.$type === "bpmn:Process") { process = bo; }
    if (bo.$type === "bpmn:Participant" || bo.$type === "bpmn:Collaboration") {
      var participant = bo.$type === "bpmn:Participant" ? bo : (bo.participants || [])[0];
      process = participant && participant.processRef;
    }
    var type = bo.$type.replace(/^bpmn:/, "");
    var nodes = [el("h2", { text: element ? T.prop_type + ": " + type : T.prop_type + ": Process" })];
    if (!element) { nodes.push(p(T.select_hint, "muted")); }
    var subject = element ? bo : (process || bo);
    var moddleTarget = function (props) {
      if (subject === bo) { modeling.updateProperties(target, props); } else { modeling.updateModdleProperties(target, subject, props); }
    };
    var idLocked = state.mode === "edit" && subject === process;
    nodes.push(textField(T.prop_id, subject.id, { key: "id", readonly: idLocked }, function (value) {
      value = value.trim();
      if (value === subject.id) { return null; }
      if (!ID_PATTERN.test(value)) { return T.prop_id_invalid; }
      if (modeler.get("moddle").ids.assigned(value)) { return T.prop_id_taken; }
      moddleTarget({ id: value });
      if (subject === process && state.mode === "new") { state.fileName = value + ".bpmn"; }
      return null;
    }));
    nodes.push(textField(T.prop_name, subject.name, { key: "name", multiline: true, rows: 2, prose: true }, function (value) {
      if (element && subject === bo) {
        modeling.updateLabel(target, value);
      } else {
        moddleTarget({ name: value });
      }
      return null;
    }));
    if (subject.$type === "bpmn:ScriptTask") {
      nodes.push(textField(T.prop_script, subject.script, { key: "script", multiline: true, rows: 8 }, function (value) {
        modeling.updateProperties(target, { script: value });
        return null;
      }));
    }
    if (subject.$type === "bpmn:SequenceFlow") {
      var condition = subject.conditionExpression ? subject.conditionExpression.body : "";
      nodes.push(textField(T.prop_condition, condition, { key: "condition", multiline: true, rows: 3 }, function (value) {
        var expression = value.trim()
          ? modeler.get("bpmnFactory").create("bpmn:FormalExpression", { body: value })
          : undefined;
        modeling.updateProperties(target, { conditionExpression: expression });
        return null;
      }));
    }
    if (subject.$type === "bpmn:CallActivity") {
      nodes.push(textField(T.prop_called, subject.calledElement, { key: "called" }, function (value) {
        modeling.updateProperties(target, { calledElement: value.trim() });
        return null;
      }));
    }
    nodes.push(textField(T.prop_documentation, documentationOf(subject), { key: "documentation", multiline: true,
      rows: 5, prose: true }, function (value) {
      var docs = value.trim() ? [modeler.get("bpmnFactory").create("bpmn:Documentation", { text: value })] : [];
      moddleTarget({ documentation: docs });
      return null;
    }));
    propsEl.innerHTML = "";
    nodes.forEach(function (node) { propsEl.appendChild(node); });
  }
})();
