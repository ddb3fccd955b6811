// Churn-threshold slider: reads the curve embedded in the page, no network.
(function () {
  "use strict";
  var curve = JSON.parse(document.getElementById("curve-data").textContent);
  var slider = document.getElementById("threshold");
  function show() {
    var i = Number(slider.value);
    var tp = curve.true_churners[i], fp = curve.false_alarms[i];
    document.getElementById("threshold-value").textContent = curve.thresholds[i].toFixed(2);
    document.getElementById("true-churners").textContent = tp;
    document.getElementById("false-alarms").textContent = fp;
    document.getElementById("missed").textContent = curve.n_churners - tp;
    document.getElementById("precision").textContent = tp + fp > 0 ? (100 * tp / (tp + fp)).toFixed(1) + "%" : "–";
  }
  slider.addEventListener("input", show);
  show();
})();
