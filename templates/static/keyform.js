// The key form's Access fieldset (/keys): picking a preset ticks exactly
// its scope boxes, and ticking or unticking a box switches to Custom, so
// the radio and the boxes never disagree. The server decides the same way
// without this script (ticked boxes win; no box ticked = the preset).
(function () {
  var form = document.getElementById("access");
  if (!form) return;
  var boxes = form.querySelectorAll('input[name="scopes"]');
  var tickPreset = function (preset) {
    for (var i = 0; i < boxes.length; i++) {
      var presets = (boxes[i].getAttribute("data-presets") || "").split(" ");
      boxes[i].checked = presets.indexOf(preset) >= 0;
    }
  };
  form.addEventListener("change", function (ev) {
    var el = ev.target;
    if (el.name === "preset" && el.value !== "custom") {
      tickPreset(el.value);
    } else if (el.name === "scopes") {
      document.getElementById("preset-custom").checked = true;
    }
  });
  // On load the boxes show the preset picked, unless some are ticked
  // already (a form shown again after an error).
  var picked = form.querySelector('input[name="preset"]:checked');
  var anyTicked = form.querySelector('input[name="scopes"]:checked');
  if (picked && picked.value !== "custom" && !anyTicked) {
    tickPreset(picked.value);
  }
})();
