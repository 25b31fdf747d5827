// The rule editor: add, remove, reorder rules and conditions, keep each condition's operator
// and value inputs fitting its fact, and on save send the whole draft as one JSON field.
// The server (the policy engine) validates it; this script never judges a rule set.
(function () {
  "use strict";
  var form = document.getElementById("rule-editor");
  if (!form) return;
  var data = JSON.parse(document.getElementById("editor-data").textContent);
  var rulesList = document.getElementById("rules");
  var statusLine = document.getElementById("editor-status");

  function announce(text) {
    statusLine.textContent = "";
    window.setTimeout(function () { statusLine.textContent = text; }, 50);
  }

  function clone(id) {
    return document.getElementById(id).content.firstElementChild.cloneNode(true);
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function labelled(text, control) {
    var label = el("label");
    label.appendChild(el("span", { class: "label-text" }, text));
    label.appendChild(control);
    return label;
  }

  // ---- the value input of one condition, fitting its fact and operator

  function currentValue(cell) {
    var kind = cell.dataset.kind;
    if (kind === "checkboxes") {
      return Array.prototype.map.call(cell.querySelectorAll(".cond-check:checked"), function (box) {
        return box.value;
      });
    }
    var input = cell.querySelector(".cond-input");
    if (!input) return null;
    var raw = input.value.trim();
    if (kind === "bool") return raw === "" ? null : raw === "true";
    if (kind === "number") return raw === "" ? null : toNumber(raw);
    if (kind === "numbers") {
      return raw === "" ? [] : raw.split(",").map(function (part) { return toNumber(part.trim()); });
    }
    return raw === "" ? null : raw;
  }

  function toNumber(text) {
    return /^-?\d+$/.test(text) ? parseInt(text, 10) : text;
  }

  function buildValue(cell, factName, op, keep) {
    var fact = data.facts[factName];
    var many = data.list_operators.indexOf(op) !== -1;
    var wanted = Array.isArray(keep) ? keep : keep === null || keep === undefined ? [] : [keep];
    cell.innerHTML = "";
    var kind = "none";
    if (!fact) {
      cell.appendChild(el("p", { class: "muted" }, "Choose a fact first."));
    } else if (fact.type === "choice" && many) {
      kind = "checkboxes";
      var set = el("fieldset", { class: "cond-values" });
      set.appendChild(el("legend", {}, "Values"));
      fact.values.forEach(function (pair) {
        var box = el("input", { type: "checkbox", class: "cond-check", value: pair[0] });
        box.checked = wanted.indexOf(pair[0]) !== -1;
        var label = el("label", { class: "check" });
        label.appendChild(box);
        label.appendChild(document.createTextNode(" " + pair[1]));
        set.appendChild(label);
      });
      cell.appendChild(set);
    } else if (fact.type === "choice") {
      kind = "select";
      var select = el("select", { class: "cond-input" });
      select.appendChild(el("option", { value: "" }, "Choose a value"));
      fact.values.forEach(function (pair) {
        var option = el("option", { value: pair[0] }, pair[1]);
        option.selected = wanted[0] === pair[0];
        select.appendChild(option);
      });
      cell.appendChild(labelled("Value", select));
    } else if (fact.type === "bool") {
      kind = "bool";
      var yesNo = el("select", { class: "cond-input" });
      [["", "Choose"], ["true", "Yes"], ["false", "No"]].forEach(function (pair) {
        var option = el("option", { value: pair[0] }, pair[1]);
        option.selected = String(wanted[0]) === pair[0];
        yesNo.appendChild(option);
      });
      cell.appendChild(labelled("Value", yesNo));
    } else if (many) {
      kind = "numbers";
      var list = el("input", { type: "text", class: "cond-input", inputmode: "numeric" });
      list.value = wanted.filter(function (v) { return typeof v === "number"; }).join(", ");
      cell.appendChild(labelled("Values (whole numbers, comma between)", list));
    } else {
      kind = "number";
      var number = el("input", { type: "number", class: "cond-input", step: "1", inputmode: "numeric" });
      if (typeof wanted[0] === "number") number.value = String(wanted[0]);
      cell.appendChild(labelled("Value", number));
    }
    cell.dataset.kind = kind;
  }

  function factChanged(condition) {
    var factSelect = condition.querySelector(".cond-fact");
    var opSelect = condition.querySelector(".cond-op");
    var fact = data.facts[factSelect.value];
    var blank = factSelect.querySelector("option[value='']");
    if (blank && factSelect.value) blank.remove();
    var previous = opSelect.value;
    opSelect.innerHTML = "";
    var operators = fact ? fact.operators : Object.keys(data.operators);
    operators.forEach(function (op) {
      opSelect.appendChild(el("option", { value: op }, data.operators[op]));
    });
    opSelect.value = operators.indexOf(previous) !== -1 ? previous : operators[0];
    buildValue(condition.querySelector(".cond-value"), factSelect.value, opSelect.value, null);
  }

  function opChanged(condition) {
    var cell = condition.querySelector(".cond-value");
    var keep = currentValue(cell);
    var blank = condition.querySelector(".cond-op option[value='']");
    if (blank) blank.remove();
    buildValue(cell, condition.querySelector(".cond-fact").value,
      condition.querySelector(".cond-op").value, keep);
  }

  // ---- reading the form into a spec

  function readCondition(node) {
    var fact = node.querySelector(".cond-fact").value;
    var op = node.querySelector(".cond-op").value;
    return { fact: fact || null, op: op || null, value: currentValue(node.querySelector(".cond-value")) };
  }

  function readGroup(group) {
    var kind = group.querySelector(":scope > .group-head .group-kind").value;
    var negate = group.querySelector(":scope > .group-head .group-not").checked;
    var children = Array.prototype.map.call(
      group.querySelector(":scope > .group-children").children,
      function (item) {
        var child = item.firstElementChild;
        return child.classList.contains("group") ? readGroup(child) : readCondition(child);
      }
    );
    // "All of" one condition is that condition: keep stored rules as simple as they were.
    var inner = children.length === 1 ? children[0] : {};
    if (children.length !== 1) inner[kind] = children;
    return negate ? { not: inner } : inner;
  }

  function readRule(item) {
    var rule = {};
    if (item.dataset.ruleId) rule.id = item.dataset.ruleId;
    rule.name = item.querySelector(".rule-name").value.trim();
    var route = item.querySelector(".rule-route").value;
    if (route) rule.route = route;
    rule.also_notify = Array.prototype.map.call(
      item.querySelectorAll(".rule-also:checked"), function (box) { return box.value; }
    );
    rule.enabled = item.querySelector(".rule-enabled").checked;
    rule.rationale = item.querySelector(".rule-rationale").value.trim();
    rule.source = item.querySelector(".rule-source").value.trim();
    rule.when = readGroup(item.querySelector(".conditions > .group"));
    return rule;
  }

  function readGuardrails() {
    var guardrails = {};
    form.querySelectorAll(".guardrail").forEach(function (set) {
      var name = set.dataset.name;
      var enabled = set.querySelector(".guardrail-enabled");
      if (!enabled) {
        guardrails[name] = { enabled: true };
        return;
      }
      var config = { enabled: enabled.checked, reason: set.querySelector(".guardrail-reason").value.trim() };
      var age = set.querySelector(".guardrail-age");
      if (age) config.age = toNumber(age.value.trim());
      guardrails[name] = config;
    });
    return guardrails;
  }

  function readSpec() {
    return {
      rules: Array.prototype.map.call(rulesList.children, readRule),
      default_route: document.getElementById("default-route").value,
      guardrails: readGuardrails(),
    };
  }

  // ---- numbering, adding, removing and moving

  function renumber() {
    Array.prototype.forEach.call(rulesList.children, function (item, i) {
      var n = i + 1;
      item.querySelector(".rule-number").textContent = "Rule " + n;
      item.querySelector(".move-up").setAttribute("aria-label", "Move up: rule " + n);
      item.querySelector(".move-down").setAttribute("aria-label", "Move down: rule " + n);
      item.querySelector(".remove-rule").setAttribute("aria-label", "Remove rule: rule " + n);
      item.querySelector(".move-up").disabled = i === 0;
      item.querySelector(".move-down").disabled = i === rulesList.children.length - 1;
    });
  }

  function addCondition(group) {
    var item = el("li");
    item.appendChild(clone("tpl-leaf"));
    group.querySelector(":scope > .group-children").appendChild(item);
    item.querySelector(".cond-fact").focus();
    announce("Condition added.");
  }

  function addGroup(group) {
    var item = el("li");
    item.appendChild(clone("tpl-group"));
    group.querySelector(":scope > .group-children").appendChild(item);
    item.querySelector(".cond-fact").focus();
    announce("Condition group added.");
  }

  function ruleOf(node) { return node.closest(".rule"); }

  form.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (!button || !form.contains(button)) return;
    var rule = ruleOf(button);
    if (button.id === "add-rule") {
      var fresh = clone("tpl-rule");
      rulesList.appendChild(fresh);
      renumber();
      fresh.querySelector(".rule-name").focus();
      announce("Rule " + rulesList.children.length + " added at the end.");
    } else if (button.classList.contains("move-up") || button.classList.contains("move-down")) {
      var up = button.classList.contains("move-up");
      var sibling = up ? rule.previousElementSibling : rule.nextElementSibling;
      if (!sibling) return;
      rulesList.insertBefore(rule, up ? sibling : sibling.nextElementSibling);
      renumber();
      var again = rule.querySelector(up ? ".move-up" : ".move-down");
      (again.disabled ? rule.querySelector(up ? ".move-down" : ".move-up") : again).focus();
      var position = Array.prototype.indexOf.call(rulesList.children, rule) + 1;
      announce("Moved to position " + position + ".");
    } else if (button.classList.contains("remove-rule")) {
      var name = rule.querySelector(".rule-name").value || "the new rule";
      var next = rule.nextElementSibling || rule.previousElementSibling;
      rule.remove();
      renumber();
      (next ? next.querySelector(".rule-name") : document.getElementById("add-rule")).focus();
      announce("Removed " + name + ". Save the draft to keep the change.");
    } else if (button.classList.contains("add-condition")) {
      addCondition(button.closest(".group"));
    } else if (button.classList.contains("add-group")) {
      addGroup(button.closest(".group"));
    } else if (button.classList.contains("remove-condition") || button.classList.contains("remove-group")) {
      var item = button.closest("li");
      var parentGroup = item.parentElement.closest(".group");
      item.remove();
      parentGroup.querySelector(".add-condition").focus();
      announce(button.classList.contains("remove-group") ? "Group removed." : "Condition removed.");
    }
  });

  form.addEventListener("change", function (event) {
    var target = event.target;
    var condition = target.closest(".condition");
    if (target.classList.contains("cond-fact")) factChanged(condition);
    else if (target.classList.contains("cond-op")) opChanged(condition);
    else if (target.classList.contains("rule-enabled")) {
      ruleOf(target).classList.toggle("rule-off", !target.checked);
    }
  });

  form.addEventListener("input", function (event) {
    if (event.target.classList.contains("rule-name")) {
      ruleOf(event.target).querySelector(".rule-title-name").textContent =
        event.target.value || "New rule";
    }
  });

  form.addEventListener("submit", function () {
    document.getElementById("id_spec").value = JSON.stringify(readSpec());
  });

  renumber();
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();
