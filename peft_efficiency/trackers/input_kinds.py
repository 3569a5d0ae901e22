"""What a training forward pass without `input_ids`/`inputs_embeds` holds: its batch rows, and its tokens where
the modality defines them.

- `pixel_values` (batch, channels, height, width) with a `patch_size` in the model's config: image patches,
  (height // patch) x (width // patch) per image (a class token the model adds is not counted).
- `input_features` (batch, features, frames): audio feature frames (log-mel frames for Whisper), the mask's
  frames when an `attention_mask` of that width is given.
- `input_values` (batch, samples) with `conv_kernel`/`conv_stride` in the config (wav2vec2, HuBERT, WavLM):
  audio frames after the convolutional feature encoder, from each row's samples (the mask's, when given).
- anything else: rows from the batch dimension of the first tensor; tokens are not defined (the keys are kept so
  the report can name them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

TEXT = "text tokens"
IMAGE_PATCHES = "image patches"
AUDIO_FEATURE_FRAMES = "audio feature frames"
AUDIO_FRAMES = "audio frames after the feature encoder"
ROWS_ONLY = "rows only"
TOKEN_MEANING = {
    TEXT: "non-padding tokens of input_ids/inputs_embeds",
    IMAGE_PATCHES: "image patches: (height // patch_size) x (width // patch_size) per image, class token not counted",
    AUDIO_FEATURE_FRAMES: "audio feature frames of input_features (the attention_mask's frames when given)",
    AUDIO_FRAMES: "audio frames after the convolutional feature encoder (conv_kernel/conv_stride of the config)",
}
SAMPLE_MEANING = {  # what one sample is for inputs other than text (text: the trainer kind says, see trainer_kinds)
    IMAGE_PATCHES: "images (rows of pixel_values)",
    AUDIO_FEATURE_FRAMES: "audio clips (rows of input_features)",
    AUDIO_FRAMES: "audio clips (rows of input_values)",
    ROWS_ONLY: "rows of the batch dimension of the training inputs",
}


def samples_meaning(kinds: dict[str, int], text_samples_are: str) -> str:
    """What the samples counted are, from the input kinds of the training forward passes; `text_samples_are` (the
    trainer kind's sequences or pairs) for text inputs, or when no forward pass was seen."""
    meanings = [SAMPLE_MEANING.get(kind, text_samples_are) for kind in kinds] or [text_samples_are]
    return "; ".join(dict.fromkeys(meanings))


@dataclass
class Reading:
    """One forward pass: its kind, rows, row width (positions per row), and tokens (None where undefined)."""

    kind: str
    rows: int
    width: int
    tokens: int | torch.Tensor | None
    square_sum: int | torch.Tensor
    keys: tuple[str, ...]


def _config(model: Any) -> Any:
    if model is None:
        return None
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return getattr(base, "config", None)


def _pair(value: Any) -> tuple[int, int] | None:
    if isinstance(value, int) and value > 0:
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value):
        return int(value[0]), int(value[1])
    return None


class InputReader:
    """Reads the kinds above, with the patch size and feature-encoder strides of `model`'s config (read once)."""

    def __init__(self, model: Any) -> None:
        config = _config(model)
        self.patch = _pair(getattr(config, "patch_size", None))
        kernels, strides = getattr(config, "conv_kernel", None), getattr(config, "conv_stride", None)
        valid = isinstance(kernels, (list, tuple)) and isinstance(strides, (list, tuple)) and len(kernels) == len(strides)
        self.convolutions = list(zip(kernels, strides)) if valid and kernels else None

    def read(self, kwargs: dict[str, Any]) -> Reading | None:
        keys = tuple(sorted(k for k, v in kwargs.items() if isinstance(v, torch.Tensor)))
        pixels = kwargs.get("pixel_values")
        if isinstance(pixels, torch.Tensor) and pixels.dim() == 4:
            return self._images(pixels, keys)
        features = kwargs.get("input_features")
        if isinstance(features, torch.Tensor) and features.dim() == 3:
            return self._feature_frames(features, kwargs.get("attention_mask"), keys)
        values = kwargs.get("input_values")
        if isinstance(values, torch.Tensor) and values.dim() == 2 and self.convolutions:
            return self._waveform_frames(values, kwargs.get("attention_mask"), keys)
        first = next((v for v in kwargs.values() if isinstance(v, torch.Tensor) and v.dim() > 0), None)
        if first is None:
            return None
        width = int(first.shape[1]) if first.dim() > 1 else 1
        return Reading(ROWS_ONLY, int(first.shape[0]), width, None, 0, keys)

    def _images(self, pixels: torch.Tensor, keys: tuple[str, ...]) -> Reading:
        rows = int(pixels.shape[0])
        if self.patch is None:
            return Reading(ROWS_ONLY, rows, 1, None, 0, keys)
        patches = (int(pixels.shape[2]) // self.patch[0]) * (int(pixels.shape[3]) // self.patch[1])
        return Reading(IMAGE_PATCHES, rows, patches, rows * patches, rows * patches * patches, keys)

    @staticmethod
    def _feature_frames(features: torch.Tensor, mask: Any, keys: tuple[str, ...]) -> Reading:
        rows, frames = int(features.shape[0]), int(features.shape[2])
        if isinstance(mask, torch.Tensor) and tuple(mask.shape) == (rows, frames):
            with torch.no_grad():
                lengths = torch.count_nonzero(mask, dim=1).to(torch.int64)
                return Reading(AUDIO_FEATURE_FRAMES, rows, frames, lengths.sum(), (lengths * lengths).sum(), keys)
        return Reading(AUDIO_FEATURE_FRAMES, rows, frames, rows * frames, rows * frames * frames, keys)

    def _waveform_frames(self, values: torch.Tensor, mask: Any, keys: tuple[str, ...]) -> Reading:
        rows, samples = int(values.shape[0]), int(values.shape[1])
        width = self.frames(samples)
        if isinstance(mask, torch.Tensor) and tuple(mask.shape) == (rows, samples):
            with torch.no_grad():
                lengths = torch.count_nonzero(mask, dim=1).to(torch.int64)
                for kernel, stride in self.convolutions or []:
                    lengths = torch.clamp(torch.div(lengths - kernel, stride, rounding_mode="floor") + 1, min=0)
                return Reading(AUDIO_FRAMES, rows, width, lengths.sum(), (lengths * lengths).sum(), keys)
        return Reading(AUDIO_FRAMES, rows, width, rows * width, rows * width * width, keys)

    def frames(self, samples: int) -> int:
        """Frames the feature encoder makes of `samples` waveform samples (each convolution: (n - k) // s + 1)."""
        for kernel, stride in self.convolutions or []:
            samples = max((samples - kernel) // stride + 1, 0)
        return samples
