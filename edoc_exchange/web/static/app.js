// Progressive enhancement only: every page works without this file.
// - "data-confirm" on a form asks before submitting (reject, disable...).
// - "data-back" links go back in history when there is one.
// - input[data-filter="SELECTOR"] hides the SELECTOR elements whose text does not hold
//   what is typed (accents optional, as the server's search): the recipients of a draft
//   are found without leaving the form, so nothing typed in it is lost. Without this
//   file the same box searches on the server.
function fold(text) {
  return text.replace(/đ/g, "d").replace(/Đ/g, "D").normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "").toLowerCase().replace(/\s+/g, " ").trim();
}
document.addEventListener("input", function (event) {
  var box = event.target;
  var selector = box.getAttribute && box.getAttribute("data-filter");
  if (!selector) { return; }
  var wanted = fold(box.value);
  document.querySelectorAll(selector).forEach(function (item) {
    item.hidden = wanted !== "" && fold(item.textContent).indexOf(wanted) < 0;
  });
});
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form.hasAttribute && form.hasAttribute("data-filter-form")) {
    event.preventDefault();  // already filtered in the page: keep what the form holds
    return;
  }
  var question = form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
document.addEventListener("click", function (event) {
  var link = event.target.closest && event.target.closest("a[data-back]");
  if (link && window.history.length > 1) {
    event.preventDefault();
    window.history.back();
  }
});
