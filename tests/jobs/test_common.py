from dataclasses import dataclass, field
from typing import Literal

import pytest

from jobs.common import storage
from jobs.common.config import ConfigError, load_config, parse_args
from jobs.common.storage import StorageConfig


@dataclass(frozen=True)
class Inner:
    endpoint_url: str | None = None
    retries: int = 2


@dataclass(frozen=True)
class Example:
    input: str = "in"
    batch_size: int = 4
    threshold: float = 0.5
    device: Literal["auto", "cpu", "cuda"] = "auto"
    clips: tuple[str, ...] = ()
    storage: Inner = field(default_factory=Inner)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("input: videos\nbatch_size: 8\nstorage:\n  retries: 5\nclips: [a, b]\n")
    cfg = load_config(Example, path, ["threshold=1", "storage.endpoint_url=http://127.0.0.1:1", "device=cpu"])
    assert cfg == Example(
        input="videos", batch_size=8, threshold=1.0, device="cpu", clips=("a", "b"),
        storage=Inner(endpoint_url="http://127.0.0.1:1", retries=5),
    )
    assert parse_args(Example, ["--config", str(path), "batch_size=2"]).batch_size == 2


@pytest.mark.parametrize("text,value", [("1e-4", 1e-4), ("-2.5E3", -2500.0), ("3e+2", 300.0), ("0.0003", 3e-4)])
def test_exponent_floats_without_a_point_are_floats(text, value):
    # YAML 1.1 reads 1e-4 as a string; `learning_rate=1e-4` must still work.
    assert load_config(Example, None, [f"threshold={text}"]).threshold == value


@pytest.mark.parametrize(
    "text,overrides,message",
    [
        ("bogus: 1\n", [], "unknown key 'bogus'"),
        ("storage:\n  nope: 1\n", [], "unknown key 'storage.nope'"),
        ("batch_size: many\n", [], "batch_size must be int"),
        ("threshold: 1e-4x\n", [], "threshold must be float"),
        ("", ["batch_size=0"], "batch_size must be >= 1"),
        ("", ["device=tpu"], "device must be one of"),
        ("", ["nonsense"], "expected key=value"),
        ("- a\n- b\n", [], "expected a mapping"),
        ("a: [\n", [], "not valid YAML"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path, text, overrides, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(Example, path, overrides)
    if not overrides:
        assert "bad.yaml" in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="missing.yaml.*cannot read"):
        load_config(Example, tmp_path / "missing.yaml")


def _exercise(root: str, cfg: StorageConfig) -> None:
    storage.write_bytes(storage.join(root, "season=2024", "a.mp4"), b"aaaa", cfg)
    storage.write_bytes(storage.join(root, "season=2024", "sub", "b.MP4"), b"bb", cfg)
    storage.write_bytes(storage.join(root, "notes.txt"), b"x", cfg)
    entries = storage.list_files(root, (".mp4",), cfg)
    assert [e.relative_path for e in entries] == ["season=2024/a.mp4", "season=2024/sub/b.MP4"]
    assert [e.size_bytes for e in entries] == [4, 2]
    assert storage.read_bytes(entries[1].uri, cfg) == b"bb"
    with storage.open_input(entries[0].uri, cfg) as f:
        f.seek(2)
        assert f.read() == b"aa"
    single = storage.list_files(entries[0].uri, (".mp4",), cfg)
    assert [(e.relative_path, e.uri) for e in single] == [("a.mp4", entries[0].uri)]
    assert storage.exists(storage.join(root, "notes.txt"), cfg)
    storage.delete_tree(storage.join(root, "season=2024"), cfg)
    assert storage.list_files(root, (".mp4",), cfg) == []
    with pytest.raises(FileNotFoundError, match="nowhere"):
        storage.list_files(storage.join(root, "nowhere"), (".mp4",), cfg)


def test_local_storage(tmp_path):
    _exercise(str(tmp_path / "root"), StorageConfig())
    _exercise("file://" + str(tmp_path / "root2"), StorageConfig())


def test_s3_storage(s3_server, s3_bucket):
    _exercise(f"s3://{s3_bucket}/prefix", StorageConfig(endpoint_url=s3_server))


def test_s3_endpoint_from_environment(s3_server, s3_bucket, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    storage.write_bytes(f"s3://{s3_bucket}/x.bin", b"hello")
    assert storage.read_bytes(f"s3://{s3_bucket}/x.bin", StorageConfig(endpoint_url=s3_server)) == b"hello"


def test_bad_uri_and_endpoint():
    with pytest.raises(ValueError, match="unsupported URI scheme"):
        storage.resolve("gs://bucket/x")
    with pytest.raises(ValueError, match="endpoint_url"):
        StorageConfig(endpoint_url="127.0.0.1:9000")
