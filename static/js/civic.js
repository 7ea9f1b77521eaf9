// Progressive enhancement only: the site works without this file.
// After htmx swaps in a result message, move focus to it so keyboard and screen-reader users hear it.
document.addEventListener("htmx:afterSwap", function () {
  var result = document.getElementById("sign-result");
  if (result) { result.focus(); }
});
// Fragments that replace the element holding focus (moderation, reports) mark where focus should go next.
document.addEventListener("htmx:afterSettle", function () {
  var next = document.querySelector("[data-swap-focus]");
  if (next) { next.removeAttribute("data-swap-focus"); next.focus(); }
});
