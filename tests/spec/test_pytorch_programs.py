"""Two PyTorch programs' styles, run on minicnn with only the imports changed.

``test_mnist_style_*``: a net, train / test functions and a main loop written the way
pytorch/examples' ``mnist/main.py`` is (conv, conv, max-pool, dropout, fc, log_softmax,
F.nll_loss, Adadelta, StepLR, ``pred.eq(target.view_as(pred))``), on small synthetic images.

``test_kuangliu_style_*``: a small ResNet written the way kuangliu/pytorch-cifar's
``models/resnet.py`` and ``main.py`` are (BasicBlock with a shortcut Sequential, CrossEntropyLoss,
SGD with momentum and weight decay, CosineAnnealingLR, ``outputs.max(1)``, a checkpoint dict
with 'net', 'acc', 'epoch'), resumed from its state dicts.

Written for these tests, in those programs' style; no code is copied from them.
"""


import numpy as np

import minicnn as torch
import minicnn.nn as nn
import minicnn.nn.functional as F
import minicnn.optim as optim
from minicnn.optim.lr_scheduler import CosineAnnealingLR, StepLR


class Shapes:
    """A user's own dataset (``__len__`` and ``__getitem__``): 1 x 12 x 12 images of one of
    four patterns (a bar in one of four places) under noise; the label is the pattern."""

    def __init__(self, count, seed):
        rng = np.random.default_rng(seed)
        self.labels = rng.integers(0, 4, count)
        self.images = 0.3 * rng.standard_normal((count, 1, 12, 12)).astype(np.float32)
        for image, label in zip(self.images, self.labels):
            rows = slice(3 * label, 3 * label + 3)
            image[0, rows, 2:10] += 1.0

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], int(self.labels[index])


def _batches(dataset, batch_size, shuffle):
    loader = torch.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)
    for data, target in loader:
        yield torch.as_tensor(data), torch.as_tensor(target)


# ----- mnist/main.py style ---------------------------------------------------------------------

class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(256, 32)
        self.fc2 = nn.Linear(32, 4)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


def train(model, device, train_loader, optimizer, epoch, losses):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())


def test(model, device, test_loader, dataset_size):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    return test_loss / dataset_size, correct / dataset_size


test.__test__ = False   # the program's name for its evaluation, not a pytest test


def test_mnist_style_training_with_adadelta_and_steplr_lowers_the_loss(tmp_path):
    torch.manual_seed(1)
    device = "cpu"
    train_set, test_set = Shapes(256, seed=0), Shapes(128, seed=1)
    model = Net().to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    losses, rates = [], []
    first_test_loss, _ = test(model, device, _batches(test_set, 64, False), len(test_set))
    for epoch in range(1, 4):
        train(model, device, _batches(train_set, 32, True), optimizer, epoch, losses)
        test_loss, accuracy = test(model, device, _batches(test_set, 64, False), len(test_set))
        scheduler.step()
        rates.append(optimizer.param_groups[0]["lr"])
    assert np.allclose(rates, [0.7, 0.49, 0.343])
    assert np.mean(losses[-8:]) < 0.5 * np.mean(losses[:8])
    assert test_loss < 0.5 * first_test_loss
    assert accuracy > 0.9
    torch.save(model.state_dict(), tmp_path / "mnist_cnn.pt")      # the program's --save-model
    again = Net()
    again.load_state_dict(torch.load(tmp_path / "mnist_cnn.pt"))
    again.eval(), model.eval()
    images = torch.tensor(test_set.images[:8])
    np.testing.assert_array_equal(again(images).detach().numpy(), model(images).detach().numpy())


# ----- kuangliu/pytorch-cifar style ------------------------------------------------------------

class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super(BasicBlock, self).__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1,
                               bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion * planes, kernel_size=1, stride=stride,
                          bias=False),
                nn.BatchNorm2d(self.expansion * planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        out = F.relu(out)
        return out


class ResNet(nn.Module):
    def __init__(self, block, num_blocks, num_classes=4):
        super(ResNet, self).__init__()
        self.in_planes = 8
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = self._make_layer(block, 8, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(block, 16, num_blocks[1], stride=2)
        self.linear = nn.Linear(16 * block.expansion, num_classes)

    def _make_layer(self, block, planes, num_blocks, stride):
        strides = [stride] + [1] * (num_blocks - 1)
        layers = []
        for stride in strides:
            layers.append(block(self.in_planes, planes, stride))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer1(out)
        out = self.layer2(out)
        out = F.avg_pool2d(out, 6)
        out = out.view(out.size(0), -1)
        out = self.linear(out)
        return out


def _run(start_epoch, end_epoch, path, resume=False):
    """kuangliu's main.py: build, optionally --resume from the checkpoint file ``path``, train
    and test epochs start_epoch..end_epoch-1, saving ``path`` after each (torch.save / torch.load,
    here mc.save / mc.load); returns the net, the last checkpoint and the losses."""
    torch.manual_seed(0)
    train_set, test_set = Shapes(96, seed=2), Shapes(64, seed=3)
    net = ResNet(BasicBlock, [1, 1])
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    scheduler = CosineAnnealingLR(optimizer, T_max=200)
    best_acc = 0
    checkpoint = None
    if resume:
        checkpoint = torch.load(path)
        net.load_state_dict(checkpoint["net"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        best_acc = checkpoint["acc"]
        start_epoch = checkpoint["epoch"] + 1
    losses = []
    for epoch in range(start_epoch, end_epoch):
        net.train()
        train_loss = correct = total = 0
        order = np.random.default_rng(epoch).permutation(len(train_set))
        for batch_idx in range(0, len(order), 32):
            picks = order[batch_idx:batch_idx + 32]
            inputs = torch.tensor(train_set.images[picks])
            targets = torch.tensor(train_set.labels[picks])
            optimizer.zero_grad()
            outputs = net(inputs)
            loss = criterion(outputs, targets)
            loss.backward()
            optimizer.step()
            train_loss += loss.item()
            _, predicted = outputs.max(1)
            total += targets.size(0)
            correct += predicted.eq(targets).sum().item()
        losses.append(train_loss)
        net.eval()
        with torch.no_grad():
            outputs = net(torch.tensor(test_set.images))
            _, predicted = outputs.max(1)
            acc = 100. * predicted.eq(torch.tensor(test_set.labels)).sum().item() / len(test_set)
        best_acc = max(acc, best_acc)
        scheduler.step()
        # the program's torch.save(state, "./checkpoint/ckpt.pth"), with the optimizer and the
        # schedule too, so that the resumed run is the same run
        checkpoint = {"net": net.state_dict(), "acc": best_acc, "epoch": epoch,
                      "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}
        torch.save(checkpoint, path)
    return net, checkpoint, losses


def test_kuangliu_style_resnet_trains_and_resumes_exactly_through_save_and_load(tmp_path):
    straight, _, losses = _run(0, 4, tmp_path / "straight.pth")
    assert losses[-1] < 0.6 * losses[0]
    _, checkpoint, _ = _run(0, 2, tmp_path / "ckpt.pth")
    assert checkpoint["epoch"] == 1 and torch.load(tmp_path / "ckpt.pth")["epoch"] == 1
    resumed, _, resumed_losses = _run(0, 4, tmp_path / "ckpt.pth", resume=True)
    assert resumed_losses == losses[2:]
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
