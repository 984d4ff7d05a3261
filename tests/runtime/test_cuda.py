"""target='cuda' where it cannot run: missing pycuda, missing driver, no GPU and out of GPU
memory all give errors that say what is missing and what to do, never a crash. The driver
is replaced by small fakes (no GPU is needed); runs on a real GPU are in docs/cuda.md."""

from __future__ import annotations

import importlib.util
import sys
import types

import pytest

import graphc as tf
from graphc.runtime.cuda import CudaUnavailableError, DeviceMemoryError, PycudaDevice

HAS_PYCUDA = importlib.util.find_spec("pycuda") is not None


@pytest.mark.skipif(HAS_PYCUDA, reason="pycuda is installed here")
def test_missing_pycuda_says_how_to_install_it():
    with pytest.raises(CudaUnavailableError) as info:
        tf.Session(target="cuda")
    message = str(info.value)
    assert "target 'cuda' needs pycuda, which is not installed" in message
    assert "pip install graphc[cuda]" in message and "CUDA toolkit" in message


def _fake_pycuda(monkeypatch, driver):
    monkeypatch.setitem(sys.modules, "pycuda", types.ModuleType("pycuda"))
    monkeypatch.setitem(sys.modules, "pycuda.driver", driver)


def test_missing_driver_is_named(monkeypatch):
    _fake_pycuda(monkeypatch, None)  # importing pycuda.driver fails, as without libcuda
    with pytest.raises(CudaUnavailableError, match=r"NVIDIA driver \(libcuda.so\) could not be "
                                                    r"loaded.*cuda-emulated"):
        tf.Session(target="cuda")


class _Driver(types.ModuleType):
    """A pycuda.driver stand-in: `gpus` devices, `free` bytes of memory."""

    class MemoryError(Exception):
        pass

    def __init__(self, gpus=1, free=1 << 20, init_error=None):
        super().__init__("pycuda.driver")
        driver = self
        self.init_error, self.free = init_error, free

        class Context:
            def push(self):
                driver.stack.append(self)

            @staticmethod
            def pop():
                driver.stack.pop()
        self.Context = Context
        self.stack = []  # the thread's context stack
        self.retained = 0  # primary contexts retained

        class Device:
            @staticmethod
            def count():
                return gpus

            def __init__(self, ordinal):
                pass

            def compute_capability(self):
                return (9, 0)

            def retain_primary_context(self):
                driver.retained += 1
                return Context()
        self.Device = Device
        self.allocations = []  # sizes, in order
        self.freed = []  # addresses

        class Allocation(int):
            def free(self):
                assert driver.stack, "freed outside a context"
                driver.freed.append(int(self))

        def mem_alloc(nbytes):
            assert driver.stack, "allocated outside a context"
            if nbytes > driver.free:
                raise _Driver.MemoryError("cuMemAlloc failed: out of memory")
            driver.allocations.append(nbytes)
            return Allocation(4096 * len(driver.allocations))
        self.mem_alloc = mem_alloc

    def init(self):
        if self.init_error:
            raise RuntimeError(self.init_error)


def test_a_driver_that_fails_to_initialize_is_reported(monkeypatch):
    _fake_pycuda(monkeypatch, _Driver(init_error="cuInit failed: no CUDA-capable device"))
    with pytest.raises(CudaUnavailableError, match="could not be initialized .cuInit failed"):
        tf.Session(target="cuda")


def test_no_gpu_is_reported(monkeypatch):
    _fake_pycuda(monkeypatch, _Driver(gpus=0))
    with pytest.raises(CudaUnavailableError, match="reports no GPU"):
        tf.Session(target="cuda")


def test_out_of_device_memory_is_a_clear_error(monkeypatch):
    driver = _Driver(free=1 << 20)
    _fake_pycuda(monkeypatch, driver)
    device = PycudaDevice()
    assert device.arch == "sm_90"
    assert device.alloc(1024) == 4096
    with pytest.raises(DeviceMemoryError, match=r"out of GPU memory allocating 4194304 bytes"):
        device.alloc(4 << 20)


def test_sessions_share_the_primary_context_and_free_their_memory(monkeypatch):
    driver = _Driver()
    _fake_pycuda(monkeypatch, driver)
    first, second = PycudaDevice(), PycudaDevice()
    assert driver.retained == 1 and first.context is second.context
    a, b = first.alloc(16), first.alloc(32)
    c = second.alloc(64)
    with first.active():
        with first.active():  # nested: pushed once
            assert len(driver.stack) == 1
    assert driver.stack == []
    first.close()
    assert sorted(driver.freed) == [a, b] and c not in driver.freed
    second.close()
    assert sorted(driver.freed) == [a, b, c] and driver.stack == []


def test_unknown_targets_list_the_device_targets():
    with pytest.raises(tf.errors.UnimplementedError, match="cuda, cuda-emulated"):
        tf.Session(target="tpu")
