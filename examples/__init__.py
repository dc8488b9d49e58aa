"""Example datasets and manifests, installed as `codetune.local.examples` for `codetune demo`."""
