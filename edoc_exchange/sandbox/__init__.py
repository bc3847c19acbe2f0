"""What makes the product runnable on one machine without being the product.

The local axis (the national axis's protocol, behaving as the real one: ``edoc axis
serve``), the test PKI (certificates for trying the product only: ``edoc keys new``), the
sandbox that writes an axis and offices with test keys into one folder and runs them as
real processes, and ``edoc demo``. Shipped, because a province trains its clerks on it and
every test runs against it; kept apart, because none of it may ever sign or route a real
document.
"""

from .box import Sandbox, SandboxOffice, free_port
from .pki import TestIdentity, new_test_identity

__all__ = ["Sandbox", "SandboxOffice", "TestIdentity", "free_port", "new_test_identity"]

# A CA that revokes, with its CRL and OCSP responder on HTTP.
from .ca import LocalCA

__all__ += ["LocalCA"]
