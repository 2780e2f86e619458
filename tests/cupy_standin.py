"""A strict stand-in for CuPy, so that the device layer (Tensor, autograd, the optimizers, the
checkpoints, the trainer, the CLI) runs on a second array type on a machine without a GPU.

Its ``ndarray`` is a NumPy subclass that keeps NumPy's memory (so the kernels of
``tests/cuda_emulation.py`` run on it) and refuses what CuPy 14 refuses:

- a NumPy array beside a device array in an operation (an operand, ``out=``, an ``np.*``
  function): ``TypeError: Unsupported type <class 'numpy.ndarray'>``;
- a non-scalar NumPy array written into a device array (``a[...] = host``, ``a.fill(host)``):
  ``ValueError: non-scalar numpy.ndarray cannot be used for fill``;
- ``cupy.may_share_memory`` with a NumPy argument: ``TypeError: Argument 'b' has incorrect type``;
- an array on another device than the current one (CuPy without peer access): ValueError;
- a kernel launched with a NumPy array or a Python number: TypeError.

A reduction or a full index gives a 0-d device array, as CuPy's do. Inside ``installed()``,
``np.asarray`` / ``np.array`` of a device array raise TypeError as CuPy's ``__array__`` does
(a subclass is otherwise viewed as its base class without being asked); what a subclass cannot
refuse is NumPy's own C code taking one, e.g. ``host[...] = device_array``.

``cupy.RawModule`` compiles nothing: it hands out the kernels of kernels/*.cu built for the CPU
(``cuda_emulation.build()``). ``MISSING`` simulates a machine without a CUDA library: with
"nvrtc" in it every RawModule fails as CuPy does when libnvrtc cannot load, with "cublas"
every ``matmul``. ``DEVICE_COUNT`` GPUs are seen (2, so that "cuda:1" means something).

``installed()`` puts it in ``sys.modules`` as ``cupy`` / ``cupyx`` and in ``minicnn.backend``,
with a CUDA runtime of 32-thread blocks (the emulation runs a thread per CUDA thread); the
``standin_cupy`` fixture of conftest.py does that for a test and undoes it after.
"""

import contextlib
import sys
import threading
import types

import numpy as np

import cuda_emulation

DEVICE_COUNT = 2
MISSING = set()        # "nvrtc", "cublas": libraries this stand-in pretends cannot load
__version__ = "14.0.0 (minicnn test stand-in)"

_current = threading.local()
_numpy_array, _numpy_asarray = np.array, np.asarray


def _current_device():
    return getattr(_current, "id", 0)


# ----- the device array ----------------------------------------------------------------------

def _unsupported(value):
    return TypeError(f"Unsupported type {type(value)}")


def _check_operands(values):
    """Refuse host arrays; refuse device arrays of another device than the current one."""
    for value in values:
        if isinstance(value, (list, tuple)):
            _check_operands(value)
        elif isinstance(value, ndarray):
            if value._device_id != _current_device():
                raise ValueError(f"The device where the array resides ({value._device_id}) is "
                                 f"different from the current device ({_current_device()}). "
                                 "Peer access is unavailable between these devices.")
        elif isinstance(value, np.ndarray):
            raise _unsupported(value)


def _host_view(value):
    """Device arrays as plain NumPy views (recursively in lists and tuples)."""
    if isinstance(value, ndarray):
        return value.view(np.ndarray)
    if isinstance(value, (list, tuple)):
        return type(value)(_host_view(v) for v in value)
    return value


def _on_device(value):
    """NumPy results as device arrays (0-d for scalars, as CuPy's reductions give)."""
    if isinstance(value, ndarray):
        return value
    if isinstance(value, np.ndarray):
        out = value.view(ndarray)
        out._device_id = _current_device()
        return out
    if isinstance(value, np.generic):
        return _on_device(_numpy_array(value))
    if isinstance(value, (list, tuple)):
        return type(value)(_on_device(v) for v in value)
    return value


class ndarray(np.ndarray):
    """A device array: NumPy's memory and CuPy's refusals (see the module docstring)."""

    def __array_finalize__(self, obj):
        self._device_id = getattr(obj, "_device_id", _current_device())

    @property
    def device(self):
        return cuda.Device(self._device_id)

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        _check_operands(inputs + (out or ()))
        if ufunc is np.matmul:
            _load_cublas()
        if out is not None:
            kwargs["out"] = tuple(_host_view(o) for o in out)
        result = getattr(ufunc, method)(*_host_view(inputs), **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _on_device(result)

    def __array_function__(self, func, types_, args, kwargs):
        if func is np.may_share_memory or func is np.shares_memory:
            return may_share_memory(*args, **kwargs)
        _check_operands(list(args) + list(kwargs.values()))
        return _on_device(func(*_host_view(args), **_host_view(kwargs)))

    def __getitem__(self, index):
        if isinstance(index, np.ndarray) and not isinstance(index, ndarray):
            index = array(index)   # CuPy moves a NumPy index to the device
        result = super().__getitem__(_host_view(index))
        return _on_device(result) if not isinstance(result, ndarray) else result

    def __setitem__(self, index, value):
        if isinstance(value, np.ndarray) and not isinstance(value, ndarray):
            if value.shape != ():
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
            value = value.item()
        _check_operands([value])
        self.view(np.ndarray)[_host_view(index)] = _host_view(value)

    def fill(self, value):
        self[...] = value

    def copy(self, order="C"):
        """A copy on the current device (CuPy copies across devices this way)."""
        return _on_device(_numpy_array(self.view(np.ndarray), order=order))

    def get(self):
        """A NumPy copy on the host."""
        return _numpy_array(self.view(np.ndarray))

    def set(self, host):
        """Copy a NumPy array of the same shape and dtype into this one."""
        if isinstance(host, ndarray) or not isinstance(host, np.ndarray):
            raise TypeError(f"Only numpy.ndarray can be set to cupy.ndarray, got {type(host)}")
        if host.shape != self.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self.shape}, new shape: {host.shape}")
        self.view(np.ndarray)[...] = host

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` "
                        "to construct a NumPy array explicitly.")

    def __repr__(self):
        return "array(" + np.array2string(self.view(np.ndarray), separator=", ") + ")"

    __str__ = __repr__


# ----- the module's functions ----------------------------------------------------------------

def array(obj, dtype=None, copy=True, order="K", ndmin=0):
    """A device array holding ``obj`` (host data is copied to the current device)."""
    if isinstance(obj, ndarray) and obj._device_id != _current_device():
        obj = obj.copy()
    return _on_device(_numpy_array(_host_view(obj), dtype=dtype, copy=copy, order=order,
                               ndmin=ndmin))


def asarray(a, dtype=None, order=None):
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == dtype else a.astype(dtype)
    return array(a, dtype=dtype, order=order or "K")


def ascontiguousarray(a, dtype=None):
    _check_operands([a])
    return _on_device(np.ascontiguousarray(_host_view(a), dtype=dtype))


def asnumpy(a, stream=None, order="C", out=None):
    return a.get() if isinstance(a, ndarray) else _numpy_asarray(a, order=order)


def get_array_module(*args):
    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else np


def may_share_memory(a, b, max_work=None):
    for name, value in (("a", a), ("b", b)):
        if not isinstance(value, ndarray):
            raise TypeError(f"Argument '{name}' has incorrect type (expected "
                            f"cupy._core.core._ndarray_base, got {type(value).__name__})")
    return bool(np.may_share_memory(a.view(np.ndarray), b.view(np.ndarray)))


shares_memory = may_share_memory


# functions whose arguments after the first are host-side parameters (sizes, split points,
# pad widths), which CuPy takes as NumPy arrays too
_HOST_PARAMETERS = {"split", "array_split", "pad", "reshape", "transpose", "broadcast_to", "tile",
                    "full", "zeros", "ones", "empty", "arange"}


# functions that CuPy runs on cuBLAS
_CUBLAS = {"matmul", "dot", "vdot", "inner", "tensordot", "einsum"}


def _load_cublas():
    if "cublas" in MISSING:
        raise RuntimeError("CuPy failed to load libcublas.so.12: OSError: libcublas.so.12: "
                           "cannot open shared object file: No such file or directory")


def _device_function(function):
    def run(*args, **kwargs):
        if function.__name__ in _CUBLAS:
            _load_cublas()
        data = args[:1] if function.__name__ in _HOST_PARAMETERS else list(args) + list(
            kwargs.values())
        _check_operands(data)
        return _on_device(function(*_host_view(args), **_host_view(kwargs)))
    run.__name__ = function.__name__
    return run


def __getattr__(name):
    """Everything else NumPy has: dtypes as they are, functions and ufuncs on device arrays."""
    value = getattr(np, name)
    if isinstance(value, type) or not callable(value):
        return value
    return _device_function(value)


# ----- cupy.cuda: devices, the runtime, NVRTC ------------------------------------------------

class Device:
    """cupy.cuda.Device: ``with Device(1):`` makes GPU 1 current in the block; ``use()`` for
    good."""

    def __init__(self, device=None):
        self.id = _current_device() if device is None else int(device)
        if not 0 <= self.id < DEVICE_COUNT:
            raise RuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
        self._previous = []

    def use(self):
        _current.id = self.id

    def __enter__(self):
        self._previous.append(_current_device())
        self.use()
        return self

    def __exit__(self, *exc):
        _current.id = self._previous.pop()

    def synchronize(self):
        pass

    @property
    def compute_capability(self):
        return "90"

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


class CompileException(Exception):
    pass


def _load_nvrtc():
    if "nvrtc" in MISSING:
        raise RuntimeError("CuPy failed to load libnvrtc.so.12: OSError: libnvrtc.so.12: cannot "
                           "open shared object file: No such file or directory")


class _Kernel:
    """A RawKernel of the emulated build: refuses host arrays and Python numbers, as CuPy's
    launch does (a Python int would be passed as a C long, whatever the kernel's type)."""

    def __init__(self, kernel):
        self._kernel = kernel

    def __call__(self, grid, block, args, shared_mem=0, stream=None):
        _check_operands([a for a in args if a is not None])
        for value in args:
            if isinstance(value, (int, float)) and not isinstance(value, np.generic):
                raise TypeError(f"the stand-in takes NumPy scalars, got {type(value).__name__}")
        self._kernel(grid, block, _host_view(tuple(args)), shared_mem=shared_mem)


class RawModule:
    """cupy.RawModule(code=..., options=...): the emulated kernels the code defines."""

    _build = None
    _lock = threading.Lock()

    def __init__(self, code=None, options=(), **kwargs):
        _load_nvrtc()
        if not isinstance(options, tuple):
            raise TypeError("options must be a tuple")
        self.code = code
        with RawModule._lock:
            if RawModule._build is None:
                RawModule._build = cuda_emulation.EmulatedModule(cuda_emulation.build())

    def get_function(self, name):
        if f"NAME({name.rsplit('_', 1)[0]})" not in self.code and name not in self.code:
            raise RuntimeError(f"CUDA_ERROR_NOT_FOUND: named symbol not found: {name}")
        return _Kernel(RawModule._build.get_function(name))


def _runtime():
    def get_device_properties(device):
        return {"name": f"Stand-in GPU {device}".encode(), "totalGlobalMem": 80 * 2 ** 30,
                "major": 9, "minor": 0, "multiProcessorCount": 132}
    return types.SimpleNamespace(
        getDeviceCount=lambda: DEVICE_COUNT, getDevice=_current_device,
        setDevice=lambda device: Device(device).use(),
        runtimeGetVersion=lambda: 12080, driverGetVersion=lambda: 12080,
        getDeviceProperties=get_device_properties, deviceSynchronize=lambda: None,
        CUDARuntimeError=RuntimeError)


def _nvrtc():
    def get_version():
        _load_nvrtc()
        return (12, 8)
    return types.SimpleNamespace(getVersion=get_version)


cuda = types.SimpleNamespace(Device=Device, runtime=_runtime(), nvrtc=_nvrtc(),
                             compiler=types.SimpleNamespace(CompileException=CompileException),
                             get_current_stream=lambda: types.SimpleNamespace(
                                 synchronize=lambda: None))
RawKernel = None   # minicnn uses RawModule only; a RawKernel would need its own emulated build


def scatter_add(a, slices, value):
    """cupyx.scatter_add: a[slices] += value, repeated indices summed."""
    _check_operands([a, value])
    np.add.at(a.view(np.ndarray), _host_view(slices), _host_view(value))


cupyx = types.ModuleType("cupyx")
cupyx.scatter_add = scatter_add


def _refusing_device_arrays(function):
    """np.asarray / np.array that refuse a device array, as CuPy's ``__array__`` does (a NumPy
    subclass is otherwise viewed as its base class without being asked)."""
    def run(obj, *args, **kwargs):
        if isinstance(obj, ndarray):
            raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                            "`.get()` to construct a NumPy array explicitly.")
        return function(obj, *args, **kwargs)
    return run


@contextlib.contextmanager
def installed():
    """Inside the block, ``import cupy`` and minicnn's backend see this stand-in, on device 0,
    with every library present; the CUDA kernel set starts afresh (its runtime, its checks)."""
    from minicnn.backend import arrays, dispatch
    from minicnn.backend import cuda as cuda_kernels
    module = sys.modules[__name__]
    saved = {name: sys.modules.get(name) for name in ("cupy", "cupyx")}
    previous_cupy = arrays.cupy
    sys.modules["cupy"], sys.modules["cupyx"] = module, cupyx
    arrays.cupy = module
    numpy_functions = np.asarray, np.array
    np.asarray, np.array = map(_refusing_device_arrays, numpy_functions)
    dispatch._choices.clear()
    cuda_kernels.reset()
    MISSING.clear()
    _current.id = 0
    # the runtime minicnn would make, with small launches: an emulated block runs one thread
    # per CUDA thread, and every kernel loops over its work, so the results are the same
    cuda_kernels._runtime = cuda_kernels.Runtime(module, cuda_kernels._CupyKernels(module),
                                                 block=32, max_blocks=4)
    try:
        yield module
    finally:
        for name, value in saved.items():
            if value is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = value
        arrays.cupy = previous_cupy
        np.asarray, np.array = numpy_functions
        dispatch._choices.clear()
        cuda_kernels.reset()
        MISSING.clear()
        _current.id = 0
