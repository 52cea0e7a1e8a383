/*
 * LiveSocket: a WebSocket that keeps itself connected.
 *
 * After a server restart, a network change or a phone waking up it reconnects
 * on its own, waiting 1 s, 2 s, 4 s ... up to 30 s between attempts (with
 * jitter so a restarted server is not hit by every browser at once). The wait
 * resets once a connection has stayed open, and a page becoming visible again or
 * the network coming back triggers an immediate attempt.
 */
(function (global) {
  "use strict";

  var MIN_DELAY_MS = 1000;
  var MAX_DELAY_MS = 30000;
  var STABLE_AFTER_MS = 5000;

  function LiveSocket(path, handlers) {
    this.path = path;
    this.handlers = handlers || {};
    this.attempt = 0;
    this.socket = null;
    this.timer = null;
    this.stopped = false;
    this.openedAt = 0;
    var self = this;
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") self.reconnectNow();
    });
    global.addEventListener("online", function () { self.reconnectNow(); });
    global.addEventListener("pagehide", function () { self.stop(); });
  }

  LiveSocket.prototype.url = function () {
    var scheme = global.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + global.location.host + this.path;
  };

  LiveSocket.prototype.start = function () {
    this.stopped = false;
    this.connect();
  };

  LiveSocket.prototype.stop = function () {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000);
  };

  LiveSocket.prototype.reconnectNow = function () {
    if (this.stopped) return;
    if (this.socket && this.socket.readyState <= 1) return; // connecting or open
    clearTimeout(this.timer);
    this.attempt = 0;
    this.connect();
  };

  LiveSocket.prototype.connect = function () {
    var self = this;
    var socket;
    this.emit("state", this.attempt === 0 ? "connecting" : "reconnecting");
    try {
      socket = new WebSocket(this.url());
    } catch (error) {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = function () {
      self.openedAt = Date.now();
      self.emit("state", "open");
    };
    socket.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (error) { return; }
      self.emit("message", message);
    };
    socket.onclose = function () {
      if (self.socket !== socket) return;
      self.socket = null;
      if (self.openedAt && Date.now() - self.openedAt > STABLE_AFTER_MS) self.attempt = 0;
      self.openedAt = 0;
      if (!self.stopped) self.scheduleReconnect();
    };
  };

  LiveSocket.prototype.scheduleReconnect = function () {
    var self = this;
    var delay = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * Math.pow(2, this.attempt));
    delay = delay / 2 + Math.random() * delay / 2;
    this.attempt += 1;
    this.emit("state", "reconnecting", Math.round(delay / 1000));
    clearTimeout(this.timer);
    this.timer = setTimeout(function () { self.connect(); }, delay);
  };

  LiveSocket.prototype.emit = function (name) {
    var handler = this.handlers[name];
    if (handler) handler.apply(null, Array.prototype.slice.call(arguments, 1));
  };

  global.LiveSocket = LiveSocket;
})(window);
