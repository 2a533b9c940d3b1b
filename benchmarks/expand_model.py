"""Copy a model folder whose weights travel as float16 (``model_fp16.safetensors``, to fit
a size limit) and write them back as float32 ``model.safetensors``, so every encoder
loads the same fp32 weights. Used by ``benchmarks/gpu_session.sh``.

    python benchmarks/expand_model.py SRC_FOLDER DST_FOLDER
"""
import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns("model_fp16.safetensors"))
weights = load_file(src / "model_fp16.safetensors")
save_file({k: v.float().contiguous() for k, v in weights.items()}, dst / "model.safetensors", metadata={"format": "pt"})
print("model expanded to float32:", len(weights), "tensors")
