"""The test suite (a package, so test helpers import as ``tests.helpers``)."""
