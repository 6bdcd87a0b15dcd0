"""bench/device_stage.py: the model a GPU machine gets travels in fp16 and widens back to fp32."""

import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import device_stage  # noqa: E402


def test_staged_model_widens_to_the_fp16_rounded_weights_and_loads(tiny_bert_dir, tmp_path):
    from workbench.models.bi_encoder import BiEncoder

    small, wide = tmp_path / "fp16", tmp_path / "fp32"
    small.mkdir()
    for f in tiny_bert_dir.rglob("*"):
        if f.is_file():
            (small / f.relative_to(tiny_bert_dir)).parent.mkdir(parents=True, exist_ok=True)
            (small / f.relative_to(tiny_bert_dir)).write_bytes(f.read_bytes())
    device_stage.cast_weights(tiny_bert_dir, small, "float16")
    device_stage.widen(small, wide)
    original, halved = load_file(tiny_bert_dir / "model.safetensors"), load_file(wide / "model.safetensors")
    assert load_file(small / "model.safetensors")["embeddings.word_embeddings.weight"].dtype == torch.float16
    for name, tensor in original.items():
        expected = tensor.half().float() if tensor.is_floating_point() else tensor
        assert halved[name].dtype == expected.dtype and torch.equal(halved[name], expected), name
    emb = BiEncoder.from_pretrained(wide).encode(["a small test", "another one"])
    assert emb.shape == (2, 32) and torch.isfinite(emb).all()


def test_travelling_bytes_count_the_stage_and_the_tracked_files(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"0" * 1000)
    assert device_stage.travelling_bytes(tmp_path) > 1000  # the tracked files come on top
