// Leadline console: the little behaviour the pages need beyond plain HTML forms.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // A "select all" box ticks or clears every row box of its form.
  for (const all of document.querySelectorAll("input[data-select-all]")) {
    all.addEventListener("change", () => {
      for (const box of all.form.querySelectorAll("input[name='" + all.dataset.selectAll + "']")) {
        box.checked = all.checked;
      }
    });
  }
  // A rejection needs a denied reason: say so before the round trip.
  for (const button of document.querySelectorAll("form.decide button[value='reject']")) {
    button.addEventListener("click", (event) => {
      const select = button.form.querySelector("select[name='denied_reason_id']");
      if (select && !select.value) {
        event.preventDefault();
        select.focus();
        select.setCustomValidity("Pick a denied reason first");
        select.reportValidity();
        select.addEventListener("change", () => select.setCustomValidity(""), { once: true });
      }
    });
  }
});
