// Progressive enhancement only: the site works without this file.
// After htmx swaps in a result message, move focus to it so keyboard and screen-reader users hear it.
document.addEventListener("htmx:afterSwap", function () {
  var result = document.getElementById("sign-result");
  if (result) { result.focus(); }
});
