"""Helpers shared by the tests: CLI output, the golden-fixture harness and builders, tiny
networks, web servers and fakes, reenactment stand-ins.  Test modules import them from here
(``from tests.helpers.golden import GOLDEN_DIR``), never from each other."""
