"""The cluster configs parse and carry what the jobs need: node types and GPU resources, S3 through
instance profiles or service accounts (never keys), the pinned Ray version, and entrypoints that
run real job modules with valid configs.

    .venv/bin/python -m pytest tests/cluster/test_manifests.py -q
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from jobs.common.config import parse_args

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "cluster"
LAUNCHER = CLUSTER / "aws.yaml"
RAYCLUSTER = CLUSTER / "kuberay" / "raycluster.yaml"
RAYJOBS = {job: CLUSTER / "kuberay" / f"rayjob-{job}.yaml" for job in ("featurize", "train", "infer")}
RUNTIME_ENV = CLUSTER / "runtime_env.yaml"
ALL_YAML = sorted(CLUSTER.rglob("*.yaml"))
TEXT_FILES = sorted(p for p in CLUSTER.rglob("*") if p.is_file() and p.suffix in {".yaml", ".md", ".py"})

RAY_VERSION = re.search(r"^ray==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M).group(1)
TORCH_PIN = re.search(r"^(torch==\S+)$", (ROOT / "constraints.txt").read_text(), re.M).group(1)
CPU_IMAGE = f"rayproject/ray:{RAY_VERSION}-py311"
GPU_IMAGE = f"rayproject/ray:{RAY_VERSION}-py311-gpu"


def load(path: Path) -> dict[str, Any]:
    docs = list(yaml.safe_load_all(path.read_text()))
    assert len(docs) == 1 and isinstance(docs[0], dict), f"{path}: expected one YAML mapping"
    return docs[0]


def pod_specs(cluster_spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(group name, group spec, pod spec) for the head and every worker group of a RayClusterSpec."""
    yield "head", cluster_spec["headGroupSpec"], cluster_spec["headGroupSpec"]["template"]["spec"]
    for group in cluster_spec["workerGroupSpecs"]:
        yield group["groupName"], group, group["template"]["spec"]


def cluster_specs() -> Iterator[tuple[Path, dict[str, Any]]]:
    yield RAYCLUSTER, load(RAYCLUSTER)["spec"]
    for path in RAYJOBS.values():
        yield path, load(path)["spec"]["rayClusterSpec"]


def gpus(container: dict[str, Any]) -> int:
    return int(container.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0))


def launcher_setup(config: dict[str, Any], node_type: str) -> list[str]:
    """The setup commands a node of `node_type` really runs: a type's own worker_setup_commands
    replace the global setup_commands + worker_setup_commands (ray.autoscaler semantics)."""
    if node_type == config["head_node_type"]:
        return config.get("setup_commands", []) + config.get("head_setup_commands", [])
    own = config["available_node_types"][node_type].get("worker_setup_commands")
    return own if own is not None else config.get("setup_commands", []) + config.get("worker_setup_commands", [])


# --------------------------------------------------------------------------- every file


@pytest.mark.parametrize("path", ALL_YAML, ids=lambda p: str(p.relative_to(CLUSTER)))
def test_every_yaml_parses_to_one_mapping(path: Path) -> None:
    assert load(path)


def test_all_expected_files_exist() -> None:
    for path in (LAUNCHER, RAYCLUSTER, RUNTIME_ENV, *RAYJOBS.values(), CLUSTER / "README.md"):
        assert path.is_file(), f"missing {path.relative_to(ROOT)}"


@pytest.mark.parametrize("path", TEXT_FILES, ids=lambda p: str(p.relative_to(CLUSTER)))
def test_no_aws_credentials_in_any_file(path: Path) -> None:
    text = path.read_text()
    assert not re.search(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", text), f"{path}: looks like an AWS access key id"
    if path.suffix == ".yaml":
        for name in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
            assert name not in text.lower(), f"{path}: sets {name}; credentials must come from IAM roles"


# --------------------------------------------------------------------------- AWS launcher


def test_launcher_matches_rays_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    spec = importlib.util.find_spec("ray")
    assert spec is not None and spec.submodule_search_locations
    schema_path = Path(spec.submodule_search_locations[0], "autoscaler", "ray-schema.json")
    jsonschema.validate(load(LAUNCHER), json.loads(schema_path.read_text()))


def test_launcher_has_cpu_head_cpu_and_gpu_worker_types() -> None:
    config = load(LAUNCHER)
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("CPU") == 0, "the head must not take tasks"
    assert "GPU" not in head["resources"]
    workers = {name: t for name, t in types.items() if name != config["head_node_type"]}
    gpu_types = [t for t in workers.values() if t["resources"].get("GPU", 0) >= 1]
    cpu_types = [t for t in workers.values() if t["resources"].get("GPU", 0) == 0 and t["resources"].get("CPU", 0) > 0]
    assert gpu_types and cpu_types
    assert all(re.match(r"(g|p)\d", t["node_config"]["InstanceType"]) for t in gpu_types)
    for name, node_type in workers.items():
        assert 0 <= node_type["min_workers"] <= node_type["max_workers"] <= config["max_workers"], name


def test_launcher_gives_every_node_an_instance_profile() -> None:
    for name, node_type in load(LAUNCHER)["available_node_types"].items():
        profile = node_type["node_config"].get("IamInstanceProfile", {})
        assert profile.get("Name") or profile.get("Arn"), f"node type {name} has no IamInstanceProfile"


def test_launcher_nodes_install_the_project_with_the_right_torch() -> None:
    config = load(LAUNCHER)
    assert config["file_mounts"], "the project must be copied to the nodes"
    for name, node_type in config["available_node_types"].items():
        commands = launcher_setup(config, name)
        installs = [c for c in commands if "-c" in c and "constraints.txt" in c and "-e" in c]
        assert installs, f"{name} does not install the project"
        torch = [c for c in commands if TORCH_PIN in c]
        assert torch, f"{name} does not pin {TORCH_PIN}"
        cpu_wheel = any("download.pytorch.org/whl/cpu" in c for c in torch)
        assert cpu_wheel == (node_type["resources"].get("GPU", 0) == 0), f"{name}: CPU wheel on CPU nodes only"


def test_launcher_images_use_the_pinned_ray() -> None:
    config = load(LAUNCHER)
    assert config["docker"]["image"] == CPU_IMAGE
    for name, node_type in config["available_node_types"].items():
        image = node_type.get("docker", {}).get("worker_image", config["docker"]["image"])
        assert image == (GPU_IMAGE if node_type["resources"].get("GPU") else CPU_IMAGE), name


# --------------------------------------------------------------------------- KubeRay


def test_kuberay_kinds_and_api_version() -> None:
    assert (load(RAYCLUSTER)["apiVersion"], load(RAYCLUSTER)["kind"]) == ("ray.io/v1", "RayCluster")
    for path in RAYJOBS.values():
        assert (load(path)["apiVersion"], load(path)["kind"]) == ("ray.io/v1", "RayJob"), path


def test_raycluster_has_cpu_and_gpu_worker_groups() -> None:
    spec = load(RAYCLUSTER)["spec"]
    assert spec["enableInTreeAutoscaling"] is True
    groups = {name: pod for name, _, pod in pod_specs(spec) if name != "head"}
    per_group_gpus = {name: sum(gpus(c) for c in pod["containers"]) for name, pod in groups.items()}
    assert any(n >= 1 for n in per_group_gpus.values()), "no worker group asks for nvidia.com/gpu"
    assert any(n == 0 for n in per_group_gpus.values()), "no CPU-only worker group"


@pytest.mark.parametrize("path_and_spec", list(cluster_specs()), ids=lambda ps: ps[0].name)
def test_kuberay_cluster_spec_is_consistent(path_and_spec: tuple[Path, dict[str, Any]]) -> None:
    path, spec = path_and_spec
    assert spec["rayVersion"] == RAY_VERSION, path
    assert spec["headGroupSpec"]["rayStartParams"].get("num-cpus") == "0", f"{path}: the head must not take tasks"
    for name, group, pod in pod_specs(spec):
        # KubeRay's CRD types rayStartParams as map[string]string: a bare YAML number is rejected.
        assert all(isinstance(v, str) for v in group["rayStartParams"].values()), f"{path}:{name}"
        assert pod.get("serviceAccountName"), f"{path}:{name} has no service account for S3 (IRSA)"
        if name != "head":
            assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"], f"{path}:{name}"
        for container in pod["containers"]:
            expected = GPU_IMAGE if gpus(container) else CPU_IMAGE
            assert container["image"] == expected, f"{path}:{name}"
            limits, requests = container["resources"]["limits"], container["resources"]["requests"]
            assert gpus(container) == int(requests.get("nvidia.com/gpu", 0)), f"{path}:{name}: GPU request != limit"
            assert {"cpu", "memory"} <= limits.keys(), f"{path}:{name}"


@pytest.mark.parametrize("job", sorted(RAYJOBS))
def test_rayjob_entrypoint_runs_the_job_module_with_a_valid_config(job: str) -> None:
    spec = load(RAYJOBS[job])["spec"]
    argv = shlex.split(spec["entrypoint"])
    assert argv[:3] == ["python", "-m", f"jobs.{job}"], spec["entrypoint"]
    module = f"jobs.{job}"
    assert importlib.util.find_spec(module) is not None, f"{module} does not exist in the repository"
    config_cls = getattr(importlib.import_module(module), f"{job.capitalize()}Config")
    config_path = argv[argv.index("--config") + 1]
    assert (ROOT / config_path).is_file(), f"{RAYJOBS[job].name}: {config_path} does not exist"
    # Relative --config paths resolve against the working_dir, the repository root.
    argv[argv.index("--config") + 1] = str(ROOT / config_path)
    parse_args(config_cls, argv[3:])  # unknown keys or bad values raise ConfigError


@pytest.mark.parametrize("job", sorted(RAYJOBS))
def test_rayjob_shuts_down_and_carries_the_runtime_env(job: str) -> None:
    spec = load(RAYJOBS[job])["spec"]
    assert spec["shutdownAfterJobFinishes"] is True
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert runtime_env["working_dir"].startswith("s3://") and runtime_env["working_dir"].endswith(".zip")
    assert runtime_env["pip"] == load(RUNTIME_ENV)["pip"], "runtimeEnvYAML pip differs from cluster/runtime_env.yaml"


def test_gpu_jobs_ask_for_the_gpus_their_cluster_has() -> None:
    infer = load(RAYJOBS["infer"])["spec"]
    overrides = dict(a.split("=", 1) for a in shlex.split(infer["entrypoint"]) if "=" in a)
    gpu_groups = [g for g in infer["rayClusterSpec"]["workerGroupSpecs"]
                  if any(gpus(c) for c in g["template"]["spec"]["containers"])]
    assert float(overrides["gpus_per_actor"]) == 1
    assert int(overrides["num_actors"]) <= sum(g["maxReplicas"] for g in gpu_groups)
    train = load(RAYJOBS["train"])["spec"]
    overrides = dict(a.split("=", 1) for a in shlex.split(train["entrypoint"]) if "=" in a)
    gpu_groups = [g for g in train["rayClusterSpec"]["workerGroupSpecs"]
                  if any(gpus(c) for c in g["template"]["spec"]["containers"])]
    assert overrides["use_gpu"] == "true"
    assert int(overrides["num_workers"]) <= sum(g["maxReplicas"] for g in gpu_groups)


def test_featurize_job_needs_no_gpu() -> None:
    spec = load(RAYJOBS["featurize"])["spec"]["rayClusterSpec"]
    assert not any(gpus(c) for _, _, pod in pod_specs(spec) for c in pod["containers"])


# --------------------------------------------------------------------------- runtime env and docs


def test_runtime_env_installs_every_project_dependency() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {re.split(r"[\[<>=! ]", d, maxsplit=1)[0].lower() for d in pyproject["project"]["dependencies"]}
    packages = load(RUNTIME_ENV)["pip"]["packages"]
    names = {re.split(r"[\[<>=! ]", p, maxsplit=1)[0].lower() for p in packages}
    assert needed - {"ray"} <= names, f"missing from cluster/runtime_env.yaml: {sorted(needed - {'ray'} - names)}"
    assert TORCH_PIN in packages, f"torch must be pinned like constraints.txt ({TORCH_PIN})"


def test_every_module_the_docs_and_configs_run_exists() -> None:
    texts = [p.read_text() for p in (*ALL_YAML, CLUSTER / "README.md")]
    modules = {m for text in texts for m in re.findall(r"python -m ((?:jobs|cluster|tracknet)\.[\w.]+)", text)}
    assert {"jobs.featurize", "jobs.train", "jobs.infer", "cluster.local_cluster"} <= modules
    missing = sorted(m for m in modules if importlib.util.find_spec(m) is None)
    assert not missing, f"modules named in cluster/ that do not exist: {missing}"
