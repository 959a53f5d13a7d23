// Copy buttons: <button data-copy-target="ID">Copy</button> copies the value
// (or text) of the element with that id. Pages work without this script;
// it only saves selecting the text by hand.
document.addEventListener("click", function (ev) {
  var btn = ev.target.closest("[data-copy-target]");
  if (!btn) return;
  var el = document.getElementById(btn.getAttribute("data-copy-target"));
  if (!el) return;
  var text = el.value !== undefined ? el.value : el.textContent;
  var done = function () {
    var old = btn.textContent;
    btn.textContent = "Copied";
    setTimeout(function () { btn.textContent = old; }, 1500);
  };
  if (navigator.clipboard && navigator.clipboard.writeText) {
    navigator.clipboard.writeText(text).then(done, function () {
      if (el.select) { el.select(); }
    });
  } else if (el.select) {
    el.select();
    document.execCommand("copy");
    done();
  }
});

// Copy buttons that are useless without this script start hidden; show them.
document.querySelectorAll("[data-copy-target][hidden]").forEach(function (btn) {
  btn.hidden = false;
});
