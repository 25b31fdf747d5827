// Report-an-incident page: the category's follow-up questions first, the student picker
// (across all of the person's schools; picking a student sets the school), the threat words
// toggle, one submit only.
// Plain JS, no build step. Without it the form still works; only the picker needs it.
(function () {
  "use strict";

  var ROLES = [
    ["subject", "Involved in the behaviour"],
    ["target", "Harmed or targeted"],
    ["witness", "Witness"],
  ];

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      node.setAttribute(name, attrs[name]);
    });
    if (text) node.textContent = text;
    return node;
  }

  function setupForm(form) {
    var summary = document.getElementById("error-summary");
    if (summary) summary.focus();

    // One incident per click: the server also dedupes by the idempotency key.
    var submit = document.getElementById("submit-incident");
    form.addEventListener("submit", function () {
      submit.disabled = true;
      submit.textContent = "Sending…";
    });
    window.addEventListener("pageshow", function () {
      submit.disabled = false;
      submit.textContent = "Send report";
    });

    setupFollowUps(form);
    setupThreatWords(form);
    setupPicker(form);
  }

  // The questions the chosen category asks come right after "Is anyone in danger right
  // now?"; the others wait under "More questions". A question already answered, or asked
  // again by the server, always stays in view. Nothing is ever answered for the reporter.
  function setupFollowUps(form) {
    var category = document.getElementById("id_category");
    var main = document.getElementById("follow-ups");
    var more = document.getElementById("more-questions");
    var moreBody = document.getElementById("more-questions-body");
    if (!category || !main || !more || !moreBody) return;
    var blocks = Array.prototype.slice.call(main.querySelectorAll(".question-block"));

    function inView(block) {
      var select = block.querySelector("select");
      return (
        block.querySelector("input:checked") ||
        (select && select.value) ||
        block.querySelector(".errorlist")
      );
    }

    function arrange() {
      var chosen = category.value;
      var waiting = 0;
      blocks.forEach(function (block) {
        var asks = (" " + block.getAttribute("data-for") + " ").indexOf(" " + chosen + " ") >= 0;
        if ((chosen && asks) || inView(block)) {
          main.appendChild(block);
        } else {
          moreBody.appendChild(block);
          waiting += 1;
        }
      });
      more.hidden = waiting === 0;
    }
    category.addEventListener("change", arrange);
    arrange();
  }

  function setupThreatWords(form) {
    var wrapper = document.getElementById("threat-words-field");
    var words = document.getElementById("id_threat_words");
    var category = document.getElementById("id_category");
    if (!wrapper || !words) return;
    function update() {
      var checked = form.querySelector("input[name=threat]:checked");
      var noThreat = !checked || checked.value === "none";
      var threatReport = category && category.value === "threat";
      wrapper.hidden = noThreat && !threatReport && !words.value;
    }
    form.querySelectorAll("input[name=threat]").forEach(function (radio) {
      radio.addEventListener("change", update);
    });
    if (category) category.addEventListener("change", update);
    update();
  }

  function setupPicker(form) {
    var picker = document.getElementById("student-picker");
    var list = document.getElementById("chosen-students");
    var search = document.getElementById("student-search");
    var results = document.getElementById("student-results");
    var status = document.getElementById("student-results-status");
    var school = document.getElementById("id_school");
    var searchUrl = form.getAttribute("data-search-url");
    var manySchools = school && school.options.length > 1;
    picker.hidden = false;

    var nextIndex = 0;
    list.querySelectorAll("li[data-index]").forEach(function (row) {
      nextIndex = Math.max(nextIndex, Number(row.getAttribute("data-index")) + 1);
    });

    function chosenIds() {
      var ids = {};
      list.querySelectorAll("input[name$='-student_id']").forEach(function (input) {
        ids[input.value] = true;
      });
      return ids;
    }

    function addRow(label, detail, hidden, schoolCode) {
      var index = nextIndex++;
      var rowId = "student-" + index;
      var row = el("li", { class: "chosen-student", id: rowId, "data-index": String(index) });
      if (schoolCode) row.setAttribute("data-school", schoolCode);
      row.appendChild(el("span", { class: "chosen-name" }, label));
      if (detail) {
        row.appendChild(document.createTextNode(" "));
        row.appendChild(el("span", { class: "muted" }, "(" + detail + ")"));
      }
      Object.keys(hidden).forEach(function (part) {
        row.appendChild(
          el("input", { type: "hidden", name: "students-" + index + "-" + part, value: hidden[part] })
        );
      });
      var actions = el("div", { class: "chosen-actions" });
      actions.appendChild(el("label", { for: rowId + "-role" }, "Role"));
      var select = el("select", { name: "students-" + index + "-role", id: rowId + "-role" });
      ROLES.forEach(function (role) {
        select.appendChild(el("option", { value: role[0] }, role[1]));
      });
      actions.appendChild(select);
      var remove = el("button", { type: "button", class: "button remove-student", "data-remove": rowId }, "Remove");
      remove.appendChild(el("span", { class: "visually-hidden" }, " " + label));
      actions.appendChild(remove);
      row.appendChild(actions);
      list.appendChild(row);
      status.textContent = label + " added.";
      select.focus();
    }

    // Picking a student chooses their school; a report is about one school.
    function chooseSchoolOf(student) {
      if (!school || !student.school) return "";
      var before = school.value;
      school.value = student.school;
      if (school.value !== student.school) return ""; // not one of this person's schools
      var others = list.querySelectorAll("li[data-school]:not([data-school='" + student.school + "'])");
      if (others.length) {
        return " The school is now " + student.school_name + ": remove the students from other schools.";
      }
      if (before !== student.school) return " School set to " + student.school_name + ".";
      return "";
    }

    list.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-remove]");
      if (!button) return;
      var row = document.getElementById(button.getAttribute("data-remove"));
      var name = row.querySelector(".chosen-name").textContent;
      row.remove();
      status.textContent = name + " removed.";
      search.focus();
    });

    function showResults(students) {
      results.textContent = "";
      var taken = chosenIds();
      students.forEach(function (student) {
        var item = el("li");
        var label = student.name + ", grade " + student.grade + " (" + student.student_id + ")";
        if (manySchools && student.school_name) label += ", " + student.school_name;
        var button = el("button", { type: "button", class: "button result" }, label);
        if (taken[student.student_id]) {
          button.disabled = true;
          button.textContent = label + ": already added";
        }
        button.addEventListener("click", function () {
          addRow(student.name, student.student_id, { student_id: student.student_id }, student.school);
          status.textContent += chooseSchoolOf(student);
          results.textContent = "";
          search.value = "";
        });
        item.appendChild(button);
        results.appendChild(item);
      });
      if (students.length === 0) status.textContent = "No students found.";
      else if (students.length === 1) status.textContent = "1 student found.";
      else status.textContent = students.length + " students found.";
    }

    var timer = null;
    var latest = 0;
    function runSearch() {
      var query = search.value.trim();
      if (query.length < 2) {
        results.textContent = "";
        status.textContent = "";
        return;
      }
      var ticket = ++latest;
      // Every school where this person works: picking a student sets the school.
      var url = searchUrl + "?q=" + encodeURIComponent(query);
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.json();
        })
        .then(function (students) {
          if (ticket === latest) showResults(students);
        })
        .catch(function () {
          if (ticket === latest) status.textContent = "The search did not work. Try again.";
        });
    }
    search.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(runSearch, 250);
    });
    search.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault(); // Enter searches; it does not send the report
        clearTimeout(timer);
        runSearch();
      }
    });
    if (school) {
      school.addEventListener("change", function () {
        results.textContent = "";
        status.textContent = "";
      });
    }

    var nameInput = document.getElementById("new-person-name");
    var ageInput = document.getElementById("new-person-age");
    var personError = document.getElementById("new-person-error");
    function addPerson() {
      var name = nameInput.value.trim();
      var age = ageInput.value.trim();
      personError.textContent = "";
      if (!name) {
        personError.textContent = "Give the person's name.";
        nameInput.focus();
        return;
      }
      if (age && !/^\d{1,2}$/.test(age)) {
        personError.textContent = "Give the age as a whole number, e.g. 11.";
        ageInput.focus();
        return;
      }
      var hidden = { name: name };
      if (age) hidden.age = age;
      addRow(name, age ? "age " + age : "not on the roster", hidden);
      nameInput.value = "";
      ageInput.value = "";
    }
    document.getElementById("new-person-add").addEventListener("click", addPerson);
    [nameInput, ageInput].forEach(function (input) {
      input.addEventListener("keydown", function (event) {
        if (event.key === "Enter") {
          event.preventDefault();
          addPerson();
        }
      });
    });
  }

  var form = document.getElementById("incident-form");
  if (form) setupForm(form);
})();
