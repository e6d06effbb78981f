"""Ray cluster configs (AWS launcher, KubeRay) and a local multi-node cluster for trying jobs and tests."""
