// Live order timeline: the server renders the history; this script follows the
// order's event stream from the last event shown and adds what happens next.
//
// EventSource has no listener for "any type", so it listens for the kinds the page
// names (built-in kinds, the order's statuses and the kinds in its history). An event
// of another kind shows up as a gap in the ids, or as a stream that ends early; then
// the script re-reads the page and follows on from what that shows.
(function () {
  "use strict";

  // A resync that does not lead to an open stream is not retried sooner than this.
  var RESYNC_PAUSE_MS = 30000;
  var timeFormat = new Intl.DateTimeFormat(undefined, {
    dateStyle: "medium",
    timeStyle: "short",
  });

  function start(root) {
    var state = {
      root: root,
      list: root.querySelector("[data-tracking-events]"),
      current: root.querySelector("[data-tracking-current]"),
      connection: root.querySelector("[data-tracking-connection]"),
      announcer: root.querySelector("[data-tracking-announce]"),
      labels: JSON.parse(root.querySelector("script[type='application/json']").textContent),
      terminal: root.dataset.terminal.split(" "),
      kinds: root.dataset.kinds.split(" "),
      last: Number(root.dataset.lastId),
      afterReset: false,
      source: null,
      lastResync: 0,
    };
    localiseTimes(root);
    if (root.dataset.finished === "true") {
      return;
    }
    show(state, "connecting", "Connecting for live updates…");
    connect(state);
  }

  function connect(state) {
    var url = new URL(state.root.dataset.streamUrl, window.location.href);
    url.searchParams.set("lastEventId", String(state.last));
    var source = new EventSource(url.toString());
    state.source = source;
    source.onopen = function () {
      state.lastResync = 0; // Connected again: a later resync is no loop.
      show(state, "live", "Live: updates appear here as they happen.");
    };
    source.onerror = function () {
      if (source.readyState === EventSource.CONNECTING) {
        show(state, "reconnecting", "Connection lost. Reconnecting…");
      } else if (state.source === source) {
        // Closed for good: a 204 at the end of the order, or a refusal.
        resync(state);
      }
    };
    state.kinds.forEach(function (kind) {
      source.addEventListener(kind, function (event) {
        receive(state, event);
      });
    });
    source.addEventListener("reset", function (event) {
      rebuild(state, JSON.parse(event.data));
    });
  }

  function receive(state, event) {
    var seq = Number(event.lastEventId);
    if (!(seq > state.last)) {
      return; // Already shown: a replay after a reconnect.
    }
    if (seq > state.last + 1 && !state.afterReset) {
      resync(state); // An event of a kind not listened for was skipped.
      return;
    }
    var data = JSON.parse(event.data);
    // Name the new status beside the title, unless the title already is it.
    var moved = !state.afterReset && data.status !== state.root.dataset.status &&
      event.type !== "status" && event.type !== data.status;
    state.afterReset = false;
    state.last = seq;
    removePlaceholder(state.list);
    state.list.prepend(entry(state, seq, event.type, data, moved));
    setStatus(state, data.status);
    announce(state, titleFor(state, event.type, data.status), data.message);
    if (state.terminal.indexOf(data.status) !== -1) {
      finish(state);
    }
  }

  // The server no longer knows our position (or removed old events): start over
  // with what it sends next, which is every stored event.
  function rebuild(state, data) {
    state.list.replaceChildren();
    state.last = 0;
    state.afterReset = true;
    setStatus(state, data.status);
  }

  function resync(state) {
    var now = Date.now();
    closeSource(state);
    if (now - state.lastResync < RESYNC_PAUSE_MS) {
      show(state, "stopped", "Live updates stopped. Reload the page to try again.");
      return;
    }
    state.lastResync = now;
    show(state, "reconnecting", "Catching up…");
    fetch(state.root.dataset.pageUrl, {
      cache: "no-store",
      credentials: "same-origin",
      referrerPolicy: "no-referrer",
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("The page answered " + response.status + ".");
        }
        return response.text();
      })
      .then(function (html) {
        adopt(state, new DOMParser().parseFromString(html, "text/html"));
      })
      .catch(function () {
        show(state, "stopped", "Live updates stopped. Reload the page to try again.");
      });
  }

  function adopt(state, page) {
    var fresh = page.querySelector("[data-tracking-timeline]");
    var items = fresh.querySelector("[data-tracking-events]").children;
    state.list.replaceChildren.apply(state.list, Array.prototype.slice.call(items));
    localiseTimes(state.list);
    state.last = Number(fresh.dataset.lastId);
    setStatus(state, fresh.dataset.status);
    if (fresh.dataset.finished === "true") {
      finish(state);
    } else {
      connect(state);
    }
  }

  function finish(state) {
    closeSource(state);
    state.root.dataset.finished = "true";
    var label = state.current.textContent;
    show(state, "finished", label + ": this order is finished and gets no more updates.");
  }

  function closeSource(state) {
    if (state.source) {
      state.source.close();
      state.source = null;
    }
  }

  function entry(state, seq, kind, data, moved) {
    var item = document.createElement("li");
    item.className = "tracking-event tracking-event-new";
    item.dataset.seq = String(seq);
    item.dataset.kind = kind;
    item.dataset.status = data.status;
    var title = element("span", "tracking-event-title", titleFor(state, kind, data.status));
    if (moved) {
      var badge = element("span", "tracking-badge tracking-badge-small", state.labels[data.status] || data.status);
      badge.dataset.status = data.status;
      title.append(" ", badge);
    }
    item.appendChild(title);
    if (data.at) {
      var time = element("time", "tracking-event-time", timeFormat.format(new Date(data.at)));
      time.dateTime = data.at;
      item.appendChild(time);
    }
    if (typeof data.message === "string" && data.message) {
      item.appendChild(element("p", "tracking-event-message", data.message));
    }
    return item;
  }

  function titleFor(state, kind, status) {
    return window.trackingTitle(state.labels, kind, status);
  }

  function setStatus(state, status) {
    if (!status) {
      return;
    }
    state.root.dataset.status = status;
    state.current.dataset.status = status;
    state.current.textContent = state.labels[status] || status;
  }

  function show(state, mode, text) {
    state.connection.dataset.state = mode;
    state.connection.textContent = text;
  }

  function announce(state, title, message) {
    state.announcer.textContent = "Update: " + title + (message ? ". " + message : "");
  }

  function removePlaceholder(list) {
    var none = list.querySelector(".tracking-event-none");
    if (none) {
      none.remove();
    }
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    node.className = className;
    node.textContent = text;
    return node;
  }

  function localiseTimes(scope) {
    scope.querySelectorAll("time[datetime]").forEach(function (node) {
      node.textContent = timeFormat.format(new Date(node.dateTime));
    });
  }

  document.querySelectorAll("[data-tracking-timeline]").forEach(start);
})();
