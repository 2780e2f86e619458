"""mc.save / mc.load: training state round-trips through minicnn's pickle-free format, written
atomically; PyTorch's own files (zip and legacy) are read without running their pickles:
handwritten ones always, files torch.save wrote when torch is installed (dtypes, views,
offsets, shared storages), hostile pickles refused before anything runs, damaged files and
absent devices named; torchvision-layout ResNet-18 and AlexNet weights give torch's logits."""

import io
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest

import minicnn as mc
from minicnn.utils.checkpoint import CheckpointError

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="compares with files torch.save wrote")


# ----------------------------------------------------------------------------- minicnn's format

def trained_state(seed):
    mc.manual_seed(seed)
    model = mc.models.create("lenet5")
    optimizer = mc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    scheduler = mc.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[1, 3], gamma=0.5)
    x, labels = mc.randn(4, 1, 28, 28), np.arange(4) % 10
    for _ in range(2):
        optimizer.zero_grad()
        mc.nn.functional.cross_entropy(model(x), labels).backward()
        optimizer.step()
        scheduler.step()
    return model, optimizer, scheduler, (x, labels)


def test_training_state_round_trips(tmp_path):
    model, optimizer, scheduler, (x, labels) = trained_state(0)
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "epoch": 2, "best": (0.5, "top-1"),
             "history": [{"loss": 1.25, "note": None}], "array": np.arange(3, dtype=np.int16)}
    mc.save(state, tmp_path / "ckpt.pt")
    loaded = mc.load(tmp_path / "ckpt.pt")
    assert loaded["epoch"] == 2 and loaded["best"] == (0.5, "top-1")
    assert loaded["history"] == [{"loss": 1.25, "note": None}]
    assert loaded["array"].dtype == np.int16 and loaded["array"].tolist() == [0, 1, 2]
    assert loaded["scheduler"] == scheduler.state_dict()
    assert list(loaded["model"]) == list(model.state_dict())      # order kept
    # a fresh model, optimizer and scheduler continue exactly as the originals
    fresh, fresh_optimizer, fresh_scheduler, _ = trained_state(1)
    fresh.load_state_dict(loaded["model"])
    fresh_optimizer.load_state_dict(loaded["optimizer"])
    fresh_scheduler.load_state_dict(loaded["scheduler"])
    for m, opt, sched in ((model, optimizer, scheduler), (fresh, fresh_optimizer,
                                                          fresh_scheduler)):
        opt.zero_grad()
        mc.nn.functional.cross_entropy(m(x), labels).backward()
        opt.step()
        sched.step()
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    assert fresh_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]


def test_save_to_a_file_object_and_atomically(tmp_path):
    buffer = io.BytesIO()
    mc.save({"w": mc.tensor([1.0, 2.0])}, buffer)
    buffer.seek(0)
    assert mc.load(buffer)["w"].tolist() == [1.0, 2.0]
    path = tmp_path / "state.pt"
    mc.save({"w": mc.ones(2)}, path)
    with pytest.raises(TypeError, match="cannot store object"):
        mc.save({"w": mc.zeros(2), "bad": object()}, path)
    assert mc.load(path)["w"].tolist() == [1.0, 1.0]           # the old file is whole
    assert os.listdir(tmp_path) == ["state.pt"]                  # no temporary file left
    with zipfile.ZipFile(path) as archive:                       # arrays and JSON, no pickle
        assert all(name.endswith(".npy") for name in archive.namelist())
    np.load(path, allow_pickle=False)


# ----------------------------------------------------------------------------- PyTorch's format

def _text(value):
    data = value.encode("utf-8")
    return b"X" + struct.pack("<I", len(data)) + data


def _int(value):
    return b"J" + struct.pack("<i", value)


def _ints(values):
    return b"(" + b"".join(_int(v) for v in values) + b"t"


def handwritten_torch_pickle(tensors, location="cpu"):
    """The pickle torch.save writes for {name: tensor}, written opcode by opcode (protocol 2):
    each tensor is (storage type, storage key, storage numel, offset, size, stride)."""
    out = [b"\x80\x02", b"ccollections\nOrderedDict\n)R", b"("]
    for name, (storage, key, numel, offset, size, stride) in tensors.items():
        out += [_text(name), b"ctorch._utils\n_rebuild_tensor_v2\n(",
                b"(", _text("storage"), f"ctorch\n{storage}\n".encode(), _text(key),
                _text(location), _int(numel), b"tQ",
                _int(offset), _ints(size), _ints(stride), b"\x89",
                b"ccollections\nOrderedDict\n)R", b"tR"]
    return b"".join(out + [b"u."])


def torch_zip(pickled, storages, name="archive"):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{name}/data.pkl", pickled)
        archive.writestr(f"{name}/byteorder", "little")
        for key, data in storages.items():
            archive.writestr(f"{name}/data/{key}", data)
        archive.writestr(f"{name}/version", "3\n")
    return buffer.getvalue()


def test_reads_a_handwritten_torch_file_with_views_and_shared_storages():
    base = np.arange(12, dtype=np.float32)
    pickled = handwritten_torch_pickle({
        "matrix": ("FloatStorage", "0", 12, 0, (3, 4), (4, 1)),
        "transposed": ("FloatStorage", "0", 12, 0, (4, 3), (1, 4)),
        "column": ("FloatStorage", "0", 12, 2, (3,), (4,)),      # offset 2, stride 4
        "ids": ("LongStorage", "1", 3, 0, (3,), (1,)),
        "mask": ("BoolStorage", "2", 2, 0, (2,), (1,)),
        "scalar": ("DoubleStorage", "3", 1, 0, (), ()),
    })
    data = torch_zip(pickled, {"0": base.tobytes(), "1": np.array([5, -1, 7]).tobytes(),
                               "2": np.array([True, False]).tobytes(),
                               "3": np.float64(2.5).tobytes()})
    state = mc.load(io.BytesIO(data))
    assert list(state) == ["matrix", "transposed", "column", "ids", "mask", "scalar"]
    np.testing.assert_array_equal(state["matrix"].numpy(), base.reshape(3, 4))
    np.testing.assert_array_equal(state["transposed"].numpy(), base.reshape(3, 4).T)
    np.testing.assert_array_equal(state["column"].numpy(), [2, 6, 10])
    assert state["ids"].dtype == np.int64 and state["ids"].tolist() == [5, -1, 7]
    assert state["mask"].tolist() == [True, False] and state["scalar"].item() == 2.5
    assert np.shares_memory(state["matrix"].numpy(), state["transposed"].numpy())


def _tensors_equal(ours, theirs):
    expected = theirs.detach()
    if expected.dtype in (torch.float16, torch.bfloat16):
        expected = expected.float()
    np.testing.assert_array_equal(ours.numpy(), expected.numpy())
    assert ours.dtype == expected.numpy().dtype


@needs_torch
@pytest.mark.parametrize("zip_format", [True, False])
def test_reads_files_torch_saved(tmp_path, zip_format):
    torch.manual_seed(0)
    base = torch.randn(4, 6, dtype=torch.float64)
    saved = {"base": base, "t": base.t(), "block": base[1:, 2:5], "row": base[2],
             "f32": torch.randn(2, 3), "f16": torch.randn(5).half(),
             "bf16": torch.randn(5).bfloat16(), "i64": torch.arange(-3, 3),
             "i32": torch.arange(4, dtype=torch.int32), "u8": torch.arange(250, 256,
                                                                         dtype=torch.uint8),
             "bool": torch.tensor([True, False, True]), "empty": torch.zeros(0, 3),
             "param": torch.nn.Parameter(torch.ones(2)), "nested": [1, 2.5, "x", None,
                                                                    (torch.ones(1),)],
             "linear": torch.nn.Linear(3, 2).state_dict()}
    path = tmp_path / "saved.pt"
    torch.save(saved, path, _use_new_zipfile_serialization=zip_format)
    state = mc.load(path)
    for key, value in saved.items():
        if isinstance(value, torch.Tensor):
            _tensors_equal(state[key], value)
    assert np.shares_memory(state["base"].numpy(), state["t"].numpy())
    assert np.shares_memory(state["base"].numpy(), state["block"].numpy())
    assert state["param"].requires_grad and state["nested"][:4] == [1, 2.5, "x", None]
    _tensors_equal(state["nested"][4][0], saved["nested"][4][0])
    assert list(state["linear"]) == ["weight", "bias"]
    _tensors_equal(state["linear"]["weight"], saved["linear"]["weight"])


@needs_torch
def test_reads_a_training_checkpoint_torch_saved(tmp_path):
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[2, 4])
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    scheduler.step()
    saved = {"net": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "acc": 51.5, "epoch": 1,
             "shape": model.weight.shape}
    torch.save(saved, tmp_path / "ckpt.pth")
    state = mc.load(tmp_path / "ckpt.pth")
    assert state["scheduler"] == scheduler.state_dict()            # milestones: a Counter
    assert state["shape"] == (2, 3) and state["acc"] == 51.5 and state["epoch"] == 1
    adam = state["optimizer"]["state"][0]
    _tensors_equal(adam["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])
    assert state["optimizer"]["param_groups"][0]["params"] == [0, 1]


# ----------------------------------------------------------------------------- refusals

def hostile_pickles(marker):
    command = f"touch {marker}"
    yield "posix.system", b"\x80\x02cposix\nsystem\n" + _text(command) + b"\x85R."
    yield "os.system", b"\x80\x02cos\nsystem\n" + _text(command) + b"\x85R."
    yield "builtins.eval", (b"\x80\x02cbuiltins\neval\n" + _text(f"__import__('os').system("
                                                                  f"'{command}')") + b"\x85R.")
    yield "torch.nn.modules.linear.Linear", b"\x80\x02ctorch.nn.modules.linear\nLinear\n)R."
    yield "builtins.set", b"\x80\x02cbuiltins\nset\n)R."
    # the global hides inside a state dict, after a valid tensor
    yield "os.system", (handwritten_torch_pickle({"w": ("FloatStorage", "0", 1, 0, (1,), (1,))})
                        [:-2] + _text("evil") + b"cos\nsystem\n" + _text(command) + b"\x85Ru.")


def test_hostile_pickles_are_refused_naming_the_global(tmp_path):
    marker = tmp_path / "ran"
    for name, pickled in hostile_pickles(marker):
        data = torch_zip(pickled, {"0": np.zeros(1, np.float32).tobytes()})
        path = tmp_path / "hostile.pth"
        path.write_bytes(data)
        with pytest.raises(pickle.UnpicklingError, match=f"refusing to load the global "
                                                         f"'{name}'") as error:
            mc.load(path)
        assert "hostile.pth" in str(error.value)
        assert not marker.exists()
    # the legacy format's object pickle too (its headers are plain pickles)
    legacy = b"".join(pickle.dumps(v, protocol=2) for v in
                      (0x1950a86a20f9469cfc6c, 1001, {"little_endian": True}))
    with pytest.raises(pickle.UnpicklingError, match="'os.system'"):
        mc.load(io.BytesIO(legacy + b"\x80\x02cos\nsystem\n" + _text(f"touch {marker}")
                           + b"\x85R."))
    assert not marker.exists()


@pytest.mark.parametrize("pickled, message", [
    (b"\x80\x02ccollections\nOrderedDict\n)R}b.", None),        # BUILD on an OrderedDict: ok
    (b"\x80\x02]}b.", "refusing BUILD"),
    (b"\x80\x02\x8f.", "refusing a set"),
    (b"\x80\x02}(]K\x01u.", "dict key that is not a string"),
    (b"\x80\x02X\x01\x00\x00\x00xQ.", "refusing a persistent id"),
    (b"\x80\x02ccollections\nCounter\n]\x85R.", "refusing a Counter of anything but"),
    (b"\x80\x02ctorch\nSize\nX\x01\x00\x00\x00a\x85\x85R.", "refusing a torch.Size"),
])
def test_other_opcodes_are_limited(pickled, message):
    data = io.BytesIO(torch_zip(pickled, {}))
    if message is None:
        assert mc.load(data) == {}
    else:
        with pytest.raises(pickle.UnpicklingError, match=message):
            mc.load(data)


def test_damaged_files_name_the_file(tmp_path):
    good = torch_zip(handwritten_torch_pickle({"w": ("FloatStorage", "0", 4, 0, (4,), (1,))}),
                     {"0": np.zeros(4, np.float32).tobytes()})
    path = tmp_path / "weights.pth"
    path.write_bytes(good[:len(good) // 2])
    with pytest.raises(CheckpointError, match="weights.pth.*truncated or damaged"):
        mc.load(path)
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="weights.pth.*neither a minicnn checkpoint nor"):
        mc.load(path)
    for tensors, storages, message in [
            ({"w": ("FloatStorage", "0", 4, 0, (4,), (1,))}, {"0": b"\0" * 12},
             "announces 4 elements of 4 bytes; the archive stores 12"),
            ({"w": ("FloatStorage", "0", 4, 2, (2, 2), (2, 1))}, {"0": b"\0" * 16},
             "reaches element 5 of a storage of 4"),
            ({"w": ("FloatStorage", "9", 4, 0, (4,), (1,))}, {}, "lacks")]:
        path.write_bytes(torch_zip(handwritten_torch_pickle(tensors), storages))
        with pytest.raises((CheckpointError, pickle.UnpicklingError),
                           match=f"weights.pth.*{message}"):
            mc.load(path)
    position = good.index(b"ctorch._utils")          # data.pkl is stored: flip one of its bytes
    path.write_bytes(good[:position] + b"C" + good[position + 1:])
    with pytest.raises(CheckpointError, match="weights.pth.*data.pkl' is damaged.*CRC"):
        mc.load(path)
    with pytest.raises(FileNotFoundError):
        mc.load(tmp_path / "absent.pt")
    with pytest.raises(IsADirectoryError):
        mc.load(tmp_path)


def test_map_location(tmp_path):
    if mc.cuda.device_count():
        pytest.skip("a GPU is present: CUDA is not absent")
    on_gpu = torch_zip(handwritten_torch_pickle({"w": ("FloatStorage", "0", 2, 0, (2,), (1,))},
                                                location="cuda:0"),
                       {"0": np.array([1, 2], np.float32).tobytes()})
    path = tmp_path / "gpu.pt"
    path.write_bytes(on_gpu)
    with pytest.raises(RuntimeError, match="Attempting to deserialize object on a CUDA device "
                                           "but mc.cuda.is_available\\(\\) is False"):
        mc.load(path)
    for map_location in ("cpu", {"cuda:0": "cpu"}, lambda tensor, location: tensor):
        assert mc.load(path, map_location=map_location)["w"].tolist() == [1, 2]
    mc.save({"w": mc.ones(1)}, tmp_path / "ours.pt")
    for absent in ("cuda", "cuda:1"):
        with pytest.raises(RuntimeError, match="Attempting to deserialize object on a CUDA"):
            mc.load(tmp_path / "ours.pt", map_location=absent)
    with pytest.raises(RuntimeError, match="map_location: unknown device 'tpu'"):
        mc.load(tmp_path / "ours.pt", map_location="tpu")


# ----------------------------------------------------------------------------- torchvision weights

def torchvision_alexnet():
    """torchvision's AlexNet, written in plain torch.nn (torchvision is not a dependency)."""
    tnn = torch.nn

    class AlexNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(
                tnn.Conv2d(3, 64, 11, 4, 2), tnn.ReLU(True), tnn.MaxPool2d(3, 2),
                tnn.Conv2d(64, 192, 5, padding=2), tnn.ReLU(True), tnn.MaxPool2d(3, 2),
                tnn.Conv2d(192, 384, 3, padding=1), tnn.ReLU(True),
                tnn.Conv2d(384, 256, 3, padding=1), tnn.ReLU(True),
                tnn.Conv2d(256, 256, 3, padding=1), tnn.ReLU(True), tnn.MaxPool2d(3, 2))
            self.avgpool = tnn.AdaptiveAvgPool2d((6, 6))
            self.classifier = tnn.Sequential(
                tnn.Dropout(0.5), tnn.Linear(9216, 4096), tnn.ReLU(True),
                tnn.Dropout(0.5), tnn.Linear(4096, 4096), tnn.ReLU(True),
                tnn.Linear(4096, 1000))

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    return AlexNet()


def torchvision_resnet18():
    from test_models_torch import TorchBasicBlock, TorchResNet
    model = TorchResNet(TorchBasicBlock, [2, 2, 2, 2], num_classes=1000)
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():     # running statistics that are not the defaults
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1, generator=generator)
            module.running_var.uniform_(0.5, 1.5, generator=generator)
            module.num_batches_tracked.fill_(7)
    return model


@needs_torch
@pytest.mark.parametrize("name, build, options", [
    ("resnet18", torchvision_resnet18, {}),
    pytest.param("alexnet", torchvision_alexnet, {"variant": "torchvision"},
                 marks=pytest.mark.slow),                 # 61 million parameters
])
def test_torchvision_weights_give_torchs_logits(tmp_path, name, build, options):
    torch.manual_seed(0)
    theirs = build().eval()
    path = tmp_path / f"{name}.pth"
    torch.save(theirs.state_dict(), path)
    ours = mc.models.create(name, **options)
    ours.load_state_dict(mc.load(path))
    ours.eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 96, 96)).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    with mc.no_grad():
        got = ours(mc.tensor(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
