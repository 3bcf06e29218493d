/* Deriving Adam's explorable figures: the browser half.
 *
 * Python (book/explorable) computed every frame, drew the figure at the default slider values
 * as SVG, and packed each moving layer's pixel coordinates into the JSON beside it. This script
 * only displays: a slider's input event picks the frame of the current slider values and
 * writes that frame's path data and text into the SVG. No library, no network.
 *
 * Packing (the same in explorable/_pack.py): a coordinate is a number of half pixels plus
 * OFFSET, written as two base-64 digits; a point is x then y; "~" before a point starts a new
 * piece of a line.
 */
(function () {
  "use strict";
  if (window.explorableShow) return;  // already defined by an earlier explorable on the page
  var DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  var OFFSET = 1024;
  var VALUE = {};
  for (var n = 0; n < DIGITS.length; n++) VALUE[DIGITS.charAt(n)] = n;

  function coordinate(code, i) {
    return (VALUE[code.charAt(i)] * 64 + VALUE[code.charAt(i + 1)] - OFFSET) / 2;
  }

  // SVG path data of one packed layer: a polyline ("line"), round dots ("dots", drawn as
  // zero-length strokes with round caps) or vertical bars from the baseline ("bars").
  function pathData(kind, code, base) {
    var d = "", move = true;
    for (var i = 0; i < code.length;) {
      if (code.charAt(i) === "~") { move = true; i++; continue; }
      var x = coordinate(code, i), y = coordinate(code, i + 2);
      i += 4;
      if (kind === "dots") d += "M" + x + " " + y + "h0";
      else if (kind === "bars") d += "M" + x + " " + base + "V" + y;
      else d += (move ? "M" : "L") + x + " " + y;
      move = false;
    }
    return d;
  }

  // The figure is the element around the calling script (JupyterLab may show one output in
  // several views, each with its own copy of the same id), or else the element with that id.
  window.explorableShow = function (id, script) {
    var root = (script && script.parentNode) || document.getElementById(id);
    if (!root || root.getAttribute("data-live")) return;
    root.setAttribute("data-live", "1");
    var spec = JSON.parse(root.querySelector("script[type='application/json']").textContent);
    var inputs = root.querySelectorAll("input[type=range]");
    var outputs = root.querySelectorAll("output");
    var layers = root.querySelectorAll("[data-layer]");

    function draw() {
      var frame = 0;
      for (var k = 0; k < inputs.length; k++) {
        var i = Number(inputs[k].value);
        frame = frame * spec.sizes[k] + i;
        outputs[k].textContent = spec.labels[k][i];
      }
      for (var n = 0; n < spec.layers.length; n++) {
        var layer = spec.layers[n];
        var value = layer.frames[layer.index ? layer.index[frame] : frame];
        if (layer.kind === "text") layers[n].textContent = value;
        else layers[n].setAttribute("d", pathData(layer.kind, value, layer.base));
      }
    }

    for (var k = 0; k < inputs.length; k++) {
      inputs[k].disabled = false;  // disabled in the HTML: without this script they do nothing
      inputs[k].addEventListener("input", draw);
    }
  };
})();
