import ssl

from trove_lite.osc import conn as dbconn

CFG = dbconn.ConnectionConfig("127.0.0.1", 3306, "u", "p")


def test_connections_share_one_preferred_tls_context():
    """Building pymysql's default ("preferred": TLS if the server offers it, not
    verified) context loads the CA store, 15-30 ms of CPU per connection; the engine
    opens about ten at start-up and cut-over. Built once, it is the same context."""
    a = dbconn.connect(CFG, "d", defer_connect=True)
    b = dbconn.connect(CFG, "d", defer_connect=True)
    assert a.ssl and not a._ssl_required           # still TLS when offered, as before
    assert a.ctx is b.ctx
    assert a.ctx.verify_mode == ssl.CERT_NONE and not a.ctx.check_hostname


def test_explicit_tls_options_get_their_own_context():
    a = dbconn.connect(CFG, "d", defer_connect=True)
    b = dbconn.connect(CFG, "d", defer_connect=True, ssl={"check_hostname": False})
    assert b._ssl_required and b.ctx is not a.ctx
