from tests.support.keystone_aio import keystone_aio  # noqa: F401  (session fixture)
