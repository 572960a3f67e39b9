/*
 * visitorapi client: VisitorAPI(pid, onSuccess, onError).
 *
 * Load it with <script src="https://YOUR-SERVICE/client.js"></script>, then
 *   VisitorAPI("PID", function (data) { ... }, function (status, message) { ... });
 * It calls GET <service>/api/?pid=PID like the classic copied snippet: onSuccess(data)
 * when the JSON status is 200, otherwise onError(status, result). A network
 * failure (no JSON at all) gives onError(0, "network error").
 */
(function (global) {
  "use strict";
  var script = document.currentScript;
  var base = script && script.src ? script.src.replace(/\/client\.js(?:[?#].*)?$/, "") : "";

  function VisitorAPI(pid, onSuccess, onError) {
    var xhr = new XMLHttpRequest();
    xhr.onreadystatechange = function () {
      if (xhr.readyState !== XMLHttpRequest.DONE) {
        return;
      }
      var body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch (ignored) {
        body = null;
      }
      if (body && body.status === 200) {
        if (onSuccess) { onSuccess(body.data); }
      } else if (onError) {
        if (body) {
          onError(body.status, body.result);
        } else {
          onError(xhr.status, "network error");
        }
      }
    };
    xhr.open("GET", base + "/api/?pid=" + encodeURIComponent(pid));
    xhr.send(null);
  }

  global.VisitorAPI = VisitorAPI;
})(window);
