// "Listen" buttons: read a page section aloud with the browser's own speech synthesis (Web Speech API),
// in the section's language. The buttons are hidden in the HTML and shown only when the browser has a
// voice for that language, so nobody meets a button that does nothing. No data leaves the device.
(function () {
  if (!("speechSynthesis" in window)) { return; }
  var synth = window.speechSynthesis;

  function voiceFor(lang) {
    var voices = synth.getVoices();
    var prefix = lang.split("-")[0].toLowerCase();
    for (var i = 0; i < voices.length; i++) {
      if (voices[i].lang && voices[i].lang.toLowerCase().split(/[-_]/)[0] === prefix) { return voices[i]; }
    }
    return null;
  }

  // The language of a section: its lang attribute, else the script of its first letter (a petition written
  // in Arabic on the French interface is read with an Arabic voice).
  function textLanguage(el) {
    var marked = el.closest("[lang]");
    var match = /[\u0600-\u06ff\u2d30-\u2d7fA-Za-z\u00c0-\u024f]/.exec(el.innerText || "");
    if (match) {
      if (/[\u0600-\u06ff]/.test(match[0])) { return "ar"; }
      if (/[\u2d30-\u2d7f]/.test(match[0])) { return "zgh"; }
      if (marked && marked.getAttribute("lang") === "ar") { return "fr"; }
    }
    return marked ? marked.getAttribute("lang") : document.documentElement.lang;
  }

  function setUp() {
    var buttons = document.querySelectorAll("button[data-listen]");
    for (var i = 0; i < buttons.length; i++) {
      var button = buttons[i];
      var target = document.getElementById(button.getAttribute("data-listen"));
      var lang = target ? textLanguage(target) : "";
      if (!target || !voiceFor(lang)) { continue; }
      button.hidden = false;
      if (button.dataset.ready) { continue; }
      button.dataset.ready = "1";
      button.addEventListener("click", (function (btn, el, language) {
        return function () {
          if (synth.speaking) {
            synth.cancel();
            btn.setAttribute("aria-pressed", "false");
            return;
          }
          var utterance = new SpeechSynthesisUtterance(el.innerText);
          utterance.lang = language;
          utterance.voice = voiceFor(language);
          utterance.onend = function () { btn.setAttribute("aria-pressed", "false"); };
          btn.setAttribute("aria-pressed", "true");
          synth.speak(utterance);
        };
      })(button, target, lang));
    }
  }

  setUp();
  if (typeof synth.addEventListener === "function") { synth.addEventListener("voiceschanged", setUp); }
})();
