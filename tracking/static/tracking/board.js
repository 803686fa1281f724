// Live orders board: the server renders the newest events; this script follows the
// global feed from the newest one shown and puts each new event on top.
//
// Feed ids are "<feed_xid>-<row id>" and only ever grow, so an id at or below the
// newest one shown is a replay after a reconnect and is dropped.
(function () {
  "use strict";

  var ANNOUNCE_AFTER_MS = 2000;
  var timeFormat = new Intl.DateTimeFormat(undefined, {
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });

  function start(root) {
    var state = {
      root: root,
      rows: root.querySelector("[data-tracking-rows]"),
      connection: root.querySelector("[data-tracking-connection]"),
      announcer: root.querySelector("[data-tracking-announce]"),
      labels: JSON.parse(root.querySelector("script[type='application/json']").textContent),
      chosen: root.dataset.status,
      adminUrl: root.dataset.adminUrl,
      size: Number(root.dataset.size),
      last: parseId(root.dataset.lastId),
      unannounced: 0,
      timer: null,
    };
    root.querySelectorAll("time[datetime]").forEach(function (node) {
      node.textContent = timeFormat.format(new Date(node.dateTime));
    });
    connect(state);
  }

  function connect(state) {
    var url = new URL(state.root.dataset.streamUrl, window.location.href);
    url.searchParams.set("lastEventId", state.root.dataset.lastId);
    var source = new EventSource(url.toString());
    show(state, "connecting", "Connecting…");
    source.onopen = function () {
      show(state, "live", "Live: new events appear at the top.");
    };
    source.onerror = function () {
      if (source.readyState === EventSource.CONNECTING) {
        show(state, "reconnecting", "Connection lost. Reconnecting…");
      } else {
        show(state, "stopped", "Live updates stopped. Reload the page to try again.");
      }
    };
    source.onmessage = function (event) {
      receive(state, event);
    };
    source.addEventListener("reset", function () {
      // The feed does not know the position of this page: show it afresh.
      source.close();
      window.location.reload();
    });
  }

  function receive(state, event) {
    var id = parseId(event.lastEventId);
    if (!isAfter(id, state.last)) {
      return;
    }
    state.last = id;
    var message = JSON.parse(event.data);
    if (state.chosen && message.data.status !== state.chosen) {
      return;
    }
    var none = state.rows.querySelector(".tracking-row-none");
    if (none) {
      none.remove();
    }
    state.rows.prepend(row(state, event.lastEventId, message));
    while (state.rows.children.length > state.size) {
      state.rows.lastElementChild.remove();
    }
    countForAnnouncement(state);
  }

  function row(state, id, message) {
    var data = message.data;
    var tr = document.createElement("tr");
    tr.className = "tracking-row-new";
    tr.dataset.id = id;
    tr.dataset.status = data.status;
    var when = cell(tr, "");
    if (data.at) {
      var time = document.createElement("time");
      time.dateTime = data.at;
      time.textContent = timeFormat.format(new Date(data.at));
      when.appendChild(time);
    }
    var order = cell(tr, "");
    if (state.adminUrl) {
      var link = document.createElement("a");
      link.href = state.adminUrl.replace("__pk__", encodeURIComponent(String(message.order_pk)));
      link.textContent = message.order;
      order.appendChild(link);
    } else {
      order.textContent = message.order;
    }
    var seq = document.createElement("span");
    seq.className = "tracking-seq";
    seq.textContent = "#" + message.seq;
    order.append(" ", seq);
    cell(tr, titleFor(state, message.kind, data.status));
    var badge = document.createElement("span");
    badge.className = "tracking-badge";
    badge.dataset.status = data.status;
    badge.textContent = state.labels[data.status] || data.status;
    cell(tr, "").appendChild(badge);
    cell(tr, typeof data.message === "string" ? data.message : "");
    return tr;
  }

  function cell(tr, text) {
    var td = document.createElement("td");
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  function titleFor(state, kind, status) {
    return window.trackingTitle(state.labels, kind, status);
  }

  // Screen readers hear one short summary per burst, not every row.
  function countForAnnouncement(state) {
    state.unannounced += 1;
    if (state.timer) {
      return;
    }
    state.timer = window.setTimeout(function () {
      var count = state.unannounced;
      state.announcer.textContent = count === 1 ? "1 new event." : count + " new events.";
      state.unannounced = 0;
      state.timer = null;
    }, ANNOUNCE_AFTER_MS);
  }

  function show(state, mode, text) {
    state.connection.dataset.state = mode;
    state.connection.textContent = text;
  }

  function parseId(text) {
    var parts = String(text || "0-0").split("-");
    return [Number(parts[0]), Number(parts[1])];
  }

  function isAfter(a, b) {
    return a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
  }

  document.querySelectorAll("[data-tracking-board]").forEach(start);
})();
