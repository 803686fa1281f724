"""``{% tracking_timeline order %}``: the live timeline in a shop's own template."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.template import Context, Template

from tracking.access import check_token
from tracking.recording import record_event

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture
def backend() -> str:
    return "postgres"


def render(order: object, options: str = "") -> str:
    template = Template(
        "{% load tracking %}{% tracking_timeline order " + options + " %}"
    )
    return template.render(Context({"order": order}))


def test_the_tag_renders_the_history_and_a_stream_url_with_a_working_token(
    make_order,
):
    order = make_order()
    record_event(order, "delayed", {"message": "Snow <b>on</b> the roads"})

    html = render(order, "lifetime=600")

    stream_url = re.search(r'data-stream-url="([^"]+)"', html)
    assert stream_url is not None
    url = urlsplit(stream_url.group(1).replace("&amp;", "&"))
    assert url.path == f"/orders/{order.reference}/events"
    grant = check_token(parse_qs(url.query)["token"][0], order.reference)
    assert grant.expires_at is not None
    assert 'data-last-id="2"' in html
    assert re.findall(r'data-seq="(\d+)"', html) == ["2", "1"]
    assert "Snow &lt;b&gt;on&lt;/b&gt; the roads" in html
    assert f'<h2 class="tracking-reference" id="tracking-{order.reference}">' in html
    assert "tracking/timeline.js" in html
    assert "tracking/tracking.css" in html


def test_a_finished_order_is_rendered_as_finished(make_order):
    order = make_order()
    record_event(order, "delivered", status="delivered")

    html = render(order)

    assert 'data-finished="true"' in html
    assert "gets no more updates" in html
