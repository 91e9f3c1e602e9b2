"""Device, dtype and attention choice. This machine has no GPU: the CUDA probes are monkeypatched to
pretend one exists (and that flash-attn is installed), so both branches of each choice are covered."""

import pytest
from model_hf import hardware


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch):
    def set_probes(*, cuda: bool, bf16: bool = False, flash: bool = False) -> None:
        monkeypatch.setattr(hardware, "cuda_available", lambda: cuda)
        monkeypatch.setattr(hardware, "cuda_bf16_supported", lambda: cuda and bf16)
        monkeypatch.setattr(hardware, "flash_attn_importable", lambda: flash)

    return set_probes


def test_auto_device_is_cuda_when_a_gpu_is_present(probes) -> None:
    probes(cuda=True)  # mocked: no CUDA device exists here
    assert hardware.resolve_device("auto") == "cuda"


def test_auto_device_is_cpu_without_a_gpu(probes) -> None:
    probes(cuda=False)
    assert hardware.resolve_device("auto") == "cpu"


def test_explicit_device_is_kept(probes) -> None:
    probes(cuda=False)
    assert hardware.resolve_device("cuda") == "cuda"


def test_auto_dtype_is_bf16_on_a_bf16_gpu_else_float32(probes) -> None:
    probes(cuda=True, bf16=True)  # mocked CUDA
    assert hardware.resolve_dtype("auto", "cuda") == "bfloat16"
    assert hardware.resolve_dtype("auto", "cpu") == "float32"
    probes(cuda=True, bf16=False)  # mocked CUDA without bf16 (e.g. a T4)
    assert hardware.resolve_dtype("auto", "cuda") == "float32"
    assert hardware.resolve_dtype("float16", "cpu") == "float16"


def test_auto_attention_is_flash_only_with_flash_attn_and_cuda(probes) -> None:
    probes(cuda=True, flash=True)  # mocked CUDA and flash-attn
    assert hardware.resolve_attn_implementation("auto", "cuda") == "flash_attention_2"
    # The model is placed on the CPU although a GPU exists: flash-attn cannot run there.
    assert hardware.resolve_attn_implementation("auto", "cpu") == "sdpa"


def test_auto_attention_is_sdpa_without_flash_attn_or_without_cuda(probes) -> None:
    probes(cuda=True, flash=False)  # mocked CUDA
    assert hardware.resolve_attn_implementation("auto", "cuda") == "sdpa"
    probes(cuda=False, flash=True)
    assert hardware.resolve_attn_implementation("auto", "cuda") == "sdpa"
    assert hardware.resolve_attn_implementation("eager", "cpu") == "eager"


def test_real_probes_on_this_machine() -> None:
    # No flash-attn is installed here (it is the optional `flash` extra).
    assert hardware.flash_attn_importable() is False


def test_cuda_available_agrees_with_torch_and_imports_it_only_where_a_gpu_driver_is_found() -> None:
    """Each asked in a fresh process. Here (no libcuda.so.1, no /dev/kfd) both say False and torch is never
    imported for the answer; on a GPU machine the probe imports torch and says what it says."""
    import subprocess
    import sys

    probe = (
        "import sys; from model_hf import hardware; print(hardware.cuda_available(), 'torch' in sys.modules)"
    )
    torch_says = "import torch; print(torch.cuda.is_available())"
    (available, torch_imported), (torch_available,) = (
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
        for code in (probe, torch_says)
    )
    assert available == torch_available
    assert torch_imported == str(hardware.gpu_driver_present())


def test_where_a_gpu_driver_is_found_torch_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(hardware, "gpu_driver_present", lambda: True)  # mocked: no GPU driver exists here
    asked = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: asked.append(True) or True)
    assert hardware.cuda_available() is True and asked == [True]
