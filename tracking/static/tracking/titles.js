// How an event is titled, shared by the timeline and the board scripts. It mirrors
// tracking.timeline.title on the server, which titles the rendered history.
window.trackingTitle = function (labels, kind, status) {
  if (kind === "status") {
    return labels[status] || status;
  }
  if (kind === "created") {
    return "Order placed";
  }
  if (kind === "erased") {
    return "History erased";
  }
  var words = kind.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
};
