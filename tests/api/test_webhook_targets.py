"""Webhook URLs cannot reach the department's own network (SSRF): internal addresses are refused when a client
subscribes (problem+json 422 in Chinese) and again at each delivery (a failed attempt with its reason); the
request goes to the address that was checked, not to whatever a second DNS lookup says."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from api_support import new_client
from sqlalchemy import select
from test_api_webhooks import Receiver

from app import uow_for
from services import webhook_targets, webhooks
from services.actors import Actor
from storage.models import WebhookDelivery
from storage.types import utcnow

INTERNAL = ["127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
            "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fc00::1", "fd12::1",
            "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:7f00:1::", "64:ff9b::a00:1", "2001:db8::1"]
PUBLIC = ["8.8.8.8", "93.184.216.34", "2001:4860:4860::8888", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", INTERNAL)
def test_internal_addresses_are_refused(address):
    assert webhook_targets.blocked_kind(ipaddress.ip_address(address)) is not None
    with pytest.raises(webhook_targets.UnsafeTarget):
        webhook_targets.check(f"http://[{address}]/hook" if ":" in address else f"http://{address}/hook")


@pytest.mark.parametrize("url", ["http://2130706433/", "http://127.1/", "http://0x7f000001/",
                                 "http://0177.0.0.1:8080/x", "http://localhost/"])
def test_other_spellings_of_loopback_are_refused(url):
    """Numeric forms the resolver accepts are judged by the address it returns."""
    with pytest.raises(webhook_targets.UnsafeTarget) as refused:
        webhook_targets.check(url)
    assert "127.0.0.1" in refused.value.reason or "::1" in refused.value.reason


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert webhook_targets.blocked_kind(ipaddress.ip_address(address)) is None


def _resolver(monkeypatch, answers: dict[str, list[str]], calls: list[str]) -> None:
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if host in answers:
            calls.append(host)
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                    for a in answers[host]]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def test_a_name_is_judged_by_every_address_it_resolves_to_and_the_allow_list_exempts_it(monkeypatch):
    _resolver(monkeypatch, {"hooks.example.cn": ["93.184.216.34", "10.0.0.7"],
                            "public.example.cn": ["93.184.216.34"]}, [])
    with pytest.raises(webhook_targets.UnsafeTarget) as refused:
        webhook_targets.check("https://hooks.example.cn/in")
    assert "10.0.0.7" in refused.value.reason and "private" in refused.value.reason
    assert webhook_targets.check("https://HOOKS.example.cn./in", ["hooks.example.cn"]).address == "93.184.216.34"
    target = webhook_targets.check("https://public.example.cn:8443/in?x=1")
    assert (target.host, target.port, target.path, target.address) == ("public.example.cn", 8443, "/in?x=1",
                                                                      "93.184.216.34")
    for url in ("ftp://public.example.cn/", "http://user:pw@public.example.cn/", "http:///x", "http://nohost.invalid/"):
        with pytest.raises(webhook_targets.UnsafeTarget):
            webhook_targets.check(url)
    assert webhook_targets.allowed_hosts({"WEBHOOK_ALLOWED_HOSTS": " a.cn, [::1] ,"}) == {"a.cn", "::1"}


def test_the_request_goes_to_the_checked_address_without_a_second_lookup(monkeypatch):
    """DNS rebinding: the name is resolved once; the connection uses that address and the Host header the name."""
    receiver = Receiver([])
    try:
        calls: list[str] = []
        _resolver(monkeypatch, {"partner.example.cn": ["127.0.0.1"]}, calls)
        port = receiver.server.server_port
        post = webhooks.safe_poster(["partner.example.cn"])
        answer = post(f"http://partner.example.cn:{port}/hooks", b"{}", {"X-Test": "1"})
        assert answer == webhooks.Answer(200, None)
        assert calls == ["partner.example.cn"]
        headers, body, _status = receiver.received[0]
        assert headers["Host"] == f"partner.example.cn:{port}" and body == b"{}"
        # without the allow-list the same name is refused before any connection
        refused = webhooks.safe_poster()(f"http://partner.example.cn:{port}/hooks", b"{}", {})
        assert refused.status is None and refused.error.startswith("refused:") and len(receiver.received) == 1
    finally:
        receiver.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # no storage involved
def test_subscribing_an_internal_url_is_a_chinese_422(app, client):
    headers = new_client(app, "platform", "webhooks:manage")
    for url in ("http://169.254.169.254/latest/meta-data", "http://[::ffff:7f00:1]:8080/x", "http://10.0.0.1/x",
                "http://localhost:5432/", "http://[fe80::1]/x"):
        answer = client.post("/api/v1/webhooks", headers=headers, json={"url": url, "events": ["case.accepted"]})
        assert answer.status_code == 422 and answer.mimetype == "application/problem+json", url
        problem = answer.get_json()
        assert "内部" in problem["detail"] and problem["errors"]["url"] == "该地址不能接收事件推送。", problem
    allowed = client.post("/api/v1/webhooks", headers=headers,
                          json={"url": "http://127.0.0.1:9/in", "events": ["case.accepted"]})
    assert allowed.status_code == 201  # 127.0.0.1 is on the tests' WEBHOOK_ALLOWED_HOSTS


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_name_that_now_resolves_inside_fails_its_delivery_with_the_reason(app, monkeypatch):
    from services import api_clients

    _resolver(monkeypatch, {"partner.example.cn": ["93.184.216.34"]}, [])
    issued = api_clients.create(uow_for(app), "platform", ["webhooks:manage"], Actor.system("test"))
    sub, _secret = webhooks.subscribe(uow_for(app), issued.client_id, "http://partner.example.cn/in",
                                      ["case.accepted"], Actor.system("test"))
    with uow_for(app) as unit:
        unit.session.add(WebhookDelivery(subscription_id=sub.id, event_key="x", event_id="e" * 32,
                                         event_type="case.accepted", payload="{}", status="pending", attempts=0,
                                         next_attempt_at=utcnow()))
        unit.commit()
    _resolver(monkeypatch, {"partner.example.cn": ["192.168.0.10"]}, [])  # the DNS answer changed
    assert webhooks.deliver_due(uow_for(app)) == (0, 1)
    with uow_for(app, write=False) as r:
        row = r.session.execute(select(WebhookDelivery)).scalar_one()
    assert row.status == "failed" and row.last_status_code is None
    assert row.last_error.startswith("refused: partner.example.cn resolves to 192.168.0.10, a private address")


def test_https_to_the_pinned_address_verifies_the_url_hosts_certificate(monkeypatch, tmp_path):
    """TLS goes to the checked address but SNI and the certificate check name the URL's host."""
    import shutil
    import ssl
    import subprocess
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=partner.example.cn", "-addext",
                    "subjectAltName=DNS:partner.example.cn"], check=True, capture_output=True)
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers["Content-Length"]))
            hosts.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_port
        target = webhook_targets.PinnedTarget("https", "partner.example.cn", port, "/in", "127.0.0.1")
        untrusted = webhooks.pinned_post(target, b"{}", {})
        assert untrusted.status is None and "CERTIFICATE_VERIFY_FAILED" in untrusted.error
        real = ssl.create_default_context

        def trusting(*args, **kwargs):
            made = real(*args, **kwargs)
            made.load_verify_locations(cert)
            return made

        monkeypatch.setattr(ssl, "create_default_context", trusting)
        assert webhooks.pinned_post(target, b"{}", {}) == webhooks.Answer(204, None)
        assert hosts == [f"partner.example.cn:{port}"]
        other = webhook_targets.PinnedTarget("https", "other.example.cn", port, "/in", "127.0.0.1")
        mismatch = webhooks.pinned_post(other, b"{}", {})
        assert mismatch.status is None and "other.example.cn" in mismatch.error
    finally:
        server.shutdown()
