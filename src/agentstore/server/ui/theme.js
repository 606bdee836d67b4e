// Applied before the first paint (a classic script in <head>): the theme the user chose
// on this browser, if any; otherwise the system's (prefers-color-scheme, in app.css).
(function () {
  try {
    var chosen = window.localStorage.getItem("agentstore.theme");
    if (chosen === "light" || chosen === "dark") {
      document.documentElement.dataset.theme = chosen;
    }
  } catch (blocked) {
    // Storage refused (a private window's policy): the system's theme applies.
  }
})();
