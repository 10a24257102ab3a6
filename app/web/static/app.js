// UI glue only (no business logic): clear a form after HTMX sent it, keep focus in the text box,
// and send the CSRF token HTMX needs for requests that do not come from a form.
document.addEventListener("htmx:afterRequest", function (event) {
  var form = event.detail.elt;
  if (event.detail.successful && form && form.matches && form.matches("form[data-reset]")) {
    form.reset();
    var box = form.querySelector("textarea");
    if (box) { box.focus(); }
  }
});
document.addEventListener("htmx:sseMessage", function (event) {
  var region = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest(".answer-body");
  if (region) { region.scrollIntoView({block: "end"}); }
});
// A refused HTMX request (e.g. an ended session) shows the server's message instead of failing silently.
document.addEventListener("htmx:responseError", function (event) {
  var page = new DOMParser().parseFromString(event.detail.xhr.responseText || "", "text/html");
  var alert = page.querySelector("[role=alert]:not(#flash)");
  var flash = document.getElementById("flash");
  if (flash) { flash.textContent = alert ? alert.textContent : event.detail.xhr.statusText; }
});
