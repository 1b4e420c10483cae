"""Streamed image batches: ``DANNClassifier.fit(data_placement="host")`` vs a bare torch loop with the same
``DataLoader``, model and steps.

Both train the same network (``LeNetFeatureExtractor`` on grey images, linear label head, domain classifier behind
a GRL) with the same optimiser, schedules and paired index batches (skda's ``PairedBatchSampler``), reading the
batches through a ``DataLoader`` whose items are whole index batches: uint8 arrays in host memory gathered by index
(``--source host``), or PNG files decoded by ``torchvision.io.decode_image`` (``--source files``, ``--num-workers``
workers). The bare loop converts each batch to float in [0, 1] as skda does; it has no callbacks, no history and no
collapse check (skda predicts the target once after training: included in its time).

    OMP_NUM_THREADS=1 python benchmarks/bench_images.py                       # host arrays, 2000 + 2000 images
    OMP_NUM_THREADS=1 python benchmarks/bench_images.py --source files --num-workers 1
    OMP_NUM_THREADS=1 python benchmarks/bench_images.py --predict-memory 200000   # predict's peak memory, see below

``--augment-cost``: instead, the skda fit above without augmentation, with ``v2.RandomAffine(10, (0.1, 0.1), (0.9,
1.1))`` (one call per image) and with ``skda.images.BatchRandomAffine`` of the same parameters (one call per batch):
epoch times and their ratios to the fit without augmentation.

``--predict-memory N``: instead, fit a tiny CNN on 512 + 512 colour 32x32 uint8 images, then ``predict`` N such
images held in host memory (``data_placement="host"``) and print the growth of the process's peak resident memory
(``ru_maxrss``) during ``predict``, next to the size of the images and of one float32 chunk: the growth is bounded
by the chunk (and the output), not by N.

Prints the mean epoch time of each (skda: skorch's per-epoch ``dur``, the training epoch with its batch loading;
best of ``--repeats``) and the ratio skda / bare torch (target <= 1.1), and the same for the whole call.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.io import decode_image, write_png

import skda
from skda.layers import DANNNetwork, LeNetFeatureExtractor
from skda.losses import domain_adversarial_loss
from skda.optim import MomentumSGD, annealed_learning_rate, grl_coefficient
from skda.sampling import PairedBatchSampler


def make_images(rows, size, classes, seed=0):
    rng = np.random.RandomState(seed)
    patterns = rng.rand(classes, size, size)
    ys = rng.randint(classes, size=rows)
    Xs = (200 * patterns[ys] + 40 * rng.rand(rows, size, size)).clip(0, 255).astype(np.uint8)[:, None]
    yt = rng.randint(classes, size=rows)
    Xt = (180 * patterns[yt] + 60 * rng.rand(rows, size, size)).clip(0, 255).astype(np.uint8)[:, None]
    return Xs, ys, Xt


def write_files(folder, images):
    paths = []
    for i, image in enumerate(images):
        path = str(Path(folder) / f"{i:05d}.png")
        write_png(torch.from_numpy(image), path)
        paths.append(path)
    return np.array(paths)


class BatchItems(torch.utils.data.Dataset):
    """Item ``(idx_s, idx_t)`` -> the uint8 images of both domains (arrays gathered by index, or files decoded)."""

    def __init__(self, source, target):
        self.source, self.target = source, target

    def rows(self, data, idx):
        if data.dtype.kind in "OU":
            return torch.stack([decode_image(str(p)) for p in data[idx.numpy()]])
        return torch.from_numpy(data[idx.numpy()])

    def __getitem__(self, pair):
        return self.rows(self.source, pair[0]), self.rows(self.target, pair[1])


def bare_torch(Xs, ys, Xt, *, channels, domain_hidden, batch_size, epochs, lr, device, seed, num_workers):
    torch.manual_seed(seed)
    y = torch.as_tensor(ys, dtype=torch.long, device=device)
    shape = (1, 28, 28) if Xs.dtype.kind in "OU" else Xs.shape[1:]
    features = LeNetFeatureExtractor(image_shape=shape, channels=channels)
    net = DANNNetwork(features, 128, int(y.max()) + 1, domain_hidden).to(device)
    opt = MomentumSGD(net.parameters(), lr=lr)
    sampler = PairedBatchSampler(len(Xs), len(Xt), batch_size, torch.Generator().manual_seed(seed),
                                 torch.device("cpu"))
    total, step = epochs * len(sampler), 0
    net.train()
    durations = []
    for epoch in range(epochs):
        start = time.perf_counter()
        pairs = list(sampler)
        loader = torch.utils.data.DataLoader(BatchItems(Xs, Xt), sampler=pairs, batch_size=None,
                                             num_workers=num_workers, pin_memory=device == "cuda",
                                             generator=torch.Generator().manual_seed(epoch))
        losses = []
        for (bs, _), (xs, xt) in zip(pairs, loader):
            p = step / total
            net.gradient_reversal.coefficient = grl_coefficient(p)
            for g in opt.param_groups:
                g["lr"] = annealed_learning_rate(p, lr)
            xs = xs.to(device, non_blocking=True).float().div_(255)
            xt = xt.to(device, non_blocking=True).float().div_(255)
            out = net(xs, xt)
            loss = F.cross_entropy(out["source_logits"], y[bs.to(device)]) + domain_adversarial_loss(
                out["domain_logits"], out["n_source"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.detach())
            step += 1
        torch.stack(losses).cpu()  # one host copy per epoch, as the engine does
        durations.append(time.perf_counter() - start)
    return durations


def skda_fit(Xs, ys, Xt, *, channels, domain_hidden, batch_size, epochs, lr, device, seed, num_workers, augment=None):
    clf = skda.DANNClassifier(module=LeNetFeatureExtractor, module__channels=channels,
                              domain_hidden_sizes=domain_hidden, batch_size=batch_size, max_epochs=epochs, lr=lr,
                              optimizer=skda.optim.MomentumSGD,  # the bare loop's optimiser (the default is Adam)
                              device=device, random_state=seed, data_placement="host",
                              num_workers=num_workers, augment=augment).fit(Xs, ys, Xt)
    return list(clf.history[:, "dur"])  # skorch's epoch duration: the training epoch, batches loaded included


def best_time(fn, repeats, **kw):
    """``(epoch, fit)``: the smallest mean epoch time and the smallest whole-call time over ``repeats`` calls."""
    epochs, fits = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        durations = fn(**kw)
        if kw["device"] == "cuda":
            torch.cuda.synchronize()
        fits.append(time.perf_counter() - start)
        epochs.append(float(np.mean(durations)))
    return min(epochs), min(fits)


def predict_memory(n):
    import resource

    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    ys = np.arange(512) % 10
    clf = skda.DANNClassifier(module=LeNetFeatureExtractor, module__channels=(4, 8), module__out_features=16,
                              domain_hidden_sizes=(16,), max_epochs=1, random_state=0, data_placement="host")
    clf.fit(images[:512], ys, images[512:1024])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux reports KiB)
    start = time.perf_counter()
    predicted = clf.predict(images)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    chunk = skda.engine.PREDICT_CHUNK_ROWS * 3 * 32 * 32 * 4 / 2**20
    print(f"predict on {n} colour 32x32 uint8 images ({images.nbytes / 2**20:.0f} MiB in host memory), "
          f"{seconds:.1f} s: peak RSS {before:.0f} -> {after:.0f} MiB, growth {after - before:.0f} MiB "
          f"(one float32 chunk of {skda.engine.PREDICT_CHUNK_ROWS} images: {chunk:.0f} MiB; the images as float32 "
          f"would be {images.nbytes * 4 / 2**20:.0f} MiB); {len(predicted)} predictions")


def augment_cost(kw, repeats):
    from torchvision.transforms import v2

    params = dict(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1))
    variants = {"none": None, "v2.RandomAffine, per image": v2.RandomAffine(**params),
                "BatchRandomAffine, per batch": skda.images.BatchRandomAffine(**params)}
    skda_fit(**{**kw, "epochs": 1})  # warm-up
    epoch = {name: best_time(skda_fit, repeats, **kw, augment=augment)[0] for name, augment in variants.items()}
    print(f"skda DANN fit, host arrays, batch {kw['batch_size']}+{kw['batch_size']}, best of {repeats}:")
    for name, seconds in epoch.items():
        print(f"  augment {name:30s}: epoch {seconds:7.3f} s, ratio to no augmentation {seconds / epoch['none']:.3f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="host", choices=["host", "files"])
    ap.add_argument("--rows", type=int, default=2000, help="images per domain")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--num-workers", type=int, default=0)
    ap.add_argument("--channels", default="8,16", help="the two convolutions' channels")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--predict-memory", type=int, default=None, metavar="N",
                    help="measure predict's peak memory on N images instead (see the module docstring)")
    ap.add_argument("--augment-cost", action="store_true",
                    help="time the fit without, with per-image and with batched augmentation instead")
    args = ap.parse_args(argv)
    torch.set_num_threads(1) if args.device == "cpu" else None
    if args.predict_memory:
        return predict_memory(args.predict_memory)
    Xs, ys, Xt = make_images(args.rows, 28, args.classes)
    with tempfile.TemporaryDirectory() as folder:
        if args.source == "files":
            (Path(folder) / "s").mkdir()
            (Path(folder) / "t").mkdir()
            Xs, Xt = write_files(Path(folder) / "s", Xs), write_files(Path(folder) / "t", Xt)
        kw = dict(Xs=Xs, ys=ys, Xt=Xt, channels=tuple(int(c) for c in args.channels.split(",")),
                  domain_hidden=(256,), batch_size=args.batch_size, epochs=args.epochs, lr=0.01, device=args.device,
                  seed=0, num_workers=args.num_workers)
        print(f"device={args.device} threads={torch.get_num_threads()} source={args.source} "
              f"num_workers={args.num_workers} rows={args.rows}+{args.rows} 28x28 grey, LeNet channels "
              f"{kw['channels']}, domain head (256,), batch {args.batch_size}+{args.batch_size}, {args.epochs} "
              f"epochs, best of {args.repeats}")
        if args.augment_cost:
            return augment_cost(kw, args.repeats)
        best_time(bare_torch, 1, **{**kw, "epochs": 1})  # warm-up (allocator, threads, file cache)
        t_bare = best_time(bare_torch, args.repeats, **kw)
        t_skda = best_time(skda_fit, args.repeats, **kw)
    print(f"bare torch loop : epoch {t_bare[0]:7.3f} s, whole run {t_bare[1]:7.2f} s")
    print(f"skda DANN fit   : epoch {t_skda[0]:7.3f} s, whole fit {t_skda[1]:7.2f} s (with initialisation and the "
          "collapse check's prediction of the target)")
    print(f"ratio skda / bare torch, epoch time = {t_skda[0] / t_bare[0]:.3f}")
    print(f"ratio skda / bare torch, whole call = {t_skda[1] / t_bare[1]:.3f}")


if __name__ == "__main__":
    main()
